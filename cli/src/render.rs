//! Output for people: aligned tables, and an outline of any JSON document for views whose
//! shape the CLI does not interpret.

use std::fmt::Write as _;

use serde_json::Value;

/// Formats rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// An indented outline of a JSON document: objects as `key: value`, arrays as `-` items.
pub fn outline(value: &Value) -> String {
    let mut out = String::new();
    write_outline(&mut out, value, 0);
    out
}

fn write_outline(out: &mut String, value: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if is_scalar(value) {
                    let _ = writeln!(out, "{pad}{key}: {}", scalar(value));
                } else {
                    let _ = writeln!(out, "{pad}{key}:");
                    write_outline(out, value, depth + 1);
                }
            }
        }
        Value::Array(items) if items.is_empty() => {
            let _ = writeln!(out, "{pad}(none)");
        }
        Value::Array(items) => {
            for item in items {
                if is_scalar(item) {
                    let _ = writeln!(out, "{pad}- {}", scalar(item));
                } else {
                    let _ = writeln!(out, "{pad}-");
                    write_outline(out, item, depth + 1);
                }
            }
        }
        scalar_value => {
            let _ = writeln!(out, "{pad}{}", scalar(scalar_value));
        }
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A task's ports as `name=port` pairs, whatever JSON shape the scheduler used.
pub fn ports(value: &Value) -> String {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(name, port)| format!("{name}={}", scalar(port)))
            .collect::<Vec<_>>()
            .join(","),
        Value::Array(items) => items
            .iter()
            .map(
                |item| match (item.get("name"), item.get("number").or(item.get("port"))) {
                    (Some(name), Some(port)) => format!("{}={}", scalar(name), scalar(port)),
                    _ => scalar(item),
                },
            )
            .collect::<Vec<_>>()
            .join(","),
        Value::Null => "-".into(),
        other => scalar(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns() {
        let out = table(
            &["GROUP", "COUNT"],
            &[
                vec!["processor".into(), "3".into()],
                vec!["ix".into(), "10".into()],
            ],
        );
        assert_eq!(out, "GROUP      COUNT\nprocessor  3\nix         10\n");
    }

    #[test]
    fn outline_nests_objects_and_arrays() {
        let out = outline(&json!({"phases": [{"name": "processor", "steps": []}]}));
        assert_eq!(
            out,
            "phases:\n  -\n    name: processor\n    steps:\n      (none)\n"
        );
    }

    #[test]
    fn ports_accept_maps_and_lists() {
        assert_eq!(ports(&json!({"http": 31000})), "http=31000");
        assert_eq!(
            ports(&json!([{"name": "http", "number": 31001}])),
            "http=31001"
        );
        assert_eq!(ports(&Value::Null), "-");
    }
}
