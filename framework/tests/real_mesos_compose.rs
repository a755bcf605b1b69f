//! The Docker path without Docker: `deploy/docker-compose.yml`'s Mesos master and agent run
//! natively from the real Mesos install, with the compose file's `MESOS_*` settings as flags.
//! Only paths, ports and the ZooKeeper address are replaced — each replacement is listed in
//! the test's output — and the scheduler runs against the result as the compose file's
//! comment tells a user to run it.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use cartrack_testcluster::{DaemonFlags, MesosHome, RealMesos};
use cartrack_zookeeper::testkit::TestZooKeeper;
use support::{free_port, write_spec, Scheduler};
use yaml_rust2::{Yaml, YamlLoader};

/// One service's `environment`, as `NAME -> value`.
fn environment(compose: &Yaml, service: &str) -> BTreeMap<String, String> {
    let env = compose["services"][service]["environment"]
        .as_hash()
        .unwrap_or_else(|| panic!("services.{service}.environment is a map"));
    env.iter()
        .map(|(k, v)| {
            let value = match v {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                other => panic!("{service}: unexpected value {other:?}"),
            };
            (k.as_str().expect("string keys").to_string(), value)
        })
        .collect()
}

/// `MESOS_WORK_DIR: x` -> `--work_dir=x`, with `replace` applied (by flag name) and listed.
fn flags(
    service: &str,
    env: &BTreeMap<String, String>,
    replace: &BTreeMap<&str, String>,
    replaced: &mut Vec<String>,
) -> Vec<String> {
    let mut flags = Vec::new();
    for (name, value) in env {
        let flag = name
            .strip_prefix("MESOS_")
            .unwrap_or_else(|| panic!("{service}: {name} is not a MESOS_* setting"))
            .to_lowercase();
        let value = match replace.get(flag.as_str()) {
            Some(new) => {
                replaced.push(format!("{service}: --{flag}: {value} -> {new}"));
                new.clone()
            }
            None => value.clone(),
        };
        flags.push(format!("--{flag}={value}"));
    }
    for (flag, value) in replace {
        if !env.contains_key(&format!("MESOS_{}", flag.to_uppercase())) {
            replaced.push(format!("{service}: --{flag}: (image default) -> {value}"));
            flags.push(format!("--{flag}={value}"));
        }
    }
    flags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
async fn the_compose_file_s_mesos_settings_run_natively_and_the_scheduler_converges() {
    let home = MesosHome::from_env().expect("CARTRACK_MESOS_HOME");
    let compose_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/docker-compose.yml");
    let text = std::fs::read_to_string(&compose_path).expect("read the compose file");
    let compose = YamlLoader::load_from_str(&text)
        .expect("valid YAML")
        .pop()
        .expect("one document");
    let master_env = environment(&compose, "mesos-master");
    let agent_env = environment(&compose, "mesos-agent");
    let zk = TestZooKeeper::start().expect("ZooKeeper starts");
    let zk_url = zk.url("/mesos");
    let (master_port, agent_port) = (free_port(), free_port());

    let mut replaced = Vec::new();
    let mesos = RealMesos::start_with_flags(home.clone(), |run| {
        let path = |p: &str| run.join(p).display().to_string();
        let master_replace = BTreeMap::from([
            ("zk", zk_url.clone()),
            ("port", master_port.to_string()),
            ("work_dir", path("master")),
        ]);
        let agent_replace = BTreeMap::from([
            ("master", zk_url.clone()),
            ("port", agent_port.to_string()),
            ("work_dir", path("agent")),
            // Paths the image has at Mesos' defaults, which on a shared host would collide
            // with other agents (or not exist).
            ("runtime_dir", path("agent-runtime")),
            ("fetcher_cache_dir", path("fetch-cache")),
            (
                "launcher_dir",
                home.root().join("libexec/mesos").display().to_string(),
            ),
        ]);
        DaemonFlags {
            masters: vec![flags(
                "mesos-master",
                &master_env,
                &master_replace,
                &mut replaced,
            )],
            agents: vec![flags(
                "mesos-agent",
                &agent_env,
                &agent_replace,
                &mut replaced,
            )],
        }
    })
    .await
    .expect("the compose settings start a real master and agent");
    println!("replacements of the compose file's settings:");
    for line in &replaced {
        println!("  {line}");
    }
    // Nothing but paths, ports and the ZooKeeper address was replaced.
    for line in &replaced {
        let flag = line.split("--").nth(1).and_then(|f| f.split(':').next());
        assert!(
            matches!(
                flag,
                Some(
                    "zk" | "master"
                        | "port"
                        | "work_dir"
                        | "runtime_dir"
                        | "fetcher_cache_dir"
                        | "launcher_dir"
                )
            ),
            "replaced more than paths, ports and ZooKeeper: {line}"
        );
    }

    // The scheduler as the compose file's comment runs it (the stand-in worker instead of
    // the real one, so no Kafka is needed).
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(
        dir.path(),
        "[[groups]]\nname = \"processor\"\ncount = 2\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"process\"]\ncpus = 0.1\nmem = 32\ndisk = 8\n",
    );
    let scheduler = Scheduler::start(dir.path(), &mesos.master_url(), &spec, &[]);
    let state = scheduler.wait_running(2, Duration::from_secs(60)).await;
    let framework_id = state["framework_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut mesos = mesos;
    let master_state = mesos.state().await.expect("master state");
    let running: usize = master_state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"] == framework_id.as_str())
        .map(|f| {
            f["tasks"].as_array().map_or(0, |t| {
                t.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
            })
        })
        .sum();
    assert_eq!(running, 2, "the master runs both pods: {master_state}");
}
