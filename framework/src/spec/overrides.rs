//! Overrides of spec keys from the environment (`CARTRACK_<GROUP>_<KEY>`, as Marathon passes
//! env) and from `--set <path>=<value>` flags. Both become one [`Override`] list applied by
//! [`apply_overrides`] before validation, so the same rules check them.
//!
//! Paths: `<group>.count|cpus|mem|disk|role|placement` (cpus/mem/disk set every task of the
//! group; placement is a comma list), `placement_strategy`, `staging_timeout_seconds`,
//! `executor.cpus|mem|disk`. Env names: `CARTRACK_` + the path upper-cased with `.` and `-`
//! turned into `_` (group `my-group` -> `CARTRACK_MY_GROUP_COUNT`).

use super::{PlacementStrategy, ServiceSpec, SpecError, SpecErrors};

/// Keys a group override may set.
pub const GROUP_KEYS: [&str; 6] = ["count", "cpus", "mem", "disk", "role", "placement"];
/// Keys outside groups an override may set.
pub const GLOBAL_KEYS: [&str; 5] = [
    "placement_strategy",
    "staging_timeout_seconds",
    "executor.cpus",
    "executor.mem",
    "executor.disk",
];

/// One override: the spec path, the new value, and where it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// `processor.count`, `executor.mem`, `placement_strategy`, ...
    pub path: String,
    /// The value as text.
    pub value: String,
    /// `env CARTRACK_PROCESSOR_COUNT` or `--set processor.count=3`.
    pub source: String,
}

impl Override {
    /// Parses a `--set path=value` flag value.
    pub fn from_flag(text: &str) -> Result<Override, SpecError> {
        match text.split_once('=') {
            Some((path, value)) if !path.trim().is_empty() => Ok(Override {
                path: path.trim().to_string(),
                value: value.to_string(),
                source: format!("--set {text}"),
            }),
            _ => Err(SpecError {
                key: "--set".into(),
                value: format!("{text:?}"),
                allowed: "<path>=<value>, e.g. processor.count=3".into(),
            }),
        }
    }
}

fn env_name(path: &str) -> String {
    format!("CARTRACK_{}", path.to_uppercase().replace(['.', '-'], "_"))
}

/// Picks the overrides for this spec's groups out of environment variables; unrelated
/// `CARTRACK_*` variables (flags) are left alone.
pub fn env_overrides(
    spec: &ServiceSpec,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Vec<Override> {
    let mut paths: Vec<String> = GLOBAL_KEYS.iter().map(|k| k.to_string()).collect();
    for group in &spec.groups {
        paths.extend(GROUP_KEYS.iter().map(|k| format!("{}.{k}", group.name)));
    }
    let mut found = Vec::new();
    for (name, value) in vars {
        if let Some(path) = paths.iter().find(|p| env_name(p) == name) {
            found.push(Override {
                path: path.clone(),
                value,
                source: format!("env {name}"),
            });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// A `CARTRACK_<X>_<KEY>` variable shaped like a group override (KEY one of [`GROUP_KEYS`])
/// whose group `<X>` is not in the spec, so it changes nothing: most likely a typo such as
/// `CARTRACK_PROCESOR_COUNT`.
///
/// A warning, never an error: the Universe package (`universe/marathon.json.mustache`) sets
/// `CARTRACK_<GROUP>_COUNT|CPUS|MEM|DISK|PLACEMENT` for the example spec's groups (ingester,
/// processor, indexer) whatever spec the user supplies, and a spec without one of those groups
/// must still start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownGroupVariable {
    /// The variable, e.g. `CARTRACK_PROCESOR_COUNT`.
    pub name: String,
    /// The group it would name, e.g. `procesor`.
    pub group: String,
    /// The spec's groups, in spec order.
    pub groups: Vec<String>,
    /// The same key for the spec's closest group, e.g. `CARTRACK_PROCESSOR_COUNT`.
    pub suggestion: Option<String>,
}

impl std::fmt::Display for UnknownGroupVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is ignored: the spec has no group {:?} (groups: {})",
            self.name,
            self.group,
            self.groups.join(", ")
        )?;
        match &self.suggestion {
            Some(s) => write!(f, "; did you mean {s}?"),
            None => Ok(()),
        }
    }
}

/// Every variable in `names` that looks like a group override but names no group of `spec`
/// (see [`UnknownGroupVariable`]). Call it before [`super::interpolate_env`]: a variable the
/// spec's `env` values reference (`${CARTRACK_SHARD_COUNT}`) is used, so it is not reported.
/// Flag variables are the caller's to leave out; global keys (`CARTRACK_EXECUTOR_MEM`) are
/// never reported.
pub fn unknown_group_variables<'a>(
    spec: &ServiceSpec,
    names: impl IntoIterator<Item = &'a str>,
) -> Vec<UnknownGroupVariable> {
    let global: Vec<String> = GLOBAL_KEYS.iter().map(|k| env_name(k)).collect();
    let groups: Vec<String> = spec.groups.iter().map(|g| g.name.clone()).collect();
    let group_env: Vec<String> = groups.iter().map(|g| env_name(g)).collect();
    let referenced = |name: &str| {
        let (plain, with_default) = (format!("${{{name}}}"), format!("${{{name}:-"));
        spec.groups
            .iter()
            .flat_map(|g| {
                g.env
                    .values()
                    .chain(g.tasks.iter().flat_map(|t| t.env.values()))
            })
            .any(|v| v.contains(&plain) || v.contains(&with_default))
    };
    let mut found = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix("CARTRACK_") else {
            continue;
        };
        // `<X>_<KEY>` with a non-empty X.
        let Some((x, key)) = GROUP_KEYS.iter().find_map(|key| {
            let x = rest.strip_suffix(&key.to_uppercase())?.strip_suffix('_')?;
            (!x.is_empty()).then_some((x, key))
        }) else {
            continue;
        };
        let known = group_env
            .iter()
            .any(|g| g.strip_prefix("CARTRACK_") == Some(x));
        if known || global.iter().any(|g| g == name) || referenced(name) {
            continue;
        }
        let suggestion = group_env
            .iter()
            .filter_map(|g| g.strip_prefix("CARTRACK_"))
            .min_by_key(|g| strsim::levenshtein(g, x))
            .map(|g| format!("CARTRACK_{g}_{}", key.to_uppercase()));
        found.push(UnknownGroupVariable {
            name: name.to_string(),
            group: x.to_lowercase().replace('_', "-"),
            groups: groups.clone(),
            suggestion,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// [`env_overrides`] then [`apply_overrides`].
pub fn apply_env_overrides(
    spec: &mut ServiceSpec,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), SpecErrors> {
    let overrides = env_overrides(spec, vars);
    apply_overrides(spec, &overrides)
}

/// Applies overrides in order; every one that names no key or has a malformed value is
/// reported (with its source) and the rest still apply.
pub fn apply_overrides(spec: &mut ServiceSpec, overrides: &[Override]) -> Result<(), SpecErrors> {
    let mut errors = Vec::new();
    for o in overrides {
        if let Err(allowed) = apply_one(spec, o) {
            errors.push(SpecError {
                key: format!("{} ({})", o.path, o.source),
                value: format!("{:?}", o.value),
                allowed,
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SpecErrors(errors))
    }
}

fn number(value: &str) -> Result<f64, String> {
    value
        .trim()
        .parse::<f64>()
        .map_err(|_| "a number".to_string())
}

fn apply_one(spec: &mut ServiceSpec, o: &Override) -> Result<(), String> {
    let value = o.value.as_str();
    match o.path.as_str() {
        "placement_strategy" => {
            spec.placement_strategy = match value.trim() {
                "binpack" => PlacementStrategy::Binpack,
                "spread" => PlacementStrategy::Spread,
                _ => return Err("\"binpack\" or \"spread\"".into()),
            }
        }
        "staging_timeout_seconds" => spec.staging_timeout_seconds = number(value)?,
        "executor.cpus" => spec.executor.cpus = number(value)?,
        "executor.mem" => spec.executor.mem = number(value)?,
        "executor.disk" => spec.executor.disk = number(value)?,
        path => {
            let groups: Vec<String> = spec.groups.iter().map(|g| g.name.clone()).collect();
            let known = || {
                format!(
                    "one of {GLOBAL_KEYS:?} or <group>.<key> with group in {groups:?} and key in {GROUP_KEYS:?}"
                )
            };
            let Some((group_name, key)) = path.rsplit_once('.') else {
                return Err(known());
            };
            let Some(gi) = spec.groups.iter().position(|g| g.name == group_name) else {
                return Err(known());
            };
            let group = &mut spec.groups[gi];
            match key {
                "count" => {
                    group.count = value
                        .trim()
                        .parse()
                        .map_err(|_| "a whole number >= 0".to_string())?
                }
                "cpus" => {
                    let v = number(value)?;
                    group.tasks.iter_mut().for_each(|t| t.cpus = v);
                }
                "mem" => {
                    let v = number(value)?;
                    group.tasks.iter_mut().for_each(|t| t.mem = v);
                }
                "disk" => {
                    let v = number(value)?;
                    group.tasks.iter_mut().for_each(|t| t.disk = v);
                }
                "role" => group.role = Some(value.trim().to_string()),
                "placement" => {
                    group.placement = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                }
                _ => return Err(known()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec::parse(
            r#"
            [[groups]]
            name = "stream-proc"
            count = 1
            [[groups.tasks]]
            name = "main"
            command = "./cartrack-worker"
            cpus = 0.1
            mem = 64
            "#,
        )
        .expect("parses")
    }

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_overrides_set_group_and_global_keys() {
        let mut s = spec();
        apply_env_overrides(
            &mut s,
            vars(&[
                ("CARTRACK_STREAM_PROC_COUNT", "4"),
                ("CARTRACK_STREAM_PROC_MEM", "128"),
                (
                    "CARTRACK_STREAM_PROC_PLACEMENT",
                    "hostname:UNIQUE, rack:GROUP_BY",
                ),
                ("CARTRACK_PLACEMENT_STRATEGY", "spread"),
                ("CARTRACK_EXECUTOR_MEM", "48"),
                ("CARTRACK_MASTER", "http://x:5050"),
            ]),
        )
        .expect("applies");
        assert_eq!(s.groups[0].count, 4);
        assert_eq!(s.groups[0].tasks[0].mem, 128.0);
        assert_eq!(
            s.groups[0].placement,
            vec!["hostname:UNIQUE", "rack:GROUP_BY"]
        );
        assert_eq!(s.placement_strategy, PlacementStrategy::Spread);
        assert_eq!(s.executor.mem, 48.0);
    }

    #[test]
    fn env_override_with_bad_value_names_variable() {
        let mut s = spec();
        let err = apply_env_overrides(&mut s, vars(&[("CARTRACK_STREAM_PROC_COUNT", "many")]))
            .expect_err("bad count");
        let text = err.to_string();
        assert!(
            text.contains("CARTRACK_STREAM_PROC_COUNT") && text.contains("many"),
            "{text}"
        );
    }

    #[test]
    fn a_misspelt_group_variable_is_reported_with_the_closest_groups_variable() {
        let mut s = spec();
        s.groups[0]
            .env
            .insert("SHARDS".into(), "${CARTRACK_SHARD_COUNT:-1}".into());
        let found = unknown_group_variables(
            &s,
            [
                "CARTRACK_STREAM_PRO_COUNT",
                "CARTRACK_STREAM_PROC_COUNT",
                "CARTRACK_EXECUTOR_MEM",
                "CARTRACK_PLACEMENT_STRATEGY",
                "CARTRACK_SHARD_COUNT",
                "CARTRACK_COUNT",
                "CARTRACK_KAFKA",
                "PROCESSOR_COUNT",
            ],
        );
        assert_eq!(
            found,
            vec![UnknownGroupVariable {
                name: "CARTRACK_STREAM_PRO_COUNT".into(),
                group: "stream-pro".into(),
                groups: vec!["stream-proc".into()],
                suggestion: Some("CARTRACK_STREAM_PROC_COUNT".into()),
            }]
        );
        assert_eq!(
            found[0].to_string(),
            "CARTRACK_STREAM_PRO_COUNT is ignored: the spec has no group \"stream-pro\" \
             (groups: stream-proc); did you mean CARTRACK_STREAM_PROC_COUNT?"
        );
    }

    #[test]
    fn set_flag_overrides_and_rejects_unknown_paths() {
        let mut s = spec();
        let o = Override::from_flag("stream-proc.cpus=0.5").expect("parses");
        apply_overrides(&mut s, &[o]).expect("applies");
        assert_eq!(s.groups[0].tasks[0].cpus, 0.5);
        let bad = Override::from_flag("nosuch.count=1").expect("parses");
        let err = apply_overrides(&mut s, &[bad]).expect_err("unknown group");
        assert!(err.to_string().contains("stream-proc"), "{err}");
        assert!(Override::from_flag("no-equals").is_err());
    }
}
