//! `cartrack config show [ID]` and `cartrack config diff [A] [B]`: the stored config versions,
//! their specs rendered back to TOML, and the lines two of them differ in.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{json, Value};

use crate::api::{Client, ConfigList, ConfigVersion};
use crate::args::Output;
use crate::error::UsageError;
use crate::render::{self, Edit};
use crate::stdout;

/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;

pub async fn show(client: &Client, output: Output, id: Option<u32>) -> anyhow::Result<ExitCode> {
    let list = client.configs().await?;
    let id = kept(&list, id.unwrap_or(list.target))?;
    let version = client.config(id).await?;
    match output {
        Output::Json => stdout::json(&version)?,
        Output::Human => stdout::text(&version_text(&version, &list)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn diff(
    client: &Client,
    output: Output,
    a: Option<u32>,
    b: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let list = client.configs().await?;
    let b = kept(&list, b.unwrap_or(list.target))?;
    let a = match a {
        Some(a) => kept(&list, a)?,
        None => list.before(b).ok_or_else(|| {
            UsageError::new(format!(
                "no version before {b} is kept (kept: {}); name two, e.g. `cartrack config diff {b} {b}`",
                list.ids().join(", ")
            ))
        })?,
    };
    let (old, new) = tokio::try_join!(client.config(a), client.config(b))?;
    let (old_toml, new_toml) = (spec_toml(&old)?, spec_toml(&new)?);
    let edits = render::line_diff(&old_toml, &new_toml);
    let binaries = (old.binaries != new.binaries).then_some((&old.binaries, &new.binaries));
    match output {
        Output::Json => stdout::json(&diff_json(a, b, &edits, binaries))?,
        Output::Human => stdout::text(&diff_text(a, b, &edits, binaries))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `id` when the scheduler keeps it; else a usage error naming those it keeps.
fn kept(list: &ConfigList, id: u32) -> Result<u32, UsageError> {
    if list.versions.iter().any(|v| v.id == id) {
        Ok(id)
    } else {
        Err(UsageError::new(format!(
            "config version {id} is not kept; kept: {} (the target is {})",
            list.ids().join(", "),
            list.target
        )))
    }
}

/// A version's spec as TOML: the format it was written in, so it reads like the file.
fn spec_toml(version: &ConfigVersion) -> anyhow::Result<String> {
    to_toml(&version.spec).with_context(|| {
        format!(
            "cannot show version {}'s spec as TOML (is the CLI older than the scheduler?)",
            version.id
        )
    })
}

/// `value` (a JSON object) as a TOML document; nulls, which TOML lacks, are left out as the
/// keys they stand for are optional.
fn to_toml(value: &Value) -> Result<String, toml::ser::Error> {
    fn without_nulls(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), without_nulls(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(without_nulls)
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    toml::to_string(&without_nulls(value))
}

/// `release: uri=https://...` or `files: executor_uri=..., worker_uri=...`.
fn binaries_text(binaries: &Value) -> String {
    let Some(map) = binaries.as_object() else {
        return binaries.to_string();
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("binaries");
    let fields: Vec<String> = map
        .iter()
        .filter(|(key, _)| *key != "kind")
        .map(|(key, value)| match value {
            Value::String(s) => format!("{key}={s}"),
            other => format!("{key}={other}"),
        })
        .collect();
    format!("{kind}: {}", fields.join(", "))
}

/// The version's facts, then its spec.
fn version_text(version: &ConfigVersion, list: &ConfigList) -> anyhow::Result<String> {
    let mut out = format!("version {}", version.id);
    if version.id == list.target {
        out.push_str(" (the target)");
    }
    let pods = list
        .versions
        .iter()
        .find(|v| v.id == version.id)
        .map_or(0, |v| v.pods);
    let sha: String = version.sha256.chars().take(12).collect();
    let _ = write!(
        out,
        "\norigin:   {}\ncreated:  {}\nsha256:   {sha}\nbinaries: {}\npods:     {pods} run it\n\n",
        version.origin,
        render::utc(version.created_ms),
        binaries_text(&version.binaries),
    );
    out.push_str(&spec_toml(version)?);
    Ok(out)
}

/// Where a hunk is in the TOML: the table it is in and, inside an array of tables such as
/// `[[groups]]`, that element's `name` once it was seen.
fn section(before: &[Edit]) -> String {
    let mut header = String::new();
    let mut array: Option<&str> = None;
    let mut element: Option<&str> = None;
    for edit in before {
        let line = edit.line().trim();
        if line.starts_with('[') {
            header = line.to_string();
            let top = line
                .strip_prefix("[[")
                .and_then(|l| l.strip_suffix("]]"))
                .filter(|name| !name.contains('.'));
            if top.is_some() {
                (array, element) = (top, None);
            }
        } else if let Some(name) = line.strip_prefix("name = ") {
            if array.is_some_and(|a| header == format!("[[{a}]]")) {
                element = Some(name);
            }
        }
    }
    match (array, element) {
        (Some(array), Some(name)) if header == format!("[[{array}]]") => format!("{array} {name}"),
        (Some(array), Some(name))
            if header
                .trim_start_matches('[')
                .starts_with(&format!("{array}.")) =>
        {
            format!("{array} {name} {header}")
        }
        _ if header.is_empty() => "top".to_string(),
        _ => header,
    }
}

fn diff_text(a: u32, b: u32, edits: &[Edit], binaries: Option<(&Value, &Value)>) -> String {
    let spec = render::unified(edits, CONTEXT, section);
    if spec.is_empty() && binaries.is_none() {
        return format!("versions {a} and {b} have the same spec and binaries\n");
    }
    let mut out = format!("--- version {a}\n+++ version {b}\n{spec}");
    if let Some((old, new)) = binaries {
        let _ = write!(
            out,
            "@@ binaries @@\n- {}\n+ {}\n",
            binaries_text(old),
            binaries_text(new)
        );
    }
    out
}

/// `{"from", "to", "changes": [{"section", "removed"|"added"}], "binaries": {"from", "to"}|null}`.
fn diff_json(a: u32, b: u32, edits: &[Edit], binaries: Option<(&Value, &Value)>) -> Value {
    let changes: Vec<Value> = edits
        .iter()
        .enumerate()
        .filter_map(|(i, edit)| {
            let side = match edit {
                Edit::Same(_) => return None,
                Edit::Removed(_) => "removed",
                Edit::Added(_) => "added",
            };
            Some(json!({ "section": section(&edits[..i]), side: edit.line() }))
        })
        .collect();
    json!({
        "from": a,
        "to": b,
        "changes": changes,
        "binaries": binaries.map(|(old, new)| json!({ "from": old, "to": new })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: u32, env: &str, uri: &str) -> ConfigVersion {
        serde_json::from_value(json!({
            "id": id, "sha256": "0123456789abcdef0123", "created_ms": 1_765_000_000_000u64,
            "origin": "update",
            "spec": {"placement_strategy": "spread", "staging_timeout_seconds": 300,
                     "executor": {"cpus": 0.05, "mem": 32.0, "disk": 16.0},
                     "groups": [
                        {"name": "db", "count": 1, "role": null, "env": {},
                         "deploy": {"max_unavailable": 1, "max_surge": 0, "min_ready_seconds": 10, "canary_steps": 0},
                         "tasks": [{"name": "main", "command": "sleep", "args": ["600"], "cpus": 0.1, "mem": 32.0, "health": null}]},
                        {"name": "web", "count": 2, "role": "*", "env": {"GREETING": env},
                         "deploy": {"max_unavailable": 1, "max_surge": 0, "min_ready_seconds": 1, "canary_steps": 0},
                         "tasks": [{"name": "main", "command": "sleep", "args": ["600"], "cpus": 0.1, "mem": 32.0}]}]},
            "binaries": {"kind": "release", "uri": uri},
            "pods": {"web": "abc"}
        }))
        .unwrap()
    }

    fn list() -> ConfigList {
        serde_json::from_value(json!({"target": 2, "versions": [
            {"id": 1, "sha256": "aa", "created_ms": 0, "origin": "startup", "pods": 0},
            {"id": 2, "sha256": "bb", "created_ms": 0, "origin": "update", "pods": 2}]}))
        .unwrap()
    }

    #[test]
    fn a_spec_reads_back_as_toml_without_nulls() {
        let text = spec_toml(&version(1, "hello", "file:///r.tar.gz")).unwrap();
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(
            parsed["groups"][1]["env"]["GREETING"].as_str(),
            Some("hello")
        );
        assert!(parsed["groups"][0].get("role").is_none(), "{text}");
        assert!(text.contains("[[groups]]"), "{text}");
    }

    #[test]
    fn show_gives_the_facts_then_the_spec() {
        let text = version_text(&version(2, "hello", "file:///r.tar.gz"), &list()).unwrap();
        assert!(
            text.starts_with(
                "version 2 (the target)\norigin:   update\ncreated:  2025-12-06T05:46:40Z\n\
                 sha256:   0123456789ab\nbinaries: release: uri=file:///r.tar.gz\npods:     2 run it\n\n"
            ),
            "{text}"
        );
        assert!(text.contains("placement_strategy = \"spread\""), "{text}");
    }

    #[test]
    fn the_diff_names_the_group_whose_env_line_changed() {
        let (old, new) = (
            version(1, "hello", "file:///r1.tar.gz"),
            version(2, "hi", "file:///r2.tar.gz"),
        );
        let (old_toml, new_toml) = (spec_toml(&old).unwrap(), spec_toml(&new).unwrap());
        let edits = render::line_diff(&old_toml, &new_toml);
        let binaries = Some((&old.binaries, &new.binaries));
        let text = diff_text(1, 2, &edits, binaries);
        assert!(text.starts_with("--- version 1\n+++ version 2\n"), "{text}");
        assert!(
            text.contains("@@ groups \"web\" [groups.env] @@\n"),
            "{text}"
        );
        assert!(
            text.contains("- GREETING = \"hello\"\n+ GREETING = \"hi\"\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "@@ binaries @@\n- release: uri=file:///r1.tar.gz\n+ release: uri=file:///r2.tar.gz\n"
            ),
            "{text}"
        );
        let value = diff_json(1, 2, &edits, binaries);
        assert_eq!(
            value["changes"],
            json!([
                {"section": "groups \"web\" [groups.env]", "removed": "GREETING = \"hello\""},
                {"section": "groups \"web\" [groups.env]", "added": "GREETING = \"hi\""}
            ])
        );
        assert_eq!(value["binaries"]["to"]["uri"], "file:///r2.tar.gz");
        let same = render::line_diff(&old_toml, &old_toml);
        assert_eq!(
            diff_text(1, 1, &same, None),
            "versions 1 and 1 have the same spec and binaries\n"
        );
    }

    #[test]
    fn versions_not_kept_are_refused_naming_those_that_are() {
        let err = kept(&list(), 7).unwrap_err().to_string();
        assert_eq!(
            err,
            "config version 7 is not kept; kept: 1, 2 (the target is 2)"
        );
        assert_eq!(list().before(2), Some(1));
        assert_eq!(list().before(1), None);
    }
}
