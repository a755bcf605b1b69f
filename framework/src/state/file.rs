//! The default [`Store`]: one JSON file under `--state-dir`, replaced atomically
//! (write a temp file, fsync it, rename over the old one, fsync the directory), so a
//! `kill -9` at any moment leaves either the old or the new state, never a torn one.
//!
//! Every commit rewrites the whole file (compact JSON, about 0.6 MB per 1,000 tasks); the
//! driver batches a burst of updates into one commit. The ZooKeeper store writes one node
//! per record instead.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::{Store, StoreError};
use crate::records::{Change, StoredState};

const FILE_NAME: &str = "state.json";

/// A [`Store`] in a directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    current: StoredState,
    poisoned: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl FileStore {
    /// Opens (creating) the state directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileStore, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(FileStore {
            dir,
            current: StoredState::default(),
            poisoned: false,
        })
    }

    /// The file holding the state.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }
}

/// Blocking: runs on tokio's blocking pool, never on the runtime's workers.
fn write_atomically(dir: &Path, state: &StoredState) -> Result<(), StoreError> {
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    // Compact JSON streamed through a buffer: no second copy of the state in memory.
    let mut out = BufWriter::new(file);
    serde_json::to_writer(&mut out, state)
        .map_err(std::io::Error::from)
        .map_err(io(&tmp))?;
    let file = out.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

impl Store for FileStore {
    async fn load(&mut self) -> Result<StoredState, StoreError> {
        let path = self.path();
        self.current = match File::open(&path) {
            Ok(file) => serde_json::from_reader(BufReader::new(file))
                .map_err(|source| StoreError::Corrupt { path, source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredState::default(),
            Err(e) => return Err(io(&path)(e)),
        };
        self.poisoned = false;
        Ok(self.current.clone())
    }

    async fn commit(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        if self.poisoned {
            return Err(io(&self.path())(std::io::Error::other(
                "an earlier commit failed; load the state again before committing",
            )));
        }
        // Applied in place (no copy of the whole state per commit). If the write fails the
        // memory is ahead of the disk, so the store refuses commits until it is loaded again.
        changes.iter().for_each(|c| self.current.apply(c));
        // The state goes to the blocking pool and back: fsync must not stall the runtime,
        // and the state is not copied.
        self.poisoned = true;
        let state = std::mem::take(&mut self.current);
        let dir = self.dir.clone();
        let (state, written) = tokio::task::spawn_blocking(move || {
            let written = write_atomically(&dir, &state);
            (state, written)
        })
        .await
        .map_err(|e| io(&self.dir)(std::io::Error::other(e.to_string())))?;
        self.current = state;
        self.poisoned = written.is_err();
        written
    }

    async fn clear(&mut self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || remove_files(&dir))
            .await
            .map_err(|e| io(&self.dir)(std::io::Error::other(e.to_string())))??;
        self.current = StoredState::default();
        self.poisoned = false;
        Ok(())
    }
}

/// Blocking: removes the state file (one file, so the framework id goes with the rest) and a
/// leftover temp file, and makes the removal durable. The directory itself stays: it is the
/// operator's (`--state-dir`), and may hold other files.
fn remove_files(dir: &Path) -> Result<(), StoreError> {
    for name in [format!("{FILE_NAME}.tmp"), FILE_NAME.to_string()] {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commit_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = FileStore::open(dir.path()).expect("open");
        assert_eq!(store.load().await.expect("load"), StoredState::default());
        store
            .commit(&[
                Change::FrameworkId("fw-1".into()),
                Change::Desired("processor".into(), 3),
            ])
            .await
            .expect("commit");
        let mut again = FileStore::open(dir.path()).expect("reopen");
        let state = again.load().await.expect("load");
        assert_eq!(state.framework_id.as_deref(), Some("fw-1"));
        assert_eq!(state.desired["processor"], 3);
        assert!(!dir.path().join("state.json.tmp").exists());
    }

    #[tokio::test]
    async fn clear_removes_the_file_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = FileStore::open(dir.path()).expect("open");
        store.load().await.expect("load");
        store
            .commit(&[Change::FrameworkId("fw-1".into())])
            .await
            .expect("commit");
        assert!(store.path().exists());
        store.clear().await.expect("clear");
        assert!(!store.path().exists(), "state file deleted");
        store.clear().await.expect("clearing again is no error");
        let mut again = FileStore::open(dir.path()).expect("reopen");
        assert_eq!(again.load().await.expect("load"), StoredState::default());
    }

    #[tokio::test]
    async fn corrupt_file_is_reported_with_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(FILE_NAME), b"{not json").expect("write");
        let mut store = FileStore::open(dir.path()).expect("open");
        let err = store.load().await.expect_err("corrupt");
        assert!(err.to_string().contains("state.json"), "{err}");
    }

    #[tokio::test]
    async fn after_a_failed_commit_nothing_is_committed_until_loaded_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state_dir = dir.path().join("state");
        let mut store = FileStore::open(&state_dir).expect("open");
        store.load().await.expect("load");
        fs::remove_dir_all(&state_dir).expect("remove the directory under the store");
        let change = [Change::Desired("processor".into(), 3)];
        assert!(store.commit(&change).await.is_err(), "the write fails");
        fs::create_dir_all(&state_dir).expect("directory back");
        let err = store.commit(&change).await.expect_err("still refused");
        assert!(err.to_string().contains("state.json"), "{err}");
        assert_eq!(store.load().await.expect("reload"), StoredState::default());
        store
            .commit(&change)
            .await
            .expect("commits again after a load");
    }
}
