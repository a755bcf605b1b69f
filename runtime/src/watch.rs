//! Files read again when they change (certificates, device keys): their modification times,
//! polled, because inotify misses the rename that secret stores and `cp` onto a mount do.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A set of files and the modification times last seen.
#[derive(Debug)]
pub struct Watched {
    paths: Vec<PathBuf>,
    seen: Option<Vec<SystemTime>>,
    every: Duration,
}

impl Watched {
    /// Starts from the files' times now, so take it before reading them: a change while they
    /// are read is then seen by the first check.
    pub fn new(paths: Vec<PathBuf>, every: Duration) -> Watched {
        let seen = modified(&paths);
        Watched { paths, seen, every }
    }

    /// Waits until any file's modification time differs from the last seen (checking every
    /// `every`); a file that cannot be read counts as unchanged until it can.
    pub async fn changed(&mut self) {
        loop {
            tokio::time::sleep(self.every).await;
            let now = modified(&self.paths);
            if now.is_some() && now != self.seen {
                self.seen = now;
                return;
            }
        }
    }
}

fn modified(paths: &[PathBuf]) -> Option<Vec<SystemTime>> {
    paths
        .iter()
        .map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rewritten_file_is_a_change_and_a_missing_one_is_not() {
        let dir = std::env::temp_dir().join(format!("cartrack-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.toml");
        std::fs::write(&path, "a").unwrap();
        let mut watched = Watched::new(vec![path.clone()], Duration::from_millis(10));
        // Modification times can be coarse: set one clearly different.
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), watched.changed())
            .await
            .expect("the change is seen");
        std::fs::remove_file(&path).unwrap();
        let gone = tokio::time::timeout(Duration::from_millis(200), watched.changed()).await;
        assert!(gone.is_err(), "a missing file is not a change");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
