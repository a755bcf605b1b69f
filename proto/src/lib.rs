//! The Mesos v1 HTTP API as Rust types, and the RecordIO framing of its event streams.
//!
//! This crate is cartrack's `kube-core`: types and codecs, no network. Everything that talks to
//! a Mesos master or agent — the scheduler, the executor, the dev cluster — builds on it.
//!
//! - [`v1`], [`v1::scheduler`], [`v1::executor`]: prost types generated from our own `.proto`
//!   files, whose field names, numbers, types and labels equal apache/mesos 1.12's
//!   `include/mesos/v1/` (the `conformance` test checks every field).
//! - [`recordio`]: the streaming decoder and encoder for `<length>\n<bytes>` records.
//! - [`http`]: the media types and headers of the v1 API; [`fetcher`]: which URIs an agent
//!   unpacks.
//!
//! Start with [`recordio::MessageCodec`] to read an event stream.

pub mod recordio;
mod task_state;

/// Types of the `mesos.v1` package (`include/mesos/v1/mesos.proto`).
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));

    /// Types of `mesos.v1.scheduler`: the calls a framework makes and the events it receives.
    pub mod scheduler {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
    }

    /// Types of `mesos.v1.executor`: the calls an executor makes and the events it receives.
    pub mod executor {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
    }
}

/// The encoded `FileDescriptorSet` of the `.proto` files this crate was built from, for
/// conformance checks and reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mesos_descriptor_set.bin"));

/// Wire constants of the v1 HTTP API shared by the scheduler and executor endpoints.
pub mod http {
    /// Protobuf bodies: cartrack's default, smaller and faster than JSON.
    pub const PROTOBUF: &str = "application/x-protobuf";
    /// JSON bodies (bytes fields base64, IDs as `{"value": ...}`).
    pub const JSON: &str = "application/json";
    /// The stream id a master returns on SUBSCRIBE and requires on every other scheduler call.
    pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";
    /// A master's stream ids are at most this long.
    pub const MAX_STREAM_ID_LEN: usize = 128;
    /// The scheduler API path on a master.
    pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";
    /// The executor API path on an agent.
    pub const EXECUTOR_PATH: &str = "/api/v1/executor";
}

/// What an agent's fetcher does with a `CommandInfo.URI`: the part of its behaviour that both
/// the scheduler (choosing URIs) and the dev cluster (standing in for the agent) rely on.
pub mod fetcher {
    /// The file name endings the Mesos fetcher unpacks into the sandbox when a URI has
    /// `extract` set (apache/mesos `src/launcher/fetcher.cpp`); anything else is copied as is.
    pub const ARCHIVE_SUFFIXES: [&str; 8] = [
        ".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip",
    ];

    /// Whether the fetcher unpacks a file of this name (a URI's last path segment, or its
    /// `output_file`).
    pub fn unpacks(name: &str) -> bool {
        ARCHIVE_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
    }
}
