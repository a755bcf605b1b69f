//! The Mesos v1 scheduler API client: the SUBSCRIBE event stream ([`subscription`]), every
//! other call on its own connection ([`caller`]), both sent the same way (`request`), and
//! what to do with each response ([`classify`]); the leading master is found through
//! [`masters`]. Shared knowledge — the leading master, the stream id — lives in a
//! [`Session`].

pub mod backoff;
pub mod caller;
pub mod calls;
pub mod classify;
pub mod masters;
mod request;
pub mod session;
pub mod subscription;

pub use backoff::Backoff;
pub use caller::{CallError, Caller, HttpCaller};
pub use cartrack_zookeeper::{parse_masters, MasterListError, MasterSource};
pub use classify::{classify, Disposition};
pub use masters::Masters;
pub use session::Session;
pub use subscription::{spawn_subscription, StreamEvent, SubscribeConfig};
