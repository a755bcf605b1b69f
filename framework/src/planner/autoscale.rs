//! Autoscaling's decision, pure: fed a group's rules, its load samples, counts and what holds
//! it (an operator pin, a deployment), it says whether to change the count and why; and
//! [`Autoscaler`], every group's state and the decision log. The sampler that measures the
//! load is the adapter `crate::autoscale`.
//!
//! The rule is the one Kubernetes' HPA and KEDA use: the pods wanted are
//! `ceil(value / target)` within `min ..= max`. It acts only once the want has lasted: up after
//! `up_after` (beyond a 10 % tolerance), down after `down_after` (to the largest want seen in
//! that time, so a dip does not shed pods a rebound needs), by at most `step` pods, and not
//! within `cooldown` of the last decision. A missing sample never counts as zero load.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::spec::Autoscale;

/// Above `target` by less than this share, no pod is added (noise is not load).
const TOLERANCE: f64 = 0.1;

/// One measurement of a group's load, taken by the sampler.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSample {
    /// The autoscaled group.
    pub group: String,
    /// The metric summed over the pods that answered; `None` when none did.
    pub value: Option<f64>,
    /// Pods that answered.
    pub reporting: u32,
    /// Pods asked (the source group's running pods).
    pub asked: u32,
}

/// What a group's count is doing besides the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// The desired count now.
    pub desired: u32,
    /// Pods of the group RUNNING now.
    pub running: u32,
}

/// What stops autoscaling from acting on a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Holds {
    /// An operator set the count (`cartrack scale`); `cartrack autoscale resume` lifts it.
    pub pinned: bool,
    /// A deployment of the group is running.
    pub deploying: bool,
}

/// Why the count did not change at a sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Hold {
    /// The count is what the load asks for.
    Steady,
    /// The operator pinned the count.
    Pinned,
    /// A deployment of the group is running.
    Deploying,
    /// No pod answered with the metric.
    NoMetric,
    /// Some pods did not answer: the sum may be low, so the count is not lowered.
    PartialMetric {
        /// Pods that answered.
        reporting: u32,
        /// Pods asked.
        asked: u32,
    },
    /// More pods are wanted but the last ones added are not running yet.
    Starting {
        /// Running.
        running: u32,
        /// Desired.
        desired: u32,
    },
    /// The want has not lasted long enough yet.
    Waiting {
        /// Pods wanted.
        wanted: u32,
        /// Milliseconds until it has lasted long enough.
        remaining_ms: u64,
    },
    /// Within the cool-down after the last decision.
    CoolingDown {
        /// Milliseconds left.
        remaining_ms: u64,
    },
    /// More pods are wanted than `max` allows.
    AtMax,
}

/// A change of a group's count, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// When (ms since the epoch).
    pub at_ms: u64,
    /// The group.
    pub group: String,
    /// The metric's name.
    pub metric: &'static str,
    /// Its value when deciding.
    pub value: f64,
    /// Count before.
    pub from: u32,
    /// Count after.
    pub to: u32,
    /// In words.
    pub reason: String,
}

/// The outcome of one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Change the count.
    Scale(Decision),
    /// Keep it, for this reason.
    Hold(Hold),
}

/// What a group's autoscaler remembers between samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupState {
    /// Since when more pods are wanted than desired, without a break.
    up_since_ms: Option<u64>,
    /// Since when fewer pods are wanted, and the largest want since.
    down_since: Option<(u64, u32)>,
    /// When the count last changed by a decision (or autoscaling started).
    last_decision_ms: Option<u64>,
    /// The last sample's value and when it came.
    pub last_value: Option<(f64, u64)>,
    /// Pods the last sample asked for.
    pub last_wanted: Option<u32>,
    /// Why the count stayed, at the last sample.
    pub last_hold: Option<Hold>,
}

impl GroupState {
    /// Decides on `sample` at `now_ms`.
    pub fn decide(
        &mut self,
        rules: &Autoscale,
        sample: &LoadSample,
        counts: Counts,
        holds: Holds,
        now_ms: u64,
    ) -> Outcome {
        let outcome = self.evaluate(rules, sample, counts, holds, now_ms);
        match &outcome {
            Outcome::Scale(_) => {
                self.last_decision_ms = Some(now_ms);
                self.up_since_ms = None;
                self.down_since = None;
                self.last_hold = None;
            }
            Outcome::Hold(hold) => self.last_hold = Some(hold.clone()),
        }
        outcome
    }

    fn evaluate(
        &mut self,
        rules: &Autoscale,
        sample: &LoadSample,
        counts: Counts,
        holds: Holds,
        now_ms: u64,
    ) -> Outcome {
        let Some(value) = sample.value else {
            // A gap breaks "the want lasted": after it, the timers start again.
            self.up_since_ms = None;
            self.down_since = None;
            return Outcome::Hold(Hold::NoMetric);
        };
        self.last_value = Some((value, now_ms));
        let wanted = wanted(rules, value, counts.desired);
        self.last_wanted = Some(wanted);
        if holds.pinned || holds.deploying {
            self.up_since_ms = None;
            self.down_since = None;
            return Outcome::Hold(if holds.pinned {
                Hold::Pinned
            } else {
                Hold::Deploying
            });
        }
        let from = counts.desired;
        let decision = |to: u32, reason: String| {
            Outcome::Scale(Decision {
                at_ms: now_ms,
                group: sample.group.clone(),
                metric: rules.metric.as_str(),
                value,
                from,
                to,
                reason,
            })
        };
        if wanted > from {
            self.down_since = None;
            if from >= rules.max {
                self.up_since_ms = None;
                return Outcome::Hold(Hold::AtMax);
            }
            if counts.running < from {
                // Adding more while the last ones have not started (no offer fits, or they
                // fail) would only queue more pods that cannot run.
                self.up_since_ms = None;
                return Outcome::Hold(Hold::Starting {
                    running: counts.running,
                    desired: from,
                });
            }
            let since = *self.up_since_ms.get_or_insert(now_ms);
            if let Some(hold) = self.not_yet(rules, rules.up_after_ms, since, wanted, now_ms) {
                return Outcome::Hold(hold);
            }
            let to = wanted.min(from.saturating_add(rules.step)).min(rules.max);
            return decision(
                to,
                format!(
                    "{} {value:.0} is above {} x {} pods for {} s: {wanted} pods wanted",
                    rules.metric.as_str(),
                    rules.target,
                    from,
                    (now_ms - since) / 1000
                ),
            );
        }
        self.up_since_ms = None;
        if wanted < from {
            if sample.reporting < sample.asked {
                self.down_since = None;
                return Outcome::Hold(Hold::PartialMetric {
                    reporting: sample.reporting,
                    asked: sample.asked,
                });
            }
            let (since, most) = self.down_since.get_or_insert((now_ms, wanted));
            *most = (*most).max(wanted);
            let (since, most) = (*since, *most);
            if let Some(hold) = self.not_yet(rules, rules.down_after_ms, since, most, now_ms) {
                return Outcome::Hold(hold);
            }
            let to = most.max(from.saturating_sub(rules.step)).max(rules.min);
            return decision(
                to,
                format!(
                    "{} at most {} pods' worth for {} s (now {value:.0}, target {} per pod)",
                    rules.metric.as_str(),
                    most,
                    (now_ms - since) / 1000,
                    rules.target
                ),
            );
        }
        self.down_since = None;
        Outcome::Hold(Hold::Steady)
    }

    /// Why a want that started at `since` cannot be acted on yet: it has not lasted `after`,
    /// or the cool-down is not over.
    fn not_yet(
        &self,
        rules: &Autoscale,
        after: u64,
        since: u64,
        wanted: u32,
        now_ms: u64,
    ) -> Option<Hold> {
        let lasted = now_ms.saturating_sub(since);
        if lasted < after {
            return Some(Hold::Waiting {
                wanted,
                remaining_ms: after - lasted,
            });
        }
        self.cooling_down(rules, now_ms)
            .map(|remaining_ms| Hold::CoolingDown { remaining_ms })
    }

    /// The cool-down left at `now_ms` under `rules`.
    pub fn cooling_down(&self, rules: &Autoscale, now_ms: u64) -> Option<u64> {
        let end = self.last_decision_ms? + rules.cooldown_ms;
        (now_ms < end).then(|| end - now_ms)
    }
}

/// Pods `value` asks for at `target` per pod, at least `min` (it may ask for more than `max`,
/// which [`Hold::AtMax`] reports); within the tolerance above what `desired` pods handle,
/// `desired` stays.
pub fn wanted(rules: &Autoscale, value: f64, desired: u32) -> u32 {
    let raw = (value / rules.target).ceil().max(0.0);
    let within_tolerance =
        desired > 0 && value <= rules.target * f64::from(desired) * (1.0 + TOLERANCE);
    let raw = if raw > f64::from(desired) && within_tolerance {
        f64::from(desired)
    } else {
        raw
    };
    (raw.min(f64::from(u32::MAX)) as u32).max(rules.min)
}

/// Decisions kept for `GET /v1/autoscale`.
pub const KEPT_DECISIONS: usize = 100;

/// Every autoscaled group's state, and the last [`KEPT_DECISIONS`] decisions. In memory
/// only: a new leader starts with an empty log, and its first decision waits, as any, until
/// the load asked for it long enough.
#[derive(Debug, Clone, Default)]
pub struct Autoscaler {
    /// Per autoscaled group.
    pub groups: BTreeMap<String, GroupState>,
    /// Oldest first.
    pub decisions: VecDeque<Decision>,
    /// Decisions taken, per group and direction (`up`, `down`), for `/metrics`.
    pub taken: BTreeMap<(String, &'static str), u64>,
}

impl Autoscaler {
    /// The state of `group`, made on first use.
    pub fn group(&mut self, group: &str) -> &mut GroupState {
        self.groups.entry(group.to_string()).or_default()
    }

    /// Records `decision` in the log (dropping the oldest beyond the bound) and the counts.
    pub fn record(&mut self, decision: Decision) {
        let direction = if decision.to > decision.from {
            "up"
        } else {
            "down"
        };
        *self
            .taken
            .entry((decision.group.clone(), direction))
            .or_default() += 1;
        if self.decisions.len() == KEPT_DECISIONS {
            self.decisions.pop_front();
        }
        self.decisions.push_back(decision);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::LoadMetric;

    fn rules() -> Autoscale {
        Autoscale {
            min: 1,
            max: 3,
            metric: LoadMetric::Lag,
            target: 1000.0,
            up_after_ms: 10_000,
            down_after_ms: 30_000,
            step: 1,
            cooldown_ms: 20_000,
            source: "processor".into(),
            port: "http".into(),
        }
    }

    fn sample(value: Option<f64>) -> LoadSample {
        LoadSample {
            group: "processor".into(),
            value,
            reporting: u32::from(value.is_some()),
            asked: 1,
        }
    }

    /// Feeds `series` (one sample every 5 s from `start`) with the count following each
    /// decision and every pod running at once; returns the decisions' (at s, from, to).
    fn run(state: &mut GroupState, series: &[Option<f64>], start_s: u64) -> Vec<(u64, u32, u32)> {
        let rules = rules();
        let mut desired = 1;
        let mut out = Vec::new();
        for (i, value) in series.iter().enumerate() {
            let now_ms = (start_s + 5 * i as u64) * 1000;
            let counts = Counts {
                desired,
                running: desired,
            };
            if let Outcome::Scale(d) =
                state.decide(&rules, &sample(*value), counts, Holds::default(), now_ms)
            {
                out.push((now_ms / 1000, d.from, d.to));
                desired = d.to;
            }
        }
        out
    }

    #[test]
    fn a_burst_scales_up_step_by_step_to_max_then_down_after_the_quiet_period() {
        let mut state = GroupState::default();
        let mut series = vec![Some(100.0); 2];
        series.extend(vec![Some(5000.0); 16]); // 80 s of lag far above 3 pods' worth
        series.extend(vec![Some(0.0); 40]); // drained
        let decisions = run(&mut state, &series, 0);
        // Up after 10 s of want, again after the 20 s cool-down, then max; down after 30 s of
        // quiet and again after each cool-down + quiet, to min.
        assert_eq!(
            decisions,
            vec![(20, 1, 2), (40, 2, 3), (120, 3, 2), (155, 2, 1)],
            "{state:?}"
        );
        assert_eq!(state.last_hold, Some(Hold::Steady));
    }

    #[test]
    fn at_max_it_holds_and_says_so() {
        let rules = rules();
        let mut state = GroupState::default();
        let counts = Counts {
            desired: 3,
            running: 3,
        };
        let outcome = state.decide(&rules, &sample(Some(1e9)), counts, Holds::default(), 0);
        assert_eq!(outcome, Outcome::Hold(Hold::AtMax));
    }

    #[test]
    fn a_missing_metric_is_no_load_reading_and_restarts_the_wait() {
        let mut state = GroupState::default();
        // Want for 5 s, a gap, then want again: the 10 s count from after the gap.
        let series = [
            Some(5000.0),
            Some(5000.0),
            None,
            Some(5000.0),
            Some(5000.0),
            Some(5000.0),
        ];
        assert_eq!(run(&mut state, &series, 0), vec![(25, 1, 2)]);
        // Missing samples never scale down either.
        let mut state = GroupState::default();
        let rules = rules();
        let counts = Counts {
            desired: 3,
            running: 3,
        };
        for i in 0..20 {
            let outcome = state.decide(&rules, &sample(None), counts, Holds::default(), i * 5000);
            assert_eq!(outcome, Outcome::Hold(Hold::NoMetric));
        }
    }

    #[test]
    fn some_pods_missing_hold_a_scale_down_but_not_a_scale_up() {
        let rules = rules();
        let mut state = GroupState::default();
        let counts = Counts {
            desired: 2,
            running: 2,
        };
        let partial = |value| LoadSample {
            group: "processor".into(),
            value: Some(value),
            reporting: 1,
            asked: 2,
        };
        for i in 0..10 {
            let outcome = state.decide(&rules, &partial(0.0), counts, Holds::default(), i * 5000);
            assert_eq!(
                outcome,
                Outcome::Hold(Hold::PartialMetric {
                    reporting: 1,
                    asked: 2
                })
            );
        }
        let mut state = GroupState::default();
        let up = (0..4)
            .map(|i| state.decide(&rules, &partial(9000.0), counts, Holds::default(), i * 5000))
            .find(|outcome| matches!(outcome, Outcome::Scale(_)));
        assert!(
            matches!(up, Some(Outcome::Scale(Decision { from: 2, to: 3, .. }))),
            "{up:?}"
        );
    }

    #[test]
    fn a_pod_that_does_not_start_stops_further_scale_ups() {
        let rules = rules();
        let mut state = GroupState::default();
        let counts = Counts {
            desired: 2,
            running: 1,
        };
        for i in 0..20 {
            let outcome = state.decide(
                &rules,
                &sample(Some(9000.0)),
                counts,
                Holds::default(),
                i * 5000,
            );
            assert_eq!(
                outcome,
                Outcome::Hold(Hold::Starting {
                    running: 1,
                    desired: 2
                })
            );
        }
        // ... but it may still scale down when the load goes.
        let down = (20..40)
            .map(|i| {
                state.decide(
                    &rules,
                    &sample(Some(0.0)),
                    counts,
                    Holds::default(),
                    i * 5000,
                )
            })
            .find(|o| matches!(o, Outcome::Scale(_)));
        assert!(
            matches!(down, Some(Outcome::Scale(Decision { from: 2, to: 1, .. }))),
            "{down:?}"
        );
    }

    #[test]
    fn an_operator_pin_and_a_deployment_hold_the_count() {
        let rules = rules();
        let counts = Counts {
            desired: 1,
            running: 1,
        };
        for (holds, hold) in [
            (
                Holds {
                    pinned: true,
                    deploying: false,
                },
                Hold::Pinned,
            ),
            (
                Holds {
                    pinned: false,
                    deploying: true,
                },
                Hold::Deploying,
            ),
        ] {
            let mut state = GroupState::default();
            for i in 0..20 {
                let outcome = state.decide(&rules, &sample(Some(9000.0)), counts, holds, i * 5000);
                assert_eq!(outcome, Outcome::Hold(hold.clone()));
            }
            // Released, the wait starts from then: no decision on the held time.
            let outcome = state.decide(
                &rules,
                &sample(Some(9000.0)),
                counts,
                Holds::default(),
                100_000,
            );
            assert!(
                matches!(outcome, Outcome::Hold(Hold::Waiting { .. })),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn a_scale_down_goes_to_the_largest_want_of_its_window_never_below_min() {
        let mut rules = rules();
        rules.step = 5;
        rules.max = 10;
        let mut state = GroupState::default();
        let counts = Counts {
            desired: 8,
            running: 8,
        };
        // Wants 1, 4, 2 over the window: down to 4, not 2.
        let values = [500.0, 3500.0, 1500.0, 1500.0, 1500.0, 1500.0, 1500.0];
        let outcome = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                state.decide(
                    &rules,
                    &sample(Some(*v)),
                    counts,
                    Holds::default(),
                    i as u64 * 5000,
                )
            })
            .last();
        assert!(
            matches!(
                outcome,
                Some(Outcome::Scale(Decision { from: 8, to: 4, .. }))
            ),
            "{outcome:?}"
        );
        assert_eq!(wanted(&rules, 0.0, 3), 1, "min");
    }

    #[test]
    fn load_within_the_tolerance_adds_no_pod() {
        let rules = rules();
        assert_eq!(wanted(&rules, 2150.0, 2), 2);
        assert_eq!(wanted(&rules, 2300.0, 2), 3);
        assert_eq!(wanted(&rules, 1e12, 1), 1_000_000_000, "asks beyond max");
    }
}
