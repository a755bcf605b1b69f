//! Output for people: aligned tables, task ports, trees and line diffs.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

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

/// `ms` since the epoch as UTC to the second, e.g. `2025-12-06T05:46:40Z`.
pub fn utc(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A labelled node and the nodes under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The node's line.
    pub label: String,
    /// The nodes drawn under it, in order.
    pub children: Vec<Tree>,
}

impl Tree {
    /// A node with `children` under it.
    pub fn new(label: impl Into<String>, children: Vec<Tree>) -> Tree {
        Tree {
            label: label.into(),
            children,
        }
    }
}

/// Draws `root` and everything under it, a line per node, with `├─`, `└─` and `│` as
/// `dcos <service> plan show` does.
pub fn tree(root: &Tree) -> String {
    let mut out = format!("{}\n", root.label);
    draw_children(&root.children, "", &mut out);
    out
}

fn draw_children(children: &[Tree], prefix: &str, out: &mut String) {
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (branch, below) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        let _ = writeln!(out, "{prefix}{branch}{}", child.label);
        draw_children(&child.children, &format!("{prefix}{below}"), out);
    }
}

/// One line of a line diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit<'a> {
    /// In both texts.
    Same(&'a str),
    /// Only in the first.
    Removed(&'a str),
    /// Only in the second.
    Added(&'a str),
}

impl<'a> Edit<'a> {
    /// The line itself.
    pub fn line(self) -> &'a str {
        match self {
            Edit::Same(line) | Edit::Removed(line) | Edit::Added(line) => line,
        }
    }
}

/// Past this many cells (lines of one middle times lines of the other) the diff is not
/// searched for common lines: the middles are shown as removed, then added, at bounded cost.
const MAX_DIFF_CELLS: usize = 4_000_000;

/// The lines of `a` and `b` as a shortest edit: a longest common subsequence, after the common
/// head and tail (which is all a small change to a long text needs).
pub fn line_diff<'a>(a: &'a str, b: &'a str) -> Vec<Edit<'a>> {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut edits: Vec<Edit> = a[..head].iter().map(|l| Edit::Same(l)).collect();
    let (n, m) = (mid_a.len(), mid_b.len());
    if n.saturating_mul(m) > MAX_DIFF_CELLS {
        edits.extend(mid_a.iter().map(|l| Edit::Removed(l)));
        edits.extend(mid_b.iter().map(|l| Edit::Added(l)));
    } else {
        // common[i * (m + 1) + j]: the longest common subsequence of mid_a[i..] and mid_b[j..].
        let mut common = vec![0u32; (n + 1) * (m + 1)];
        let at = |i: usize, j: usize| i * (m + 1) + j;
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                common[at(i, j)] = if mid_a[i] == mid_b[j] {
                    common[at(i + 1, j + 1)] + 1
                } else {
                    common[at(i + 1, j)].max(common[at(i, j + 1)])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && mid_a[i] == mid_b[j] {
                edits.push(Edit::Same(mid_a[i]));
                (i, j) = (i + 1, j + 1);
            } else if j == m || (i < n && common[at(i + 1, j)] >= common[at(i, j + 1)]) {
                edits.push(Edit::Removed(mid_a[i]));
                i += 1;
            } else {
                edits.push(Edit::Added(mid_b[j]));
                j += 1;
            }
        }
    }
    edits.extend(a[a.len() - tail..].iter().map(|l| Edit::Same(l)));
    edits
}

/// The changed lines of `edits` with `context` unchanged lines around each, `-`/`+`/` `
/// prefixed, in hunks headed `@@ <label> @@`; `label` is given every edit before the hunk's
/// first change, its leading context included.
pub fn unified(edits: &[Edit], context: usize, label: impl Fn(&[Edit]) -> String) -> String {
    let changed: Vec<usize> = (0..edits.len())
        .filter(|&i| !matches!(edits[i], Edit::Same(_)))
        .collect();
    let mut out = String::new();
    let mut rest = changed.as_slice();
    while let Some(&first) = rest.first() {
        // A hunk runs on while the next change is within two contexts of the last.
        let mut last = first;
        while let Some(&next) = rest.get(1).filter(|&&next| next - last <= 2 * context + 1) {
            last = next;
            rest = &rest[1..];
        }
        rest = &rest[1..];
        let start = first.saturating_sub(context);
        let end = (last + context + 1).min(edits.len());
        let _ = writeln!(out, "@@ {} @@", label(&edits[..first]));
        for edit in &edits[start..end] {
            let sign = match edit {
                Edit::Same(_) => ' ',
                Edit::Removed(_) => '-',
                Edit::Added(_) => '+',
            };
            let _ = writeln!(out, "{sign} {}", edit.line());
        }
    }
    out
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

    #[test]
    fn a_tree_draws_branches_and_the_last_child_closed() {
        let plan = Tree::new(
            "deploy (IN_PROGRESS)",
            vec![
                Tree::new(
                    "web (WAITING)",
                    vec![
                        Tree::new("web-0 (COMPLETE) v2", vec![]),
                        Tree::new("web-1 (WAITING) v1", vec![]),
                    ],
                ),
                Tree::new(
                    "db (COMPLETE)",
                    vec![Tree::new("db-0 (COMPLETE) v2", vec![])],
                ),
            ],
        );
        assert_eq!(
            tree(&plan),
            "deploy (IN_PROGRESS)\n\
             ├─ web (WAITING)\n\
             │  ├─ web-0 (COMPLETE) v2\n\
             │  └─ web-1 (WAITING) v1\n\
             └─ db (COMPLETE)\n\
             \x20  └─ db-0 (COMPLETE) v2\n"
        );
    }

    #[test]
    fn a_line_diff_keeps_common_lines_and_orders_removed_before_added() {
        let edits = line_diff("a\nb\nc\nd\n", "a\nx\nc\nd\ne\n");
        assert_eq!(
            edits,
            [
                Edit::Same("a"),
                Edit::Removed("b"),
                Edit::Added("x"),
                Edit::Same("c"),
                Edit::Same("d"),
                Edit::Added("e"),
            ]
        );
        assert!(line_diff("same\n", "same\n")
            .iter()
            .all(|e| matches!(e, Edit::Same(_))));
        assert_eq!(line_diff("", "new"), [Edit::Added("new")]);
    }

    #[test]
    fn a_line_diff_finds_a_longest_common_subsequence_in_the_middle() {
        let edits = line_diff("h\n1\n2\n3\nt\n", "h\n2\n9\n3\n1\nt\n");
        let same: Vec<&str> = edits
            .iter()
            .filter(|e| matches!(e, Edit::Same(_)))
            .map(|e| e.line())
            .collect();
        assert_eq!(same, ["h", "2", "3", "t"]);
    }

    #[test]
    fn unified_shows_changes_in_context_with_a_label_per_hunk() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let b = "1\n2\nthree\n4\n5\n6\n7\n8\nnine\n";
        let edits = line_diff(a, b);
        let text = unified(&edits, 1, |before| format!("after {} lines", before.len()));
        assert_eq!(
            text,
            "@@ after 2 lines @@\n  2\n- 3\n+ three\n  4\n@@ after 9 lines @@\n  8\n- 9\n+ nine\n"
        );
        // Changes within two contexts of each other share a hunk.
        let text = unified(&edits, 3, |_| "all".into());
        assert_eq!(text.matches("@@ all @@").count(), 1, "{text}");
        assert_eq!(unified(&line_diff(a, a), 3, |_| "none".into()), "");
    }
}
