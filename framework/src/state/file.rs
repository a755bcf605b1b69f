//! The default [`Store`]: one JSON file under `--state-dir`, replaced atomically
//! (write a temp file, fsync it, rename over the old one, fsync the directory), so a
//! `kill -9` at any moment leaves either the old or the new state, never a torn one.
//!
//! Every commit rewrites the whole file: fine for the thousands of tasks of part 1; the
//! ZooKeeper store of part 2 writes one node per record instead.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Change, Store, StoreError, StoredState};

const FILE_NAME: &str = "state.json";

/// A [`Store`] in a directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    current: StoredState,
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
        })
    }

    /// The file holding the state.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn write_atomically(&self, state: &StoredState) -> Result<(), StoreError> {
        let path = self.path();
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let bytes = serde_json::to_vec_pretty(state).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(&bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }
}

impl Store for FileStore {
    async fn load(&mut self) -> Result<StoredState, StoreError> {
        let path = self.path();
        self.current = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| StoreError::Corrupt { path, source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredState::default(),
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(self.current.clone())
    }

    async fn commit(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut next = self.current.clone();
        changes.iter().for_each(|c| next.apply(c));
        self.write_atomically(&next)?;
        self.current = next;
        Ok(())
    }
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
    async fn corrupt_file_is_reported_with_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(FILE_NAME), b"{not json").expect("write");
        let mut store = FileStore::open(dir.path()).expect("open");
        let err = store.load().await.expect_err("corrupt");
        assert!(err.to_string().contains("state.json"), "{err}");
    }
}
