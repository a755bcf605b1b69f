//! The local sink: one NDJSON file per index, each line `{"_id": ..., "_source": ...}` (the
//! shape of an Elasticsearch hit), appended. Latest-state indices become logs here: the last
//! line for an id is its current document.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{Document, Sink, SinkError, WriteSummary};

/// Appends documents to `<dir>/<index>.ndjson`.
#[derive(Debug)]
pub struct NdjsonSink {
    dir: PathBuf,
    files: HashMap<&'static str, BufWriter<File>>,
}

impl NdjsonSink {
    /// A sink writing into `dir`, which is created if missing.
    pub fn new(dir: &Path) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|source| SinkError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            files: HashMap::new(),
        })
    }

    /// The file documents of `index` go to.
    pub fn path_of(dir: &Path, index: &str) -> PathBuf {
        dir.join(format!("{index}.ndjson"))
    }

    fn write_batch(&mut self, batch: &[Document]) -> Result<(), (PathBuf, std::io::Error)> {
        for document in batch {
            let path = Self::path_of(&self.dir, document.index);
            let file = match self.files.get_mut(document.index) {
                Some(file) => file,
                None => {
                    let file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .map_err(|err| (path.clone(), err))?;
                    self.files
                        .entry(document.index)
                        .or_insert(BufWriter::new(file))
                }
            };
            let id =
                serde_json::to_string(&document.id).map_err(|err| (path.clone(), err.into()))?;
            let mut line = Vec::with_capacity(document.source.len() + id.len() + 24);
            line.extend_from_slice(b"{\"_id\":");
            line.extend_from_slice(id.as_bytes());
            line.extend_from_slice(b",\"_source\":");
            line.extend_from_slice(&document.source);
            line.extend_from_slice(b"}\n");
            file.write_all(&line).map_err(|err| (path, err))?;
        }
        // Whole lines only reach the file, and each batch is visible once written.
        for (index, file) in &mut self.files {
            file.flush()
                .map_err(|err| (Self::path_of(&self.dir, index), err))?;
        }
        Ok(())
    }
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
}
