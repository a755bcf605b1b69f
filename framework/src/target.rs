//! The target configuration: what the scheduler wants running — the spec after overrides and
//! the binaries pods are launched from — kept as numbered, content-hashed versions. Each pod
//! records the version it was launched with; a pod whose group's *pod template* (everything
//! but the count) differs from the target's is replaced by a rolling update, so a count-only
//! change scales without replacing anything.
//!
//! Pure: hashing is over the canonical JSON of plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::{
    executor_id, validate, DeploySpec, ExecutorSpec, GroupSpec, ServiceSpec, SpecErrors,
    ValidatedSpec,
};

/// Versions kept. The target and those a live pod runs are never dropped, so pods spread
/// over many versions keep more.
pub const KEPT_VERSIONS: usize = 10;

/// Where executors get their binaries: the agent's fetcher puts `cartrack-executor` and
/// `cartrack-worker` at the top of every executor sandbox either way, so commands stay
/// `./cartrack-executor` and `./cartrack-worker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Binaries {
    /// Each binary fetched by itself: a development build, or files already on the agents.
    Files {
        /// URI of `cartrack-executor`.
        executor_uri: String,
        /// URI of `cartrack-worker`.
        worker_uri: String,
    },
    /// The release tarball, unpacked by the fetcher: one download per executor, and the
    /// executor and worker always come from the same release.
    Release {
        /// URI of the tarball: an archive the Mesos fetcher unpacks
        /// ([`mesos_proto::fetcher::unpacks`]).
        uri: String,
    },
}

/// How a version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The scheduler's own spec and flags, at a start where they had changed.
    Startup,
    /// `cartrack update` (`PUT /v1/config`).
    Update,
    /// `abort` of a deployment: the version before it, again.
    Rollback,
}

/// One stored target configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigVersion {
    /// 1, 2, ...: never reused.
    pub id: u32,
    /// SHA-256 of `spec` and `binaries` (hex).
    pub sha256: String,
    /// When it was made (ms since the epoch).
    pub created_ms: u64,
    /// Why.
    pub origin: Origin,
    /// The spec after interpolation and overrides, each group's role filled in.
    pub spec: ServiceSpec,
    /// The binaries pods are launched from.
    pub binaries: Binaries,
    /// Per group, the hash of what one of its pods is launched with.
    pub pods: BTreeMap<String, String>,
}

/// A version ready to launch from: the stored version and its validated spec, whose groups'
/// executor ids name the executor settings (a new `ExecutorInfo` gets a new executor).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The version.
    pub version: ConfigVersion,
    /// Its validated spec.
    pub spec: ValidatedSpec,
}

fn sha256_json(value: &impl Serialize) -> String {
    // Serializing plain data (strings, numbers, BTreeMaps) cannot fail.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What one pod of `group` is launched with, count left out.
#[derive(Serialize)]
struct PodTemplate<'a> {
    group: GroupSpec,
    executor: &'a ExecutorSpec,
    binaries: &'a Binaries,
}

/// The settings an executor is started with: a change gets a new executor id.
fn executor_fingerprint(executor: &ExecutorSpec, binaries: &Binaries) -> String {
    let mut hash = sha256_json(&(executor, binaries));
    hash.truncate(8);
    hash
}

/// The executor id for pods of `role` under these settings.
pub fn versioned_executor_id(role: &str, executor: &ExecutorSpec, binaries: &Binaries) -> String {
    format!(
        "{}.{}",
        executor_id(role),
        executor_fingerprint(executor, binaries)
    )
}

impl ConfigVersion {
    /// Version `id` of `spec` (its groups' roles filled in) and `binaries`.
    pub fn new(
        id: u32,
        spec: ServiceSpec,
        binaries: Binaries,
        origin: Origin,
        created_ms: u64,
    ) -> ConfigVersion {
        let pods = spec
            .groups
            .iter()
            .map(|group| {
                let template = PodTemplate {
                    group: GroupSpec {
                        count: 0,
                        deploy: DeploySpec::default(),
                        autoscale: None,
                        ..group.clone()
                    },
                    executor: &spec.executor,
                    binaries: &binaries,
                };
                (group.name.clone(), sha256_json(&template))
            })
            .collect();
        ConfigVersion {
            id,
            sha256: config_sha256(&spec, &binaries),
            created_ms,
            origin,
            spec,
            binaries,
            pods,
        }
    }
}

impl Target {
    /// Makes version `id` of a validated spec and `binaries`.
    pub fn new(
        id: u32,
        mut spec: ValidatedSpec,
        binaries: Binaries,
        origin: Origin,
        created_ms: u64,
    ) -> Target {
        for (plan, group) in spec.groups.iter().zip(&mut spec.source.groups) {
            group.role = Some(plan.role.clone());
        }
        let version = ConfigVersion::new(id, spec.source.clone(), binaries, origin, created_ms);
        Target::stamped(version, spec)
    }

    /// A stored version, validated again for launching (the framework's roles may have
    /// changed since it was made).
    pub fn from_version(version: ConfigVersion, roles: &[String]) -> Result<Target, SpecErrors> {
        let spec = validate(&version.spec, roles)?;
        Ok(Target::stamped(version, spec))
    }

    fn stamped(version: ConfigVersion, mut spec: ValidatedSpec) -> Target {
        for plan in &mut spec.groups {
            plan.executor_id =
                versioned_executor_id(&plan.role, &version.spec.executor, &version.binaries);
        }
        Target { version, spec }
    }

    /// The version id.
    pub fn id(&self) -> u32 {
        self.version.id
    }

    /// Whether a pod of `group` launched with `version` runs what this target wants (an
    /// unknown version does not).
    pub fn runs_current(&self, group: &str, version: Option<&ConfigVersion>) -> bool {
        version.is_some_and(|v| v.pods.get(group) == self.version.pods.get(group))
    }
}

/// The content hash of a configuration (spec with roles filled in, and binaries).
pub fn config_sha256(spec: &ServiceSpec, binaries: &Binaries) -> String {
    sha256_json(&(spec, binaries))
}

/// The ids to forget once `target` is made: the oldest beyond [`KEPT_VERSIONS`], sparing the
/// target and every version in `in_use` (a live pod runs it, or a rollback may need it).
pub fn pruned(
    versions: &BTreeMap<u32, ConfigVersion>,
    target: u32,
    in_use: &std::collections::BTreeSet<u32>,
) -> Vec<u32> {
    let spare = |id: &u32| *id == target || in_use.contains(id);
    let excess = versions.len().saturating_sub(KEPT_VERSIONS);
    versions
        .keys()
        .filter(|id| !spare(id))
        .take(excess)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::spec;

    fn files(worker: &str) -> Binaries {
        Binaries::Files {
            executor_uri: "file:///e".into(),
            worker_uri: worker.into(),
        }
    }

    const SPEC: &str = r#"
        [[groups]]
        name = "web"
        count = 2
        [[groups.tasks]]
        name = "main"
        command = "./cartrack-worker"
        cpus = 0.1
        mem = 32
        [[groups]]
        name = "db"
        count = 1
        [[groups.tasks]]
        name = "main"
        command = "./cartrack-worker"
        cpus = 0.1
        mem = 32
    "#;

    #[test]
    fn deploy_settings_are_not_part_of_the_pod() {
        let v1 = Target::new(1, spec(SPEC), files("file:///w"), Origin::Startup, 0);
        let slower = SPEC.replacen(
            "count = 2",
            "count = 2\ndeploy = { max_unavailable = 2, min_ready_seconds = 30 }",
            1,
        );
        let v2 = Target::new(2, spec(&slower), files("file:///w"), Origin::Update, 0);
        assert_ne!(v1.version.sha256, v2.version.sha256);
        assert!(v2.runs_current("web", Some(&v1.version)));
    }

    #[test]
    fn a_count_change_keeps_the_pod_template_and_an_env_change_does_not() {
        let v1 = Target::new(1, spec(SPEC), files("file:///w"), Origin::Startup, 0);
        let more = SPEC.replacen("count = 2", "count = 5", 1);
        let v2 = Target::new(2, spec(&more), files("file:///w"), Origin::Update, 0);
        assert_ne!(v1.version.sha256, v2.version.sha256);
        assert!(v2.runs_current("web", Some(&v1.version)));
        let env = SPEC.replacen("cpus = 0.1", "cpus = 0.1\nenv = { A = \"1\" }", 1);
        let v3 = Target::new(3, spec(&env), files("file:///w"), Origin::Update, 0);
        assert!(!v3.runs_current("web", Some(&v1.version)));
        assert!(v3.runs_current("db", Some(&v1.version)));
        assert!(!v3.runs_current("db", None));
    }

    #[test]
    fn new_binaries_replace_every_pod_and_name_a_new_executor() {
        let v1 = Target::new(1, spec(SPEC), files("file:///w"), Origin::Startup, 0);
        let v2 = Target::new(2, spec(SPEC), files("file:///w2"), Origin::Update, 0);
        assert!(!v2.runs_current("web", Some(&v1.version)));
        assert!(!v2.runs_current("db", Some(&v1.version)));
        assert_ne!(v1.spec.groups[0].executor_id, v2.spec.groups[0].executor_id);
        assert!(v1.spec.groups[0]
            .executor_id
            .starts_with("cartrack-executor._."));
        let same = Target::new(7, spec(SPEC), files("file:///w"), Origin::Update, 9);
        assert_eq!(same.version.sha256, v1.version.sha256);
        assert_eq!(
            same.spec.groups[0].executor_id,
            v1.spec.groups[0].executor_id
        );
        let stored = Target::from_version(v2.version.clone(), &["*".to_string()]);
        assert_eq!(stored.as_ref().ok(), Some(&v2));
    }

    #[test]
    fn pruning_keeps_ten_and_every_version_in_use() {
        let v = Target::new(1, spec(SPEC), files("file:///w"), Origin::Startup, 0).version;
        let versions: BTreeMap<u32, ConfigVersion> = (1..=13)
            .map(|id| (id, ConfigVersion { id, ..v.clone() }))
            .collect();
        let in_use = [2u32].into_iter().collect();
        assert_eq!(pruned(&versions, 13, &in_use), vec![1, 3, 4]);
    }
}
