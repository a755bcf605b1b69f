//! Output for people: aligned tables and task ports.

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
    fn ports_accept_maps_and_lists() {
        assert_eq!(ports(&json!({"http": 31000})), "http=31000");
        assert_eq!(
            ports(&json!([{"name": "http", "number": 31001}])),
            "http=31001"
        );
        assert_eq!(ports(&Value::Null), "-");
    }
}
