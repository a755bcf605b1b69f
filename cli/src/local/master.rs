//! `cartrack local --master`: an existing Mesos instead of the dev cluster.
//!
//! The scheduler, when stopped, only disconnects: Mesos keeps its framework and every pod for
//! the failover timeout (a week), waiting for it to come back. A local run must leave nothing
//! behind, so once the scheduler has stopped the framework is torn down here, with the master
//! operator API's `TEARDOWN` call: the master then kills every cartrack task and executor.
//! The framework id comes from the scheduler's own `/v1/health`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use cartrack_zookeeper::{parse_masters, MasterDetector, MasterListError, MasterSource};

/// How long one request to the scheduler or to a master may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long ZooKeeper may take to name the leading master.
const DETECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The ZooKeeper session asked for while the leader is read (the scheduler's default).
const ZK_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// An existing Mesos, as `--master` names it: a comma list of `http[s]://host:port`, or
/// Mesos' ZooKeeper group `zk://host:port[,host:port]/path`, as the scheduler takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingMaster {
    text: String,
    source: MasterSource,
}

impl ExistingMaster {
    /// Parses `--master` as the scheduler does; the error says what is wrong and how to write
    /// it.
    pub fn parse(text: &str) -> Result<ExistingMaster, MasterListError> {
        Ok(ExistingMaster {
            text: text.trim().to_string(),
            source: parse_masters(text)?,
        })
    }

    /// The flag's value, as the scheduler's `--master` takes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Masters to send a call to, in turn: the list, or the leader ZooKeeper names now.
    async fn candidates(&self) -> anyhow::Result<Vec<String>> {
        match &self.source {
            MasterSource::List(list) => Ok(list.clone()),
            MasterSource::ZooKeeper(url) => {
                let zk = cartrack_zookeeper::connect(url, ZK_SESSION_TIMEOUT)
                    .await
                    .with_context(|| format!("cannot reach ZooKeeper {}", self.text))?;
                let mut leader = MasterDetector::spawn(zk, url.path());
                let found = tokio::time::timeout(DETECT_TIMEOUT, leader.wait_for(Option::is_some))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .and_then(|address| address.clone())
                    .map(|address| address.base_url());
                found.map(|url| vec![url]).with_context(|| {
                    format!(
                        "no leading master registered in {} within {DETECT_TIMEOUT:?}",
                        self.text
                    )
                })
            }
        }
    }

    /// Tears the framework down: `TEARDOWN` to the master operator API (`POST /api/v1`),
    /// following a standby's redirect to the leader. Returns the master that did it.
    pub async fn teardown(&self, framework_id: &str) -> anyhow::Result<String> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build an HTTP client")?;
        let body = serde_json::json!({
            "type": "TEARDOWN",
            "teardown": { "framework_id": { "value": framework_id } },
        });
        for master in self.candidates().await? {
            let response = client
                .post(format!("{master}/api/v1"))
                .header(reqwest::header::ACCEPT, "application/json")
                .json(&body)
                .send()
                .await;
            let failure = match response {
                // The URL after a standby's redirect: the leader's.
                Ok(r) if r.status().is_success() => {
                    return Ok(r.url().origin().ascii_serialization())
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    format!("{master}: {status} {}", text.trim())
                        .trim_end()
                        .to_string()
                }
                Err(e) => format!("{master}: {e}"),
            };
            eprintln!("cartrack local: TEARDOWN failed on {failure}");
        }
        anyhow::bail!("no master accepted TEARDOWN of framework {framework_id}")
    }
}

/// The scheduler's framework id, from its `/v1/health`; `None` before its first subscription,
/// or when it does not answer.
pub async fn framework_id(http: SocketAddr) -> Option<String> {
    let health = health(http).await?;
    health["framework_id"].as_str().map(str::to_string)
}

/// The framework id once the scheduler is subscribed now; `None` before.
pub async fn subscribed_framework_id(http: SocketAddr) -> Option<String> {
    let health = health(http).await?;
    if health["subscribed"] != true {
        return None;
    }
    health["framework_id"].as_str().map(str::to_string)
}

async fn health(http: SocketAddr) -> Option<serde_json::Value> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .ok()?;
    client
        .get(format!("http://{http}/v1/health"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_zookeeper_urls_as_the_scheduler_does() {
        let list = ExistingMaster::parse(" http://a:5050/, https://b:5050 ").unwrap();
        assert_eq!(list.as_str(), "http://a:5050/, https://b:5050");
        assert_eq!(
            list.source,
            MasterSource::List(vec!["http://a:5050".into(), "https://b:5050".into()])
        );
        let zk = ExistingMaster::parse("zk://z1:2181,z2:2181/mesos").unwrap();
        assert!(matches!(zk.source, MasterSource::ZooKeeper(ref url) if url.path() == "/mesos"));
        for bad in [
            "",
            "127.0.0.1:5050",
            "ftp://a:5050",
            "http://a:5050/path",
            "zk://",
        ] {
            let err = ExistingMaster::parse(bad).unwrap_err().to_string();
            assert!(err.contains("--master"), "{bad:?}: {err}");
        }
    }
}
