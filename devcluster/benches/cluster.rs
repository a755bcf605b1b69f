//! How much the dev cluster itself costs: the core's allocation tick on a large cluster, and a
//! scheduler call's round trip over loopback HTTP.

use std::time::{Duration, Instant};

use cartrack_devcluster::core::{Agent, Core, CoreConfig};
use cartrack_devcluster::resources::Resources;
use cartrack_devcluster::{ClusterConfig, DevCluster};
use criterion::{criterion_group, criterion_main, Criterion};
use mesos_proto::v1::scheduler::{call, Call};
use mesos_proto::v1::{FrameworkId, FrameworkInfo};
use prost::Message as _;

fn config() -> CoreConfig {
    CoreConfig {
        heartbeat_interval: Duration::from_secs(15),
        status_update_retry: Duration::from_secs(10),
        executor_registration_timeout: Duration::from_secs(60),
        agent_unreachable_timeout: Duration::from_secs(75),
        executor_shutdown_grace: Duration::from_secs(5),
    }
}

fn framework(name: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: "bench".into(),
        name: name.into(),
        ..Default::default()
    }
}

/// One tick offering 100 agents to 10 frameworks, then every offer declined with refuse 0.
fn core_tick(c: &mut Criterion) {
    let total = Resources::parse("cpus:4;mem:8192;disk:20000;ports:[31000-32999]")
        .expect("valid resources"); // ok: constant
    let agents = (0..100)
        .map(|i| Agent::new(format!("a{i}"), total.clone(), Resources::default(), vec![]))
        .collect();
    let now = Instant::now();
    let mut core = Core::new(config(), "bench".into(), agents, now);
    let ids: Vec<String> = (0..10)
        .map(|i| {
            core.subscribe(framework(&format!("f{i}")), now)
                .expect("subscribes") // ok: valid FrameworkInfo
                .framework_id
        })
        .collect();
    core.take_effects();
    c.bench_function(
        "core_tick_offer_and_decline_100_agents_10_frameworks",
        |b| {
            b.iter(|| {
                core.tick(now);
                core.take_effects();
                let offers: Vec<(String, String)> = core
                    .offers
                    .iter()
                    .map(|(id, o)| (id.clone(), o.framework_id.clone()))
                    .collect();
                for (offer_id, fid) in offers {
                    let decline = Call {
                        framework_id: Some(FrameworkId { value: fid.clone() }),
                        r#type: Some(call::Type::Decline as i32),
                        decline: Some(call::Decline {
                            offer_ids: vec![mesos_proto::v1::OfferId { value: offer_id }],
                            filters: Some(mesos_proto::v1::Filters {
                                refuse_seconds: Some(0.0),
                            }),
                        }),
                        ..Default::default()
                    };
                    let _ = core.handle_call(&fid, decline, now);
                }
                core.take_effects();
            })
        },
    );
    drop(ids);
}

/// REVIVE over loopback HTTP: request, stream-id checks, 202.
fn call_round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime"); // ok: bench setup
    let dir = tempfile::tempdir().expect("temp dir"); // ok: bench setup
    let (cluster, framework_id, stream_id, _response) = rt.block_on(async {
        let cluster = DevCluster::start(ClusterConfig {
            agents: 1,
            work_dir: dir.path().to_path_buf(),
            ..Default::default()
        })
        .await
        .expect("cluster starts"); // ok: bench setup
        let subscribe = Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: framework("bench"),
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/scheduler", cluster.master_url()))
            .header("Content-Type", "application/x-protobuf")
            .body(subscribe.encode_to_vec())
            .send()
            .await
            .expect("subscribes"); // ok: bench setup
        let stream_id = response.headers()["Mesos-Stream-Id"]
            .to_str()
            .expect("ascii") // ok: bench setup
            .to_string();
        let state: serde_json::Value = reqwest::get(format!("{}/state", cluster.master_url()))
            .await
            .expect("state") // ok: bench setup
            .json()
            .await
            .expect("json"); // ok: bench setup
        let framework_id = state["frameworks"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (cluster, framework_id, stream_id, response)
    });
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/scheduler", cluster.master_url());
    let revive = Call {
        framework_id: Some(FrameworkId {
            value: framework_id,
        }),
        r#type: Some(call::Type::Revive as i32),
        ..Default::default()
    }
    .encode_to_vec();
    c.bench_function("scheduler_call_round_trip_revive", |b| {
        b.iter(|| {
            rt.block_on(async {
                let status = client
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .header("Mesos-Stream-Id", &stream_id)
                    .body(revive.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                assert_eq!(status.ok(), Some(202));
            })
        })
    });
    rt.block_on(cluster.shutdown());
}

criterion_group!(benches, core_tick, call_round_trip);
criterion_main!(benches);
