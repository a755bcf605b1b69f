//! `distinct_hosts` (`--distinct-hosts`): agent i is 127.0.0.(i + 2) in offers, `/state` and
//! its executor endpoint, and what it launches gets that address as `HOST` and
//! `CARTRACK_HTTP_HOST` and is reachable there.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use mesos_proto::v1::{value, CommandInfo, Offer, Resource, TaskInfo, TaskState};
use support::*;

async fn distinct_cluster() -> (cartrack_devcluster::DevCluster, tempfile::TempDir) {
    cluster(|c| {
        c.agents = 3;
        c.distinct_hosts = true;
    })
    .await
}

/// The address agent `index` should have.
fn host_of(index: usize) -> String {
    format!("127.0.0.{}", index + 2)
}

/// One offer from each of the cluster's agents (offers are held until used, so no agent is
/// offered twice meanwhile).
async fn one_offer_per_agent(s: &mut TestScheduler, agents: usize) -> Vec<Offer> {
    let mut offers = Vec::new();
    for _ in 0..agents {
        offers.push(s.offer().await);
    }
    offers
}

/// The first port of an offer's `ports` range.
fn first_port(offer: &Offer) -> u16 {
    let begin = offer
        .resources
        .iter()
        .find(|r| r.name == "ports")
        .and_then(|r| r.ranges.as_ref())
        .and_then(|r| r.range.first())
        .map(|r| r.begin)
        .expect("the offer has ports");
    u16::try_from(begin).expect("a port")
}

fn one_port(port: u16) -> Resource {
    Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: vec![value::Range {
                begin: u64::from(port),
                end: u64::from(port),
            }],
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn each_agent_has_its_own_loopback_hostname_in_offers_state_and_endpoint() {
    let (cluster, _dir) = distinct_cluster().await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("h", &[])).await;
    let offers = one_offer_per_agent(&mut s, 3).await;
    let ids = cluster.agent_ids();
    let hostnames: BTreeSet<&str> = offers.iter().map(|o| o.hostname.as_str()).collect();
    let expected: BTreeSet<String> = (0..3).map(host_of).collect();
    assert_eq!(
        hostnames,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    for offer in &offers {
        let index = ids
            .iter()
            .position(|id| *id == offer.agent_id.value)
            .expect("a known agent");
        assert_eq!(offer.hostname, host_of(index), "agent {index}'s offer");
    }

    let state: serde_json::Value = reqwest::get(format!("{}/state", cluster.master_url()))
        .await
        .expect("state answers")
        .json()
        .await
        .expect("state is JSON");
    let slaves = state["slaves"].as_array().expect("slaves");
    assert_eq!(slaves.len(), 3);
    for (index, id) in ids.iter().enumerate() {
        let slave = slaves
            .iter()
            .find(|x| x["id"] == id.as_str())
            .expect("agent in /state");
        assert_eq!(slave["hostname"], host_of(index).as_str(), "/state of {id}");
        let endpoint = cluster.agent_endpoint(id).expect("endpoint");
        assert!(
            endpoint.starts_with(&format!("{}:", host_of(index))),
            "{id}'s executor endpoint {endpoint}"
        );
    }
    // The master itself stays on 127.0.0.1.
    assert!(cluster.master_url().starts_with("http://127.0.0.1:"));
}

#[tokio::test]
async fn a_command_task_gets_its_agents_address_and_is_reachable_at_the_offers_hostname() {
    let (cluster, _dir) = distinct_cluster().await;
    let mut s = TestScheduler::subscribe(&cluster.master_url(), framework("h", &[])).await;
    let offers = one_offer_per_agent(&mut s, 3).await;
    // One small web server per agent, bound to $HOST, serving what it saw in its environment.
    let mut served = Vec::new();
    for (i, offer) in offers.iter().enumerate() {
        let port = first_port(offer);
        let id = format!("web{i}");
        let mut web: TaskInfo = task(&id, &offer.agent_id.value, "", None);
        web.resources.push(one_port(port));
        web.command = Some(CommandInfo {
            value: Some(format!(
                "printf '%s %s' \"$HOST\" \"$CARTRACK_HTTP_HOST\" > host.txt && \
                 exec python3 -m http.server --bind \"$HOST\" {port}"
            )),
            ..Default::default()
        });
        assert_eq!(s.accept(&[&offer.id], vec![launch(vec![web])]).await, 202);
        served.push((id, offer.hostname.clone(), port));
    }
    for (id, _, _) in &served {
        let running = s.until_state(id, TaskState::TaskRunning).await;
        assert!(running.uuid.is_some());
    }

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    for (id, hostname, port) in &served {
        // The server starts after RUNNING: poll it with a deadline.
        let url = format!("http://{hostname}:{port}/host.txt");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let body = loop {
            if let Ok(response) = http.get(&url).send().await {
                if response.status().is_success() {
                    break response.text().await.expect("body");
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} never answered at {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            body,
            format!("{hostname} {hostname}"),
            "{id}'s HOST and CARTRACK_HTTP_HOST"
        );
    }
    // Each server is bound to its own agent's address only: another agent's address at the
    // same port refuses the connection.
    let (_, first_host, first_port) = &served[0];
    let (_, other_host, _) = &served[1];
    assert_ne!(first_host, other_host);
    let elsewhere = tokio::net::TcpStream::connect((other_host.as_str(), *first_port)).await;
    assert!(
        elsewhere.is_err(),
        "{other_host}:{first_port} should not be served"
    );
}

/// Kills the binary if a test fails half way.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_takes_distinct_hosts_from_its_env_var() {
    let dir = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_cartrack-devcluster"))
        .args(["--agents", "2", "--port", "0"])
        .arg("--work-dir")
        .arg(dir.path())
        .env("DEVCLUSTER_DISTINCT_HOSTS", "true")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("log file"))
        .spawn()
        .expect("binary starts");
    let mut guard = Guard(child);
    let stdout = guard.0.stdout.take().expect("stdout");
    // The banner: master, standby, then one "agent: ID HOST:PORT" line per agent.
    let banner = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(4)
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .expect("reader")
    .expect("banner");
    let endpoints: Vec<&str> = banner
        .iter()
        .filter_map(|l| l.strip_prefix("agent: "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(endpoints.len(), 2, "{banner:?}");
    for (index, endpoint) in endpoints.iter().enumerate() {
        assert!(
            endpoint.starts_with(&format!("{}:", host_of(index))),
            "{banner:?}"
        );
    }
}
