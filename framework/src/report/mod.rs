//! The multiplexing report: does running many services' pods on shared agents need fewer
//! agents than giving each service agents of its own? The [`sampler`] (an adapter, off the
//! driver's loop) records the cluster every `--report-interval` from the leading master's
//! `/master/state` and the scheduler's records ([`sample`]); [`compute`] turns a period of
//! samples into a [`Report`] (pure). Samples live in memory only, in a ring of the last
//! [`KEPT_SAMPLES`]: a restarted or newly elected scheduler starts with none.

pub mod compute;
pub mod sample;
pub mod sampler;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub use compute::Report;
pub use sample::{CpusMem, Sample};

/// Samples kept: 24 hours at the default 10 s interval.
pub const KEPT_SAMPLES: usize = 8_640;

/// The kept samples, oldest first; shared by the sampler (writes) and the API (reads). The
/// lock is held only to push one sample or to compute one report.
#[derive(Debug, Clone)]
pub struct Samples {
    ring: Arc<Mutex<VecDeque<Sample>>>,
    capacity: usize,
}

impl Default for Samples {
    fn default() -> Self {
        Samples::with_capacity(KEPT_SAMPLES)
    }
}

impl Samples {
    /// A ring keeping the last `capacity` samples (at least one).
    pub fn with_capacity(capacity: usize) -> Samples {
        Samples {
            ring: Arc::new(Mutex::new(VecDeque::new())),
            capacity: capacity.max(1),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut VecDeque<Sample>) -> T) -> T {
        let mut ring = self
            .ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut ring)
    }

    /// Keeps `sample`, forgetting the oldest one when full.
    pub fn push(&self, sample: Sample) {
        let capacity = self.capacity;
        self.with(|ring| {
            while ring.len() >= capacity {
                ring.pop_front();
            }
            ring.push_back(sample);
        });
    }

    /// How many samples are kept.
    pub fn len(&self) -> usize {
        self.with(|ring| ring.len())
    }

    /// Whether none is kept yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The report over the samples from `from_ms` on (all kept with `None`), at `now_ms`.
    pub fn report(&self, from_ms: Option<u64>, now_ms: u64) -> Report {
        self.with(|ring| compute::report(ring.iter(), from_ms, now_ms))
    }

    /// [`Samples::report`] on a thread for blocking work: over a full ring of a large cluster
    /// it takes milliseconds, which must not hold up the runtime's other tasks. `None` if that
    /// thread failed.
    pub async fn report_blocking(&self, from_ms: Option<u64>, now_ms: u64) -> Option<Report> {
        let samples = self.clone();
        tokio::task::spawn_blocking(move || samples.report(from_ms, now_ms))
            .await
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::sample::{AgentSample, Service};
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_samples() {
        let samples = Samples::with_capacity(3);
        assert!(samples.is_empty());
        for at_ms in 1..=5 {
            samples.push(Sample {
                at_ms,
                agents: Vec::new(),
            });
        }
        assert_eq!(samples.len(), 3);
        let report = samples.report(None, 10);
        assert_eq!(report.period.from_ms, 3);
        assert_eq!(report.period.samples, 3);
    }

    /// The README's memory figure: a sample costs 32 + A × (72 + 40 × S) bytes for A agents
    /// holding S services each (strings shared between samples).
    #[test]
    fn a_sample_costs_what_the_readme_says() {
        assert_eq!(std::mem::size_of::<Sample>(), 32);
        assert_eq!(std::mem::size_of::<AgentSample>(), 72);
        assert_eq!(std::mem::size_of::<(Service, CpusMem)>(), 40);
    }
}
