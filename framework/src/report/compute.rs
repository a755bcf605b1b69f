//! The multiplexing report over a period of samples: average utilisation, each service's
//! peak and average, and how many agents the services would need siloed (each on agents of
//! its own) versus multiplexed (all on shared agents). Pure: samples and times in, a
//! [`Report`] out.
//!
//! The method (the README's "The multiplexing report" says the same):
//! - agent size: the largest agent seen in the period (most cpus, then most memory), both of
//!   its resources; an agent's worth of a service is that much cpus AND that much memory;
//! - a load needs `max(ceil(cpus / agent cpus), ceil(mem / agent mem))` agents;
//! - siloed: each service's peak allocation over the period (cpus and mem peaks taken
//!   separately) in whole agents, summed over services;
//! - multiplexed: the peak over time of all services' summed allocation, in whole agents;
//! - averages weigh every sample alike (samples come every `--report-interval`); utilisation is
//!   the summed allocation over the summed capacity, so agents joining or leaving weigh by the
//!   time they were there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::sample::{CpusMem, Sample, Service, ServiceKind};

/// At most this many points in [`Report::series`].
pub const MAX_SERIES_POINTS: usize = 200;

/// Below this, a quotient is taken as the whole number under it: sums of decimal resources
/// (0.1 + 0.2) must not round up to an agent more.
const ROUNDING_SLACK: f64 = 1e-9;

/// `GET /v1/report/utilisation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// What the report covers.
    pub period: Period,
    /// The agent a service is counted in.
    pub agent_size: CpusMem,
    /// The cluster as a whole.
    pub cluster: ClusterSummary,
    /// Cartrack's groups first, then other frameworks, each by name.
    pub services: Vec<ServiceReport>,
    /// Every service on agents of its own: the sum of their `siloed_agents`.
    pub siloed_agents: u64,
    /// Every service on shared agents: the peak of their summed allocation, in agents.
    pub multiplexed_agents: u64,
    /// Every agent seen in the period, by hostname then id.
    pub agents: Vec<AgentReport>,
    /// Allocation over time, at most [`MAX_SERIES_POINTS`] points.
    pub series: Vec<Point>,
}

/// The period a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Period {
    /// Its start (ms since the epoch): the asked start, or the oldest sample kept.
    pub from_ms: u64,
    /// Its end: when the report was made.
    pub to_ms: u64,
    /// How many samples fall in it.
    pub samples: usize,
}

/// The cluster as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSummary {
    /// Agents in the latest sample: the cluster there actually is.
    pub agents: usize,
    /// Their capacity.
    pub capacity: CpusMem,
    /// Allocated over capacity, over the period.
    pub avg_utilisation: CpusMem,
}

/// One service over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceReport {
    /// The group's or framework's name.
    pub name: String,
    /// `cartrack-group` or `framework`.
    pub kind: ServiceKind,
    /// Its largest allocation (cpus and mem each at its own peak), summed over agents.
    pub peak: CpusMem,
    /// Its average allocation, summed over agents.
    pub avg: CpusMem,
    /// Its average allocation over the cluster's average capacity.
    pub share: CpusMem,
    /// Agents of `agent_size` its peak needs.
    pub siloed_agents: u64,
}

/// One agent over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentReport {
    /// Mesos agent id.
    pub id: String,
    /// Its hostname.
    pub hostname: String,
    /// Its capacity in its latest sample.
    pub capacity: CpusMem,
    /// Each service's average allocation here (over the samples the agent was in); services
    /// never here are left out.
    pub avg_allocated_by_service: Vec<ServiceAmount>,
    /// Allocated over capacity here.
    pub avg_utilisation: CpusMem,
    /// Average capacity left unallocated.
    pub avg_idle: CpusMem,
}

/// A service's amount of something.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceAmount {
    /// The service's name.
    pub name: String,
    /// Its kind.
    pub kind: ServiceKind,
    /// CPU shares.
    pub cpus: f64,
    /// Memory, MB.
    pub mem: f64,
}

/// One point of the series: the largest values of the samples it stands for, so a peak shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The time of the last sample it stands for.
    pub at_ms: u64,
    /// Per service, in the order of [`Report::services`], summed over agents.
    pub allocated: Vec<CpusMem>,
    /// The cluster's capacity.
    pub capacity: CpusMem,
}

/// Agents of `size` a load of `amount` needs: enough for its cpus and for its memory. A
/// resource the agent size lacks (no agent has any) is not counted.
pub fn agents_for(amount: CpusMem, size: CpusMem) -> u64 {
    let whole = |need: f64, per_agent: f64| {
        if per_agent > 0.0 && need > 0.0 {
            (need / per_agent - ROUNDING_SLACK).ceil().max(0.0) as u64
        } else {
            0
        }
    };
    whole(amount.cpus, size.cpus).max(whole(amount.mem, size.mem))
}

/// The largest agent: most cpus, then most memory.
fn largest(samples: &[&Sample]) -> CpusMem {
    samples
        .iter()
        .flat_map(|s| s.agents.iter().map(|a| a.capacity))
        .max_by(|a, b| a.cpus.total_cmp(&b.cpus).then(a.mem.total_cmp(&b.mem)))
        .unwrap_or_default()
}

struct AgentSums<'a> {
    hostname: &'a Arc<str>,
    capacity: CpusMem,
    present: usize,
    capacity_sum: CpusMem,
    allocated_sum: CpusMem,
    /// By index into the window's services; `None` for those never here.
    by_service: Vec<Option<CpusMem>>,
}

/// The report over the samples taken at `from_ms` or later (all of them with `None`), made at
/// `now_ms`. `samples` are in time order.
pub fn report<'a>(
    samples: impl IntoIterator<Item = &'a Sample>,
    from_ms: Option<u64>,
    now_ms: u64,
) -> Report {
    let window: Vec<&Sample> = samples
        .into_iter()
        .filter(|s| from_ms.is_none_or(|from| s.at_ms >= from) && s.at_ms <= now_ms)
        .collect();
    let period = Period {
        from_ms: from_ms
            .or_else(|| window.first().map(|s| s.at_ms))
            .unwrap_or(now_ms),
        to_ms: now_ms,
        samples: window.len(),
    };
    // Groups first, then frameworks, each by name.
    let services: Vec<&Service> = window
        .iter()
        .copied()
        .flat_map(|s| s.agents.iter())
        .flat_map(|a| a.allocated.iter().map(|(service, _)| service))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index: BTreeMap<&Service, usize> =
        services.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let agent_size = largest(&window);

    // Per sample: each service's allocation and the capacity, summed over agents.
    let mut peaks = vec![CpusMem::default(); services.len()];
    let mut sums = vec![CpusMem::default(); services.len()];
    let mut peak_total = CpusMem::default();
    let mut capacity_sum = CpusMem::default();
    let mut allocated_sum = CpusMem::default();
    let mut points: Vec<Point> = Vec::with_capacity(window.len());
    let mut agents: BTreeMap<&Arc<str>, AgentSums> = BTreeMap::new();
    for sample in window.iter().copied() {
        let mut per_service = vec![CpusMem::default(); services.len()];
        let mut capacity = CpusMem::default();
        for agent in &sample.agents {
            capacity += agent.capacity;
            let sums = agents.entry(&agent.id).or_insert_with(|| AgentSums {
                hostname: &agent.hostname,
                capacity: CpusMem::default(),
                present: 0,
                capacity_sum: CpusMem::default(),
                allocated_sum: CpusMem::default(),
                by_service: vec![None; services.len()],
            });
            sums.hostname = &agent.hostname;
            sums.capacity = agent.capacity;
            sums.present += 1;
            sums.capacity_sum += agent.capacity;
            for (service, amount) in &agent.allocated {
                // Every service of the window is indexed: collected from the same samples.
                if let Some(&i) = index.get(service) {
                    per_service[i] += *amount;
                    if let Some(here) = sums.by_service.get_mut(i) {
                        *here.get_or_insert_with(CpusMem::default) += *amount;
                    }
                }
                sums.allocated_sum += *amount;
            }
        }
        let total = per_service
            .iter()
            .fold(CpusMem::default(), |sum, r| sum + *r);
        for (i, amount) in per_service.iter().enumerate() {
            peaks[i] = peaks[i].max(*amount);
            sums[i] += *amount;
        }
        peak_total = peak_total.max(total);
        capacity_sum += capacity;
        allocated_sum += total;
        points.push(Point {
            at_ms: sample.at_ms,
            allocated: per_service,
            capacity,
        });
    }

    let n = window.len() as f64;
    let avg_capacity = capacity_sum.per(n);
    let reports: Vec<ServiceReport> = services
        .iter()
        .enumerate()
        .map(|(i, service)| ServiceReport {
            name: service.name.to_string(),
            kind: service.kind,
            peak: peaks[i],
            avg: sums[i].per(n),
            share: sums[i].per(n).ratio(avg_capacity),
            siloed_agents: agents_for(peaks[i], agent_size),
        })
        .collect();
    let mut agents: Vec<AgentReport> = agents
        .into_iter()
        .map(|(id, sums)| {
            let present = sums.present as f64;
            AgentReport {
                id: id.to_string(),
                hostname: sums.hostname.to_string(),
                capacity: sums.capacity,
                avg_allocated_by_service: services
                    .iter()
                    .zip(&sums.by_service)
                    .filter_map(|(service, amount)| Some((service, (*amount)?)))
                    .map(|(service, amount)| {
                        let avg = amount.per(present);
                        ServiceAmount {
                            name: service.name.to_string(),
                            kind: service.kind,
                            cpus: avg.cpus,
                            mem: avg.mem,
                        }
                    })
                    .collect(),
                avg_utilisation: sums.allocated_sum.ratio(sums.capacity_sum),
                avg_idle: (sums.capacity_sum - sums.allocated_sum).per(present),
            }
        })
        .collect();
    agents.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)));
    let latest = window.last();
    Report {
        period,
        agent_size,
        cluster: ClusterSummary {
            agents: latest.map_or(0, |s| s.agents.len()),
            capacity: latest.map_or_else(CpusMem::default, |s| {
                s.agents
                    .iter()
                    .fold(CpusMem::default(), |sum, a| sum + a.capacity)
            }),
            avg_utilisation: allocated_sum.ratio(capacity_sum),
        },
        siloed_agents: reports.iter().map(|s| s.siloed_agents).sum(),
        multiplexed_agents: agents_for(peak_total, agent_size),
        services: reports,
        agents,
        series: downsample(points, MAX_SERIES_POINTS),
    }
}

/// At most `max` points, each the largest values of consecutive points it stands for.
fn downsample(points: Vec<Point>, max: usize) -> Vec<Point> {
    if points.len() <= max || max == 0 {
        return points;
    }
    let per_point = points.len().div_ceil(max);
    points
        .chunks(per_point)
        .map(|chunk| {
            let mut merged = chunk[0].clone();
            for point in &chunk[1..] {
                merged.at_ms = point.at_ms;
                merged.capacity = merged.capacity.max(point.capacity);
                for (m, a) in merged.allocated.iter_mut().zip(&point.allocated) {
                    *m = m.max(*a);
                }
            }
            merged
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::sample::AgentSample;
    use super::*;

    fn group(name: &str) -> Service {
        Service {
            kind: ServiceKind::CartrackGroup,
            name: name.into(),
        }
    }

    fn framework(name: &str) -> Service {
        Service {
            kind: ServiceKind::Framework,
            name: name.into(),
        }
    }

    fn agent(id: &str, capacity: (f64, f64), allocated: &[(&Service, f64, f64)]) -> AgentSample {
        AgentSample {
            id: id.into(),
            hostname: format!("host-{id}").into(),
            capacity: CpusMem::new(capacity.0, capacity.1),
            allocated: allocated
                .iter()
                .map(|(s, cpus, mem)| ((*s).clone(), CpusMem::new(*cpus, *mem)))
                .collect(),
        }
    }

    fn service<'r>(report: &'r Report, name: &str) -> &'r ServiceReport {
        report
            .services
            .iter()
            .find(|s| &*s.name == name)
            .unwrap_or_else(|| panic!("no service {name} in {report:#?}"))
    }

    /// Two services on two 4-cpu agents, each peaking at 3 cpus, at different times.
    fn alternating() -> Vec<Sample> {
        let (web, batch) = (group("web"), framework("batch"));
        let at = |t: u64, web_cpus: f64, batch_cpus: f64| Sample {
            at_ms: t,
            agents: vec![
                agent("a1", (4.0, 8192.0), &[(&web, web_cpus, 1024.0)]),
                agent("a2", (4.0, 8192.0), &[(&batch, batch_cpus, 1024.0)]),
            ],
        };
        vec![at(1000, 3.0, 1.0), at(2000, 1.0, 3.0), at(3000, 2.0, 2.0)]
    }

    #[test]
    fn services_peaking_at_different_times_need_fewer_agents_multiplexed() {
        let report = report(&alternating(), None, 3000);
        assert_eq!(report.agent_size, CpusMem::new(4.0, 8192.0));
        assert_eq!(service(&report, "web").peak, CpusMem::new(3.0, 1024.0));
        assert_eq!(service(&report, "web").avg, CpusMem::new(2.0, 1024.0));
        assert_eq!(service(&report, "web").siloed_agents, 1);
        assert_eq!(service(&report, "batch").siloed_agents, 1);
        assert_eq!(report.siloed_agents, 2);
        // The summed peak is 4 cpus (every sample), one agent's worth.
        assert_eq!(report.multiplexed_agents, 1);
        assert!(report.multiplexed_agents < report.siloed_agents);
        assert_eq!(report.cluster.agents, 2);
        assert_eq!(report.cluster.capacity, CpusMem::new(8.0, 16384.0));
        assert_eq!(
            report.cluster.avg_utilisation,
            CpusMem::new(0.5, 2048.0 / 16384.0)
        );
        assert_eq!(service(&report, "web").share, CpusMem::new(0.25, 0.0625));
        // Groups come before frameworks.
        let kinds: Vec<ServiceKind> = report.services.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [ServiceKind::CartrackGroup, ServiceKind::Framework]);
        let a1 = &report.agents[0];
        assert_eq!((&*a1.id, &*a1.hostname), ("a1", "host-a1"));
        assert_eq!(a1.avg_utilisation, CpusMem::new(0.5, 0.125));
        assert_eq!(a1.avg_idle, CpusMem::new(2.0, 7168.0));
        assert_eq!(
            a1.avg_allocated_by_service,
            [ServiceAmount {
                name: "web".into(),
                kind: ServiceKind::CartrackGroup,
                cpus: 2.0,
                mem: 1024.0
            }]
        );
        assert_eq!(report.series.len(), 3);
        assert_eq!(
            report.series[0].allocated,
            [CpusMem::new(3.0, 1024.0), CpusMem::new(1.0, 1024.0)]
        );
    }

    #[test]
    fn loads_round_up_to_whole_agents_by_the_scarcer_resource() {
        let size = CpusMem::new(4.0, 8192.0);
        assert_eq!(agents_for(CpusMem::new(0.0, 0.0), size), 0);
        assert_eq!(agents_for(CpusMem::new(0.1, 1.0), size), 1);
        assert_eq!(agents_for(CpusMem::new(4.0, 8192.0), size), 1);
        assert_eq!(agents_for(CpusMem::new(4.01, 100.0), size), 2);
        // Memory decides: 1 cpu but 9 GB.
        assert_eq!(agents_for(CpusMem::new(1.0, 9000.0), size), 2);
        // Decimal sums do not cost an agent more: 0.1 * 40 is 4.000000000000001.
        let sum = (0..40).fold(0.0, |s, _| s + 0.1);
        assert!(sum > 4.0);
        assert_eq!(agents_for(CpusMem::new(sum, 0.0), size), 1);
        assert_eq!(agents_for(CpusMem::new(1.0, 1.0), CpusMem::default()), 0);
    }

    #[test]
    fn the_largest_agent_is_the_agent_size() {
        let web = group("web");
        let samples = vec![Sample {
            at_ms: 1,
            agents: vec![
                agent("small", (2.0, 16384.0), &[(&web, 2.0, 1000.0)]),
                agent("big", (8.0, 4096.0), &[]),
            ],
        }];
        let report = report(&samples, None, 1);
        assert_eq!(report.agent_size, CpusMem::new(8.0, 4096.0));
        assert_eq!(report.cluster.agents, 2);
    }

    #[test]
    fn an_empty_period_is_all_zero() {
        let report = report(&alternating(), Some(5000), 6000);
        assert_eq!(
            report.period,
            Period {
                from_ms: 5000,
                to_ms: 6000,
                samples: 0
            }
        );
        assert!(report.services.is_empty() && report.agents.is_empty());
        assert!(report.series.is_empty());
        assert_eq!((report.siloed_agents, report.multiplexed_agents), (0, 0));
        assert_eq!(report.cluster.avg_utilisation, CpusMem::default());
        let nothing = super::report(&[], None, 10);
        assert_eq!(nothing.period.from_ms, 10);
        assert_eq!(nothing.cluster.agents, 0);
    }

    #[test]
    fn the_period_starts_where_asked() {
        let report = report(&alternating(), Some(2000), 3000);
        assert_eq!(report.period.samples, 2);
        assert_eq!(report.period.from_ms, 2000);
        assert_eq!(service(&report, "web").peak.cpus, 2.0);
        assert_eq!(service(&report, "batch").peak.cpus, 3.0);
    }

    #[test]
    fn an_agent_joining_later_weighs_by_the_time_it_was_there() {
        let web = group("web");
        let samples = vec![
            Sample {
                at_ms: 1,
                agents: vec![agent("a1", (4.0, 4096.0), &[(&web, 4.0, 4096.0)])],
            },
            Sample {
                at_ms: 2,
                agents: vec![
                    agent("a1", (4.0, 4096.0), &[(&web, 4.0, 4096.0)]),
                    agent("a2", (4.0, 4096.0), &[(&web, 0.0, 0.0)]),
                ],
            },
        ];
        let report = report(&samples, None, 2);
        // 8 of 12 agent-cpus over the period.
        assert_eq!(report.cluster.avg_utilisation.cpus, 8.0 / 12.0);
        assert_eq!(report.cluster.agents, 2);
        assert_eq!(report.cluster.capacity, CpusMem::new(8.0, 8192.0));
        let a2 = report.agents.iter().find(|a| &*a.id == "a2").expect("a2");
        assert_eq!(a2.avg_utilisation, CpusMem::default());
        assert_eq!(a2.avg_idle, CpusMem::new(4.0, 4096.0));
        let a1 = report.agents.iter().find(|a| &*a.id == "a1").expect("a1");
        assert_eq!(a1.avg_utilisation, CpusMem::new(1.0, 1.0));
        assert_eq!(report.series[0].capacity, CpusMem::new(4.0, 4096.0));
        assert_eq!(report.series[1].capacity, CpusMem::new(8.0, 8192.0));
    }

    #[test]
    fn the_series_keeps_at_most_200_points_and_every_peak() {
        let web = group("web");
        let samples: Vec<Sample> = (0..1000u64)
            .map(|t| Sample {
                at_ms: t,
                agents: vec![agent(
                    "a1",
                    (4.0, 4096.0),
                    &[(&web, if t == 517 { 3.5 } else { 1.0 }, 100.0)],
                )],
            })
            .collect();
        let report = report(&samples, None, 1000);
        assert!(
            report.series.len() <= MAX_SERIES_POINTS,
            "{}",
            report.series.len()
        );
        assert_eq!(report.series.len(), 200);
        assert_eq!(report.series.last().map(|p| p.at_ms), Some(999));
        let peak = report
            .series
            .iter()
            .map(|p| p.allocated[0].cpus)
            .fold(0.0, f64::max);
        assert_eq!(peak, 3.5);
        assert_eq!(service(&report, "web").peak.cpus, 3.5);
    }
}
