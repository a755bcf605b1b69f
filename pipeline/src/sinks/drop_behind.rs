//! Files written once and not read back by the writer: their pages are written out and dropped
//! from the page cache behind it, a chunk at a time.
//!
//! Left to the kernel, every page of the history stays cached until memory runs short: gigabytes
//! an hour that push out what the other tasks on the agent cache, and every new page is memory
//! the machine has to find and fault in first. Measured, copying into such fresh pages was half
//! of `index`'s CPU at 18,000,000 positions (pipeline/BENCHMARKS.md). Behind the writer, at
//! most about two chunks of a file stay cached, and their pages are reused.

use std::fs::File;
use std::io::{self, Write};
use std::ops::Range;

/// How far the writer gets before the bytes behind it are written out. A chunk's writeback runs
/// while the next one is written, so waiting for it seldom waits.
const CHUNK_BYTES: u64 = 8 << 20;

/// The page size the kernel drops by; a range is dropped only in whole pages.
const PAGE_BYTES: u64 = 4096;

/// Which bytes of an appended file to write out and which to drop, by the offsets alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DropBehind {
    /// The start of what has not been sent to writeback yet.
    unsent: u64,
    /// The end of what has been dropped: a page boundary.
    dropped: u64,
}

/// One step behind the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    /// Start writing these bytes out (the chunk just written).
    pub(crate) write_out: Range<u64>,
    /// Wait until these are on disk, then drop them from the cache (the chunk before it, in
    /// whole pages); empty for the first chunk.
    pub(crate) drop: Range<u64>,
}

impl DropBehind {
    /// For a file whose writes start at `end` (what it held before is left alone).
    pub(crate) fn starting_at(end: u64) -> Self {
        let page = end - end % PAGE_BYTES;
        Self {
            unsent: end,
            dropped: page,
        }
    }

    /// The step due now that the file reaches `end`, once a whole chunk has been written.
    pub(crate) fn advance(&mut self, end: u64) -> Option<Step> {
        if end < self.unsent + CHUNK_BYTES {
            return None;
        }
        let sent = self.unsent - self.unsent % PAGE_BYTES;
        let step = Step {
            write_out: self.unsent..end,
            drop: self.dropped..sent.max(self.dropped),
        };
        self.unsent = end;
        self.dropped = step.drop.end;
        Some(step)
    }
}

/// A file appended to through [`Write`], dropped behind as it grows.
#[derive(Debug)]
pub(crate) struct DropBehindFile {
    file: File,
    end: u64,
    /// `None` once the file turned out not to support it (a pipe, say): it is then written as
    /// any file is.
    behind: Option<DropBehind>,
}

impl DropBehindFile {
    /// `file`, opened for appending.
    pub(crate) fn new(file: File) -> io::Result<Self> {
        let end = file.metadata()?.len();
        Ok(Self {
            file,
            end,
            behind: Some(DropBehind::starting_at(end)),
        })
    }

    fn drop_behind(&mut self) -> io::Result<()> {
        let Some(step) = self
            .behind
            .as_mut()
            .and_then(|behind| behind.advance(self.end))
        else {
            return Ok(());
        };
        match apply(&self.file, &step) {
            Ok(()) => Ok(()),
            Err(err) if unsupported(&err) => {
                tracing::debug!(%err, "the page cache cannot be dropped behind this file; writing it as is");
                self.behind = None;
                Ok(())
            }
            // A failed writeback (EIO, ENOSPC) means bytes that did not reach the disk.
            Err(err) => Err(err),
        }
    }
}

impl Write for DropBehindFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        self.end += written as u64;
        self.drop_behind()?;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Errors that say the file cannot be dropped behind, not that its bytes are in danger.
fn unsupported(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Unsupported
        || matches!(
            err.raw_os_error(),
            Some(libc::ESPIPE | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
        )
}

#[cfg(target_os = "linux")]
fn apply(file: &File, step: &Step) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    let fd = file.as_raw_fd();
    let length = |range: &Range<u64>| {
        (
            range.start as libc::off64_t,
            (range.end - range.start) as libc::off64_t,
        )
    };
    let check = |result: libc::c_int| {
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let (offset, bytes) = length(&step.write_out);
    // SAFETY: the calls only read `fd`, which `file` keeps open, and take plain integers.
    check(unsafe { libc::sync_file_range(fd, offset, bytes, libc::SYNC_FILE_RANGE_WRITE) })?;
    if step.drop.is_empty() {
        return Ok(());
    }
    let (offset, bytes) = length(&step.drop);
    let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: as above.
    check(unsafe { libc::sync_file_range(fd, offset, bytes, wait) })?;
    // SAFETY: as above. posix_fadvise returns its error instead of setting errno.
    match unsafe { libc::posix_fadvise(fd, offset, bytes, libc::POSIX_FADV_DONTNEED) } {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

#[cfg(not(target_os = "linux"))]
fn apply(_file: &File, _step: &Step) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn each_chunk_is_written_out_and_the_one_before_it_dropped() {
        let mut behind = DropBehind::starting_at(0);
        assert_eq!(behind.advance(CHUNK_BYTES - 1), None);
        assert_eq!(
            behind.advance(CHUNK_BYTES + 5),
            Some(Step {
                write_out: 0..CHUNK_BYTES + 5,
                drop: 0..0,
            })
        );
        assert_eq!(behind.advance(2 * CHUNK_BYTES), None);
        assert_eq!(
            behind.advance(2 * CHUNK_BYTES + 10),
            Some(Step {
                write_out: CHUNK_BYTES + 5..2 * CHUNK_BYTES + 10,
                // The page holding byte CHUNK_BYTES + 5 is dropped with the next chunk.
                drop: 0..CHUNK_BYTES,
            })
        );
        assert_eq!(
            behind.advance(3 * CHUNK_BYTES + 10),
            Some(Step {
                write_out: 2 * CHUNK_BYTES + 10..3 * CHUNK_BYTES + 10,
                drop: CHUNK_BYTES..2 * CHUNK_BYTES,
            })
        );
    }

    #[test]
    fn what_the_file_held_before_is_left_alone() {
        let mut behind = DropBehind::starting_at(10 * MIB + 100);
        let first = behind.advance(20 * MIB).unwrap();
        assert_eq!(first.write_out, 10 * MIB + 100..20 * MIB);
        assert!(first.drop.is_empty());
        let second = behind.advance(30 * MIB).unwrap();
        // From the page the first write began in, not from the start of the file.
        assert_eq!(second.drop, 10 * MIB..20 * MIB);
    }

    /// How many of the file's pages are in the page cache.
    fn cached_pages(file: &File) -> usize {
        use std::os::fd::AsRawFd;
        let length = file.metadata().unwrap().len() as usize;
        // SAFETY: a private read-only mapping of the whole file, unmapped below; mincore only
        // writes one byte per page into `resident`, which has room for every page.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            let mut resident = vec![0u8; length.div_ceil(PAGE_BYTES as usize)];
            assert_eq!(libc::mincore(map, length, resident.as_mut_ptr()), 0);
            libc::munmap(map, length);
            resident.iter().filter(|page| **page & 1 == 1).count()
        }
    }

    #[test]
    fn a_long_file_keeps_only_its_last_chunks_cached_and_every_byte() {
        // Next to the test binary, on the build's disk: a tmpfs keeps its pages whatever is asked.
        let binary = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir_in(binary.parent().unwrap()).unwrap();
        let path = dir.path().join("history.ndjson");
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap()
        };
        let mut file = io::BufWriter::new(DropBehindFile::new(open()).unwrap());
        let line: Vec<u8> = (0..1000)
            .map(|i| b'a' + (i % 26) as u8)
            .chain([b'\n'])
            .collect();
        let lines = 10 * CHUNK_BYTES as usize / line.len();
        for _ in 0..lines {
            file.write_all(&line).unwrap();
        }
        file.flush().unwrap();
        let written = File::open(&path).unwrap();
        let pages = (lines * line.len()).div_ceil(PAGE_BYTES as usize);
        let cached = cached_pages(&written);
        // Two chunks and their edges at most; untouched, all of the file's pages would be.
        assert!(
            cached <= 2 * (CHUNK_BYTES / PAGE_BYTES) as usize + 4,
            "{cached} of {pages} pages cached"
        );
        let text = std::fs::read(&path).unwrap();
        assert_eq!(text.len(), lines * line.len());
        assert!(text.chunks(line.len()).all(|read| read == line));
    }
}
