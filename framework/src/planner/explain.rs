//! Why an offer did not fit a pending pod, for `/v1/debug/offers` (dcos-commons#2948: users
//! cannot see why a deployment stalls otherwise). Runs on request, never on the hot path.

use std::collections::BTreeMap;

use mesos_proto::v1::Offer;
use serde::Serialize;

use super::{live_index, pending_pods, visit_misfits, ConstraintMisfit, Misfit, OfferView};
use crate::records::{SlotRecord, TaskRecord};
use crate::resources::Scalars;
use crate::spec::ValidatedSpec;

/// One pending pod against one offer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodFit {
    /// The pod's slot.
    pub slot: String,
    /// True when the offer could take it now.
    pub fits: bool,
    /// Every reason it cannot (empty when it fits).
    pub reasons: Vec<String>,
}

/// An offer with its resources and the verdict for each pending pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferExplanation {
    /// Offer id.
    pub offer_id: String,
    /// Agent id.
    pub agent_id: String,
    /// Hostname.
    pub hostname: String,
    /// Allocation role.
    pub role: String,
    /// Unreserved cpus offered.
    pub cpus: f64,
    /// Unreserved mem (MB) offered.
    pub mem: f64,
    /// Unreserved disk (MB) offered.
    pub disk: f64,
    /// Free ports offered.
    pub ports: u64,
    /// Verdict per pending pod (at most the limit asked for).
    pub pods: Vec<PodFit>,
}

fn describe(spec: &ValidatedSpec, gi: usize, view: &OfferView, misfit: Misfit) -> String {
    let group = &spec.groups[gi];
    let f = Scalars::from_milli;
    match misfit {
        Misfit::Role => format!(
            "role: offer is allocated to role `{}`, the pod runs as `{}`",
            view.role, group.role
        ),
        Misfit::Cpus { need, have } => format!(
            "cpus: needs {} (pod + executor if not running), offer has {}",
            f(need),
            f(have)
        ),
        Misfit::Mem { need, have } => format!(
            "mem: needs {} MB (pod + executor if not running), offer has {} MB",
            f(need),
            f(have)
        ),
        Misfit::Disk { need, have } => format!(
            "disk: needs {} MB (pod + executor if not running), offer has {} MB",
            f(need),
            f(have)
        ),
        Misfit::Ports { need, have } => format!("ports: needs {need}, offer has {have} free"),
        Misfit::Constraint { constraint, why } => {
            let rule = &group.constraints[constraint];
            let value = view.field(&rule.field).unwrap_or("");
            match why {
                ConstraintMisfit::Missing => format!("placement `{rule}`: the agent has no attribute `{}`", rule.field),
                ConstraintMisfit::Full { count } => format!("placement `{rule}`: `{value}` already has {count} pod(s) of the group"),
                ConstraintMisfit::Unbalanced { count, min } => format!(
                    "placement `{rule}`: `{value}` has {count} pod(s) of the group, another value only {min}"
                ),
            }
        }
        Misfit::PinnedElsewhere => {
            "restart: the pod must relaunch on its previous agent".to_string()
        }
    }
}

/// Explains `offer` against up to `limit` pending pods, as if it arrived now.
pub fn explain(
    spec: &ValidatedSpec,
    desired: &BTreeMap<String, u32>,
    tasks: &BTreeMap<String, TaskRecord>,
    slots: &BTreeMap<String, SlotRecord>,
    offer: &Offer,
    now_ms: u64,
    limit: usize,
) -> OfferExplanation {
    let view = OfferView::from_offer(offer);
    let mut index = live_index(spec, tasks);
    index.register(&spec.groups, &view);
    let pending = pending_pods(spec, desired, tasks, slots, now_ms);
    let mut pods = Vec::new();
    for pod in pending
        .ready
        .iter()
        .chain(pending.delayed.iter())
        .take(limit)
    {
        let mut reasons = Vec::new();
        if pod.not_before_ms > now_ms {
            reasons.push(format!(
                "launch backoff: not before {:.1} s from now",
                (pod.not_before_ms - now_ms) as f64 / 1000.0
            ));
        }
        if pod
            .pinned_agent
            .as_ref()
            .is_some_and(|a| a != view.agent_id)
        {
            reasons.push(describe(spec, pod.group, &view, Misfit::PinnedElsewhere));
        }
        visit_misfits(spec, pod.group, &view, &index, |m| {
            reasons.push(describe(spec, pod.group, &view, m));
            true
        });
        pods.push(PodFit {
            slot: pod.slot.clone(),
            fits: reasons.is_empty(),
            reasons,
        });
    }
    OfferExplanation {
        offer_id: view.offer_id.to_string(),
        agent_id: view.agent_id.to_string(),
        hostname: view.hostname.to_string(),
        role: view.role.to_string(),
        cpus: Scalars::from_milli(view.free.cpus),
        mem: Scalars::from_milli(view.free.mem),
        disk: Scalars::from_milli(view.free.disk),
        ports: view.free_ports,
        pods,
    }
}
