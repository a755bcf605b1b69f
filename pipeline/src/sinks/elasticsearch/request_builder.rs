//! Turns a batch of documents into a `_bulk` request body.

use crate::sinks::Document;

/// Appends the NDJSON `_bulk` body indexing `documents` (an `index` action, which creates or
/// replaces: re-sending a document is harmless) to `body`.
pub fn bulk_body<'a>(documents: impl IntoIterator<Item = &'a Document>, body: &mut Vec<u8>) {
    for document in documents {
        let action = serde_json::json!({
            "index": { "_index": document.index, "_id": document.id }
        });
        // ok: serialising a json! value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *body, &action);
        body.push(b'\n');
        body.extend_from_slice(&document.source);
        body.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn one_action_line_and_one_source_line_per_document() {
        let documents = [
            Document {
                index: "cartrack-vehicles",
                id: "cab \"1\"".into(),
                source: Bytes::from_static(b"{\"speed_mps\":3.0}"),
            },
            Document {
                index: "cartrack-tiles",
                id: "dr5ru6-0".into(),
                source: Bytes::from_static(b"{}"),
            },
        ];
        let mut body = Vec::new();
        bulk_body(&documents, &mut body);
        let text = String::from_utf8(body).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        let action: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(action["index"]["_index"], "cartrack-vehicles");
        assert_eq!(action["index"]["_id"], "cab \"1\"");
        assert_eq!(lines[1], "{\"speed_mps\":3.0}");
        assert!(text.ends_with("{}\n"));
    }
}
