//! The load sampler (adapter): every interval it asks the driver's loop which pods to
//! measure ([`probes`]), reads their `/metrics` concurrently, and hands the loop one
//! [`LoadSample`] per autoscaled group. Off the loop: a slow or dead pod costs a missing
//! value, never a stalled scheduler.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;

use super::scrape::sum_by_suffix;
use crate::driver::{Core, Handle};
use crate::planner::autoscale::LoadSample;
use crate::records::TaskPhase;
use crate::spec::LoadMetric;

/// The longest one pod's `/metrics` may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// What to measure for one autoscaled group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The autoscaled group.
    pub group: String,
    /// Its metric.
    pub metric: LoadMetric,
    /// The source group's running pods: (task id, `/metrics` URL).
    pub endpoints: Vec<(String, String)>,
}

/// The probes of every autoscaled group of the core's target (pure).
pub fn probes(core: &Core) -> Vec<Probe> {
    let spec = core.spec();
    spec.groups
        .iter()
        .filter_map(|group| {
            let rules = group.autoscale.as_ref()?;
            let endpoints = core
                .state()
                .tasks
                .values()
                .filter(|t| t.group == rules.source && t.holds_slot())
                .filter(|t| t.state == TaskPhase::Running)
                .filter_map(|t| {
                    let port = t.ports.get(&rules.port)?;
                    Some((
                        t.task_id.clone(),
                        format!("http://{}:{port}/metrics", t.hostname),
                    ))
                })
                .collect();
            Some(Probe {
                group: group.name.clone(),
                metric: rules.metric,
                endpoints,
            })
        })
        .collect()
}

/// The series each metric reads.
fn suffix(metric: LoadMetric) -> &'static str {
    match metric {
        LoadMetric::Lag => "_consumer_lag_records",
        LoadMetric::IngestRate => "_records_out_total",
    }
}

/// Counter readings kept to turn `ingest_rate`'s counters into rates, per task id.
#[derive(Debug, Default)]
struct Rates {
    last: HashMap<String, (f64, Instant)>,
}

impl Rates {
    /// The rate of `task`'s counter since its last reading; `None` on the first reading and
    /// after a reset (a restarted pod starts again from 0).
    fn rate(&mut self, task: &str, value: f64, at: Instant) -> Option<f64> {
        let previous = self.last.insert(task.to_string(), (value, at));
        let (before, then) = previous?;
        let seconds = at.duration_since(then).as_secs_f64();
        (value >= before && seconds > 0.0).then(|| (value - before) / seconds)
    }

    /// Forgets tasks no longer asked.
    fn retain(&mut self, asked: &[&str]) {
        self.last.retain(|task, _| asked.contains(&task.as_str()));
    }
}

/// Samples every `interval` until the loop goes away.
pub async fn run(driver: Handle, workers: reqwest::Client, interval: Duration) {
    let mut rates = Rates::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let probes = match driver.read(|core, _| probes(core)).await {
            Ok(probes) => probes,
            Err(crate::driver::AskError::Gone) => return,
            Err(err) => {
                tracing::debug!(error = %err, "no probes this round");
                continue;
            }
        };
        let asked: Vec<String> = probes
            .iter()
            .flat_map(|p| p.endpoints.iter().map(|(task, _)| task.clone()))
            .collect();
        for probe in probes {
            let sample = measure(&workers, &probe, &mut rates).await;
            if driver.observe(sample).await == Err(crate::driver::AskError::Gone) {
                return;
            }
        }
        rates.retain(&asked.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

/// One group's sample: its pods asked concurrently, each within [`SCRAPE_TIMEOUT`].
async fn measure(workers: &reqwest::Client, probe: &Probe, rates: &mut Rates) -> LoadSample {
    let suffix = suffix(probe.metric);
    let readings = join_all(probe.endpoints.iter().map(|(task, url)| async move {
        let text = async {
            let response = workers.get(url).timeout(SCRAPE_TIMEOUT).send().await?;
            response.error_for_status()?.text().await
        };
        match text.await {
            Ok(text) => (task, sum_by_suffix(&text, suffix)),
            Err(err) => {
                tracing::debug!(task, error = %err, "no metrics from this pod");
                (task, None)
            }
        }
    }))
    .await;
    let at = Instant::now();
    let mut value = None;
    let mut reporting = 0;
    for (task, reading) in readings {
        let reading = match (probe.metric, reading) {
            (LoadMetric::IngestRate, Some(total)) => rates.rate(task, total, at),
            (_, reading) => reading,
        };
        if let Some(reading) = reading {
            *value.get_or_insert(0.0) += reading;
            reporting += 1;
        }
    }
    LoadSample {
        group: probe.group.clone(),
        value,
        reporting,
        asked: probe.endpoints.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_needs_two_readings_and_a_reset_is_no_rate() {
        let mut rates = Rates::default();
        let t0 = Instant::now();
        assert_eq!(rates.rate("a", 100.0, t0), None);
        assert_eq!(
            rates.rate("a", 300.0, t0 + Duration::from_secs(2)),
            Some(100.0)
        );
        // Restarted: the counter starts again from 0.
        assert_eq!(rates.rate("a", 5.0, t0 + Duration::from_secs(3)), None);
        assert_eq!(
            rates.rate("a", 15.0, t0 + Duration::from_secs(4)),
            Some(10.0)
        );
        rates.retain(&[]);
        assert_eq!(rates.rate("a", 20.0, t0 + Duration::from_secs(5)), None);
    }
}
