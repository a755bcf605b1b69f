//! The tenant and the cartrack scheduler on one dev-cluster agent: while the tenant's demand
//! fills the agent, cartrack's pod does not fit and its offers are declined; when the demand
//! falls, the tenant's tasks are killed and cartrack's pod runs on the freed resources.
//!
//! The scheduler runs in this process (`cartrack_framework::service::run`, as its binary
//! does); its pods run the real `cartrack-executor` with the framework tests' worker stand-in.

mod support;

#[path = "../../framework/tests/support/binaries.rs"]
mod binaries;

use std::time::Duration;

use cartrack_devcluster::{ClusterConfig, DevCluster, LogEntry};
use cartrack_framework::config::{self, Args};
use cartrack_framework::ha::Fence;
use cartrack_framework::service;
use cartrack_framework::state::FileStore;
use cartrack_zookeeper::testkit::wait_until;
use clap::Parser;
use mesos_proto::v1::scheduler::call;
use support::*;

/// One pod of 0.3 cpus (with its executor's 0.05): it fits the agent's 1 cpu only once the
/// tenant's 9 tasks of 0.1 are gone.
const SPEC: &str = "[[groups]]\nname = \"indexer\"\ncount = 1\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\nargs = [\"index\"]\ncpus = 0.3\nmem = 64\ndisk = 16\n";

/// 9 tasks for the first 15 s (real time), then none; the run goes on until SIGTERM.
const PEAK_THEN_NOTHING: &str =
    "end = 3600\n[[point]]\nat = 0\ntasks = 9\n[[point]]\nat = 15\ntasks = 0\n";

/// The id of the registered framework called `name`.
async fn framework_named(master: &str, name: &str) -> String {
    let id = std::cell::RefCell::new(None);
    let found = wait_until(T, || {
        let id = &id;
        async move {
            let state = master_state(master).await.unwrap_or_default();
            *id.borrow_mut() = state["frameworks"].as_array().and_then(|fs| {
                fs.iter()
                    .find(|f| f["name"] == name)
                    .and_then(|f| f["id"].as_str().map(String::from))
            });
            id.borrow().is_some()
        }
    })
    .await;
    assert!(found, "no framework {name} within {T:?}");
    id.into_inner().expect("id")
}

#[tokio::test]
async fn the_tenant_and_cartrack_compete_for_one_agent() {
    let dir = tempfile::tempdir().expect("tmp");
    let executor = binaries::executor_bin();
    let worker = binaries::fake_worker(dir.path());
    let cluster = DevCluster::start(ClusterConfig {
        agents: 1,
        agent_resources: "cpus:1;mem:2048;disk:20000;ports:[31000-31999]".into(),
        work_dir: dir.path().join("cluster"),
        heartbeat_interval: Duration::from_secs(1),
        status_update_retry: Duration::from_secs(1),
        ..ClusterConfig::default()
    })
    .await
    .expect("dev cluster starts");
    let master = cluster.master_url();

    let curve = write_curve(dir.path(), PEAK_THEN_NOTHING);
    let mut tenant = Tenant::start(dir.path(), &master, &curve, &["--task-cpus", "0.1"]);
    let tenant_id = tenant.framework_id().await;
    wait_master(
        &master,
        &tenant_id,
        "the tenant's 9 tasks RUNNING",
        &tenant,
        |_, t| in_state(t, "TASK_RUNNING").len() == 9,
    )
    .await;

    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, SPEC).expect("write spec");
    let args = Args::try_parse_from([
        "cartrack-scheduler".to_string(),
        "--master".into(),
        master.clone(),
        "--spec".into(),
        spec.display().to_string(),
        "--state-dir".into(),
        dir.path().join("state").display().to_string(),
        "--http".into(),
        "127.0.0.1:0".into(),
        "--executor-uri".into(),
        executor.display().to_string(),
        "--worker-uri".into(),
        worker.display().to_string(),
    ])
    .expect("scheduler flags");
    let settings = config::resolve(&args, SPEC, Vec::new(), None).expect("settings");
    let store = FileStore::open(&settings.state_dir).expect("state dir");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = service::run(settings, store, Fence::none(), async {
        let _ = stopped.await;
    });

    let checks = async {
        let cartrack_id = framework_named(&master, "cartrack").await;
        // cartrack is offered the agent and declines it: its pod does not fit beside the
        // tenant's peak.
        let declined = wait_until(T, || {
            let declined = cluster.log().iter().any(|e| {
                matches!(e, LogEntry::SchedulerCall { framework_id: Some(f), call, .. }
                    if *f == cartrack_id && call.r#type == Some(call::Type::Decline as i32))
            });
            std::future::ready(declined)
        })
        .await;
        assert!(
            declined,
            "cartrack declined no offer; log:\n{}",
            tenant.log()
        );
        let health = tenant.health().await.expect("tenant health");
        assert_eq!(
            health["desired"], 9,
            "the tenant's peak is over before cartrack's first offer (a very slow machine?)"
        );
        let state = master_state(&master).await.expect("master state");
        let (_, cartrack_tasks) = framework_tasks(&state, &cartrack_id);
        assert!(
            !cartrack_tasks.iter().any(|(_, s)| is_live(s)),
            "a cartrack pod runs beside the tenant's peak: {cartrack_tasks:?}"
        );

        // The demand falls: the tenant's tasks are killed, cartrack's pod takes the agent.
        wait_master(
            &master,
            &cartrack_id,
            "cartrack's pod RUNNING",
            &tenant,
            |_, t| in_state(t, "TASK_RUNNING").len() == 1,
        )
        .await;
        let (_, tenant_tasks) = framework_tasks(
            &master_state(&master).await.expect("master state"),
            &tenant_id,
        );
        assert_eq!(in_state(&tenant_tasks, "TASK_KILLED").len(), 9);
        assert!(in_state(&tenant_tasks, "TASK_RUNNING").is_empty());

        tenant.signal("TERM");
        let status = tenant.wait_exit(T).await;
        assert!(status.success(), "{status}; log:\n{}", tenant.log());
        // Tearing the tenant down leaves cartrack's pod alone.
        wait_master(
            &master,
            &tenant_id,
            "the tenant torn down",
            &tenant,
            |registered, _| !registered,
        )
        .await;
        let (registered, cartrack_tasks) = framework_tasks(
            &master_state(&master).await.expect("master state"),
            &cartrack_id,
        );
        assert!(registered);
        assert_eq!(in_state(&cartrack_tasks, "TASK_RUNNING").len(), 1);
        let _ = stop.send(());
    };
    let (result, ()) = tokio::join!(scheduler, checks);
    result.expect("the scheduler ran and stopped cleanly");
}
