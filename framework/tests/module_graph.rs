//! The crate's module graph, read from its sources: no cycles between top-level modules, and
//! the driver's pure core reaches neither the wire nor its adapters. Test code (`tests`
//! modules, `testkit`) is left out: it may see everything.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `path`, test modules left out.
fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(path) else {
        return out;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "tests" || name == "tests.rs" {
            continue;
        }
        if p.is_dir() {
            out.extend(sources(&p));
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
    out
}

/// The code of `file` before its `#[cfg(test)]` module, comments left out.
fn code(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `text` names through `crate::<module>`.
fn uses(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .filter(|(i, _)| !text[..*i].ends_with('$'))
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

/// Top-level module -> the modules it uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for entry in fs::read_dir(src()).expect("framework/src").flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if matches!(name.as_str(), "lib" | "main" | "testkit") {
            continue;
        }
        let mut used: BTreeSet<String> =
            sources(&path).iter().flat_map(|f| uses(&code(f))).collect();
        used.remove(&name);
        used.remove("testkit");
        graph.entry(name).or_insert_with(BTreeSet::new).extend(used);
    }
    graph
}

/// A cycle through `node`, if there is one.
fn cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut found = path[at..].to_vec();
        found.push(node.to_string());
        return Some(found);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_string());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(found) = cycle(graph, next, path, done) {
            return Some(found);
        }
    }
    path.pop();
    done.insert(node.to_string());
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = graph();
    assert!(graph.contains_key("driver") && graph.contains_key("planner"));
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(found) = cycle(&graph, node, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}\ngraph: {graph:#?}", found.join(" -> "));
        }
    }
}

#[test]
fn the_driver_core_knows_no_calls_wire_or_adapters() {
    let pure = [
        "core.rs",
        "core/deploy.rs",
        "core/uninstall.rs",
        "input.rs",
        "effect.rs",
    ];
    for file in pure {
        let text = code(&src().join("driver").join(file));
        assert!(!text.is_empty(), "driver/{file} is missing");
        for banned in [
            "scheduler::Call",
            "scheduler::{call",
            "Call,",
            "crate::mesos",
            "super::encode",
            "super::sender",
            "super::launch::launch_group",
            "reqwest",
            "tokio",
            "SystemTime",
            "Instant::now",
            "Uuid",
        ] {
            assert!(
                !text.contains(banned),
                "driver/{file} uses {banned:?}: the core takes inputs and returns effects"
            );
        }
    }
}

#[test]
fn the_reader_sees_what_it_should() {
    // The checks above are only as good as the scan: it must find known edges and skip
    // comments and tests.
    let graph = graph();
    assert!(graph["driver"].contains("planner"), "{graph:#?}");
    assert!(graph["api"].contains("driver"), "{graph:#?}");
    assert!(!graph["planner"].contains("testkit"));
    assert_eq!(
        uses(&code(&src().join("records.rs"))),
        BTreeSet::from(["spec".to_string(), "target".to_string()])
    );
}
