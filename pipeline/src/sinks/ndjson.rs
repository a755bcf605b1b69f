//! The local sink: one NDJSON file per index, each line `{"_id": ..., "_source": ...}` (the
//! shape of an Elasticsearch hit), appended. Latest-state indices become logs here: the last
//! line for an id is its current document. The files are dropped from the page cache behind the
//! writer ([`DropBehindFile`]).

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::drop_behind::DropBehindFile;
use super::{Document, Sink, SinkError, WriteSummary};
use crate::model::write_json_str;

/// Appends documents to `<dir>/<index>.ndjson`.
#[derive(Debug)]
pub struct NdjsonSink {
    dir: PathBuf,
    /// The open files by index: a handful, so a list.
    files: Vec<(&'static str, BufWriter<DropBehindFile>)>,
}

/// The write buffer per file. Large, because the kernel's cost is per `write`: 8 KiB writes
/// (`BufWriter`'s default) took twice the system time of 256 KiB ones for the same bytes.
const BUFFER_BYTES: usize = 256 * 1024;

impl NdjsonSink {
    /// A sink writing into `dir`, which is created if missing.
    pub fn new(dir: &Path) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|source| SinkError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            files: Vec::new(),
        })
    }

    /// The file documents of `index` go to.
    pub fn path_of(dir: &Path, index: &str) -> PathBuf {
        dir.join(format!("{index}.ndjson"))
    }

    /// The open file of `index`, opened on first use.
    fn file(
        &mut self,
        index: &'static str,
    ) -> Result<&mut BufWriter<DropBehindFile>, (PathBuf, std::io::Error)> {
        let slot = match self.files.iter().position(|(known, _)| *known == index) {
            Some(slot) => slot,
            None => {
                let path = Self::path_of(&self.dir, index);
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .and_then(DropBehindFile::new)
                    .map_err(|err| (path, err))?;
                self.files
                    .push((index, BufWriter::with_capacity(BUFFER_BYTES, file)));
                self.files.len() - 1
            }
        };
        Ok(&mut self.files[slot].1)
    }

    fn write_batch(&mut self, batch: &[Document]) -> Result<(), (PathBuf, std::io::Error)> {
        let mut id = Vec::with_capacity(64);
        for document in batch {
            id.clear();
            write_json_str(&mut id, &document.id);
            let parts: [&[u8]; 5] = [
                b"{\"_id\":",
                &id,
                b",\"_source\":",
                &document.source,
                b"}\n",
            ];
            let file = self.file(document.index)?;
            write_line(file, &parts)
                .map_err(|err| (Self::path_of(&self.dir, document.index), err))?;
        }
        // Whole lines only reach the file, and each batch is visible once written.
        for (index, file) in &mut self.files {
            file.flush()
                .map_err(|err| (Self::path_of(&self.dir, index), err))?;
        }
        Ok(())
    }
}

/// Writes the parts of one line into `file`'s buffer. Only whole lines reach the file:
/// `BufWriter` writes out what it holds before a write that does not fit, so room for the whole
/// line is made first; a line longer than the buffer goes out in one write of its own.
fn write_line(file: &mut BufWriter<DropBehindFile>, parts: &[&[u8]]) -> std::io::Result<()> {
    let length: usize = parts.iter().map(|part| part.len()).sum();
    if length > file.capacity() {
        return file.write_all(&parts.concat());
    }
    if file.capacity() - file.buffer().len() < length {
        file.flush()?;
    }
    parts.iter().try_for_each(|part| file.write_all(part))
}

impl Sink for NdjsonSink {
    async fn write(&mut self, batch: &[Document]) -> Result<WriteSummary, SinkError> {
        self.write_batch(batch)
            .map_err(|(path, source)| SinkError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Ok(WriteSummary {
            written: batch.len(),
            ..WriteSummary::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn appends_one_hit_shaped_line_per_document_per_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = NdjsonSink::new(&dir.path().join("out")).unwrap();
        let document = |index, id: &str, source: &'static str| Document {
            index,
            id: id.into(),
            source: Bytes::from_static(source.as_bytes()),
        };
        sink.write(&[
            document("a", "1", "{\"x\":1}"),
            document("b", "q\"uote", "{}"),
        ])
        .await
        .unwrap();
        sink.write(&[document("a", "2", "{\"x\":2}")])
            .await
            .unwrap();
        let read = |index| {
            std::fs::read_to_string(NdjsonSink::path_of(&dir.path().join("out"), index)).unwrap()
        };
        assert_eq!(
            read("a"),
            "{\"_id\":\"1\",\"_source\":{\"x\":1}}\n{\"_id\":\"2\",\"_source\":{\"x\":2}}\n"
        );
        let line: serde_json::Value = serde_json::from_str(read("b").trim()).unwrap();
        assert_eq!(line["_id"], "q\"uote");
    }

    #[tokio::test]
    async fn a_line_longer_than_the_buffer_is_written_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = NdjsonSink::new(dir.path()).unwrap();
        let long = format!("{{\"x\":\"{}\"}}", "y".repeat(BUFFER_BYTES));
        let document = |id: &str, source: &str| Document {
            index: "a",
            id: id.into(),
            source: Bytes::from(source.to_owned()),
        };
        sink.write(&[
            document("1", "{}"),
            document("2", &long),
            document("3", "{}"),
        ])
        .await
        .unwrap();
        let text = std::fs::read_to_string(NdjsonSink::path_of(dir.path(), "a")).unwrap();
        let expected = format!(
            "{{\"_id\":\"1\",\"_source\":{{}}}}\n{{\"_id\":\"2\",\"_source\":{long}}}\n{{\"_id\":\"3\",\"_source\":{{}}}}\n"
        );
        assert_eq!(text, expected);
    }
}
