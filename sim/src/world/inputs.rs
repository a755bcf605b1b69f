//! Scheduled inputs carried out: faults on the cluster or the scheduler, operator requests.

use rand::Rng;

use super::{Ev, World};
use cartrack_framework::driver::{Input as CoreInput, Request, Steer as DeploySteer};
use cartrack_framework::planner::autoscale::LoadSample;
use cartrack_framework::spec::validate;

use crate::executor::ExecKey;
use crate::input::{Fault, Input, Operator, Steer};
use crate::invariants::Violation;

impl World {
    pub(super) fn apply_input(&mut self, input: Input) -> Result<(), Violation> {
        let now = self.instant();
        let now_ms = self.now_ms();
        match input {
            Input::Fault(fault) => match fault {
                Fault::MasterFailover { keep_state } => {
                    self.cluster.restart_master(keep_state, now);
                }
                Fault::AgentKill(i) => {
                    self.cluster.kill_agent(&self.agent_ids[i], now);
                }
                Fault::AgentRestart(i) => {
                    self.cluster.restart_agent(&self.agent_ids[i], now);
                }
                Fault::AgentPartition(i) => {
                    self.cluster.partition_agent(&self.agent_ids[i], now);
                }
                Fault::AgentHeal(i) => {
                    self.cluster.heal_agent(&self.agent_ids[i], now);
                }
                Fault::ExecutorCrash(n) => {
                    let started: Vec<ExecKey> = self
                        .processes
                        .iter()
                        .filter(|(_, p)| p.started)
                        .map(|(k, _)| k.clone())
                        .collect();
                    if !started.is_empty() {
                        let key = started[n % started.len()].clone();
                        self.exit(&key, 1 << 8);
                    }
                }
                Fault::ExecutorDisconnect(n) => {
                    let connected: Vec<ExecKey> = self
                        .processes
                        .iter()
                        .filter(|(_, p)| p.connection.is_some())
                        .map(|(k, _)| k.clone())
                        .collect();
                    if !connected.is_empty() {
                        let key = connected[n % connected.len()].clone();
                        if let Some(process) = self.processes.get_mut(&key) {
                            process.connection = None;
                            let container = process.container_id.clone();
                            self.cluster.executor_disconnected(&key.0, &key.1, &key.2);
                            let wait = self.rng.random_range(500..3_000);
                            self.queue
                                .after(wait, Ev::ExecutorSubscribe { key, container });
                        }
                    }
                }
                Fault::SchedulerCrash => {
                    if self.scheduler.core.is_some() {
                        self.crash_scheduler();
                    }
                }
                Fault::SchedulerCrashMidRound(cut) => {
                    if self.scheduler.core.is_some() {
                        self.scheduler.crash_mid_round = Some(cut);
                    }
                }
                Fault::SchedulerPartition(ms) => {
                    self.partitioned_until = self.queue.now() + ms;
                    if let Some(fid) = self.scheduler.framework_id.clone() {
                        self.cluster.drop_framework_stream(&fid, now);
                    }
                }
            },
            Input::Operator(Operator::Uninstall) => {
                // Every later start is in uninstall mode, as DC/OS relaunches it.
                self.uninstall_asked = true;
                if let Some(core) = self.scheduler.core.as_mut() {
                    if let Err(e) = core.apply(Request::Uninstall.into(), now_ms) {
                        self.note(format!("refused: {e}"));
                    }
                    self.execute(None)?;
                }
            }
            Input::Operator(Operator::Load { value }) => {
                let Some(core) = self.scheduler.core.as_mut() else {
                    return Ok(());
                };
                let before = core.desired_count("web");
                let holds = core.autoscale_holds("web");
                let sample = LoadSample {
                    group: "web".into(),
                    value,
                    reporting: u32::from(value.is_some()),
                    asked: 1,
                };
                core.apply(CoreInput::Load(sample), now_ms)
                    .map_err(|e| Violation::Autoscale(format!("a reading was refused: {e}")))?;
                let after = core.desired_count("web");
                if after != before {
                    let rules = self.setup.spec.groups[0].autoscale.clone();
                    let (min, max) = rules.map_or((0, 0), |r| (r.min, r.max));
                    let why = if holds.pinned {
                        Some("the operator pinned it")
                    } else if holds.deploying {
                        Some("its deployment runs")
                    } else if !(min..=max).contains(&after) {
                        Some("outside min ..= max")
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        return Err(Violation::Autoscale(format!(
                            "web went {before} -> {after} although {why}"
                        )));
                    }
                    self.note(format!("autoscaled web {before} -> {after}"));
                    self.autoscaled += 1;
                }
                self.execute(None)?;
            }
            Input::Operator(op) => {
                let Some(core) = self.scheduler.core.as_mut() else {
                    return Ok(());
                };
                let result = match op {
                    Operator::Scale { group, count } => {
                        let group = self.setup.spec.groups[group].name.clone();
                        core.apply(Request::SetCount { group, count }.into(), now_ms)
                    }
                    Operator::Restart {
                        group,
                        index,
                        replace,
                    } => {
                        let slot = format!("{}-{index}", self.setup.spec.groups[group].name);
                        core.apply(Request::Restart { slot, replace }.into(), now_ms)
                    }
                    Operator::Update { version } => {
                        let mut source = self.setup.spec.source.clone();
                        source.groups[0]
                            .env
                            .insert("SIM_VERSION".into(), version.to_string());
                        match validate(&source, &self.setup.framework.roles) {
                            Ok(spec) => core.apply(
                                Request::Update {
                                    spec: Box::new(spec),
                                    binaries: None,
                                }
                                .into(),
                                now_ms,
                            ),
                            Err(e) => return Err(Violation::Setup(e.to_string())),
                        }
                    }
                    Operator::Steer(action) => {
                        let steer = match action {
                            Steer::Pause => DeploySteer::Pause,
                            Steer::Resume => DeploySteer::Resume,
                            Steer::Abort => DeploySteer::Abort,
                        };
                        core.apply(Request::Steer(steer).into(), now_ms)
                    }
                    Operator::Uninstall | Operator::Load { .. } => Ok(()),
                };
                if let Err(e) = result {
                    self.note(format!("refused: {e}"));
                }
                self.execute(None)?;
            }
        }
        self.apply_effects();
        Ok(())
    }
}
