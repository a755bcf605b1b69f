//! The checkpoint of `process`: the processor's state (vehicles, tile windows that can still
//! change, counters) and, per input partition, the offset of the first record not in it.
//!
//! With a checkpoint written, `process` may commit its input offsets up to those in it, past
//! windows that can still change, so the broker need not keep the allowed lateness of input; a
//! restart restores the state and skips the records the state already holds. The file is
//! replaced atomically (written beside it, synced, renamed), so a crash leaves the previous
//! checkpoint or the new one, never a torn one. CBOR, so floats read back bit for bit.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::processor::{Processor, ProcessorConfig};

/// Bumped when the layout changes; a checkpoint of another version is refused, not guessed at.
const VERSION: u32 = 2;

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file system refused.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a checkpoint this version can read.
    #[error("checkpoint {path} cannot be read ({why}); move it away to start without it")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

/// Where one input partition stands in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset whose record is not in the checkpointed state.
    pub next: i64,
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Checkpoint {
    /// Per partition read before it was taken, where its input resumes.
    pub offsets: Vec<PartitionOffset>,
    /// The state, under the current run's configuration.
    pub processor: Processor,
}

#[derive(Serialize)]
struct Written<'a> {
    version: u32,
    group: &'a str,
    offsets: &'a [PartitionOffset],
    processor: &'a Processor,
}

#[derive(Deserialize)]
struct Read {
    version: u32,
    group: String,
    offsets: Vec<PartitionOffset>,
    processor: Processor,
}

/// The checkpoint file of consumer group `group` in `dir`: one per group, so processors of
/// different groups can share a directory.
pub fn path(dir: &Path, group: &str) -> PathBuf {
    let name: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("process-{name}.checkpoint"))
}

/// The checkpoint's bytes: taken in the processing loop (the state must not change meanwhile),
/// written to disk elsewhere.
pub fn encode(group: &str, offsets: &[PartitionOffset], processor: &Processor) -> Vec<u8> {
    let mut bytes = Vec::new();
    let written = Written {
        version: VERSION,
        group,
        offsets,
        processor,
    };
    // ok: into a Vec, of plain structs, maps with string or integer keys: cannot fail.
    let _ = ciborium::into_writer(&written, &mut bytes);
    bytes
}

/// Replaces the checkpoint at `path` with `bytes`, durably: once this returns, a crash (or
/// power loss, as far as the file system syncs) leaves these bytes there.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    };
    let temporary = path.with_extension("checkpoint.tmp");
    let mut file = BufWriter::new(File::create(&temporary).map_err(io)?);
    file.write_all(bytes).map_err(io)?;
    let file = file.into_inner().map_err(|err| io(err.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)?;
    // The rename itself is durable once the directory is synced.
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|dir| dir.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// The checkpoint of `group` at `path`, under `config`; `None` if there is none.
pub fn read(
    path: &Path,
    group: &str,
    config: ProcessorConfig,
) -> Result<Option<Checkpoint>, CheckpointError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let unreadable = |why: String| CheckpointError::Unreadable {
        path: path.to_owned(),
        why,
    };
    // The version is checked before the state is trusted; a state of another layout fails to
    // decode and is reported as such.
    let read: Read = ciborium::from_reader(BufReader::new(file))
        .map_err(|err| unreadable(format!("not a version {VERSION} checkpoint: {err}")))?;
    if read.version != VERSION {
        return Err(unreadable(format!(
            "version {}, this build reads {VERSION}",
            read.version
        )));
    }
    if read.group != group {
        return Err(unreadable(format!(
            "written for group {:?}, not {group:?}",
            read.group
        )));
    }
    Ok(Some(Checkpoint {
        offsets: read.offsets,
        processor: read.processor.restored(config),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Position;
    use crate::processor::Outputs;

    const T0: i64 = 1_700_000_000_000;

    fn fix(vehicle: &str, second: i64) -> Position {
        Position {
            vehicle_id: vehicle.into(),
            timestamp_ms: T0 + second * 1000,
            lat: 40.75 + 1e-4 * second as f64 / 3.0,
            lon: -73.98 + 1e-4 * (second % 7) as f64 / 7.0,
            ..Default::default()
        }
    }

    fn config() -> ProcessorConfig {
        ProcessorConfig::with_geofences(Default::default())
    }

    /// What a processor emits for `fixes`, then once idle long after them.
    fn run(processor: &mut Processor, fixes: &[Position], out: &mut Outputs) {
        for position in fixes {
            let _ = processor.process(position, out);
        }
        processor.advance(T0, out);
    }

    #[test]
    fn a_restored_processor_goes_on_exactly_as_the_one_checkpointed() {
        let fixes: Vec<Position> = (0..120)
            .flat_map(|second| [fix("a", second), fix("b", second)])
            .collect();
        let (first, rest) = fixes.split_at(150);

        let mut straight = Processor::new(config());
        run(&mut straight, first, &mut Outputs::default());
        let offsets = [PartitionOffset {
            topic: "t".into(),
            partition: 3,
            next: 42,
        }];
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "a group/1");
        assert_eq!(file.file_name().unwrap(), "process-a_group_1.checkpoint");
        write(&file, &encode("a group/1", &offsets, &straight)).unwrap();
        let mut expected = Outputs::default();
        run(&mut straight, rest, &mut expected);
        straight.advance(T0 + 3_600_000, &mut expected);

        let restored = read(&file, "a group/1", config()).unwrap().unwrap();
        assert_eq!(restored.offsets, offsets);
        let mut restored = restored.processor;
        let mut got = Outputs::default();
        run(&mut restored, rest, &mut got);
        restored.advance(T0 + 3_600_000, &mut got);

        assert!(!expected.tiles.is_empty());
        assert_eq!(got.tiles, expected.tiles);
        let states = |processor: &Processor, out: &Outputs| -> Vec<_> {
            out.vehicles
                .iter()
                .map(|&index| processor.vehicle(index).clone())
                .collect()
        };
        assert_eq!(states(&restored, &got), states(&straight, &expected));
        assert_eq!(restored.stats(), straight.stats());
    }

    #[test]
    fn no_file_is_no_checkpoint_and_a_foreign_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "g");
        assert!(read(&file, "g", config()).unwrap().is_none());
        write(&file, &encode("other", &[], &Processor::new(config()))).unwrap();
        let err = read(&file, "g", config()).unwrap_err();
        assert!(err.to_string().contains("group"), "{err}");
        write(&file, b"not cbor at all").unwrap();
        assert!(matches!(
            read(&file, "g", config()),
            Err(CheckpointError::Unreadable { .. })
        ));
    }
}
