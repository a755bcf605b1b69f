//! Placement rules: how many pods of each group sit on each hostname/attribute value, and
//! whether one more may go onto an offer.

use std::collections::{BTreeMap, HashMap};

use crate::spec::{ConstraintKind, GroupPlan};

/// Pod counts per group, per constraint, per field value. Built from the live pods and grown
/// as a plan places more.
#[derive(Debug, Clone, Default)]
pub struct PlacementIndex {
    /// `[group][constraint] -> value -> pods`.
    counts: Vec<Vec<HashMap<String, u32>>>,
}

/// Where a pod lives, for counting: a field lookup over hostname and attributes.
pub trait Fields {
    /// The value of `hostname` or an attribute.
    fn field(&self, name: &str) -> Option<&str>;
}

impl Fields for super::OfferView<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        super::OfferView::field(self, name)
    }
}

/// Hostname and attributes of a placed pod, as stored in its task record.
pub struct StoredPlace<'a> {
    /// Hostname.
    pub hostname: &'a str,
    /// Attributes.
    pub attributes: &'a BTreeMap<String, String>,
}

impl Fields for StoredPlace<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        if name == "hostname" {
            Some(self.hostname)
        } else {
            self.attributes.get(name).map(String::as_str)
        }
    }
}

/// Why a constraint refuses a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintMisfit {
    /// The agent has no such attribute.
    Missing,
    /// Already `count` pods there (UNIQUE: 1, MAX_PER: n).
    Full {
        /// Pods of the group on this value.
        count: u32,
    },
    /// GROUP_BY: this value has `count` pods, another only `min`.
    Unbalanced {
        /// Pods on this value.
        count: u32,
        /// Pods on the least used value.
        min: u32,
    },
}

impl PlacementIndex {
    /// An empty index shaped for `groups`.
    pub fn new(groups: &[GroupPlan]) -> PlacementIndex {
        PlacementIndex {
            counts: groups
                .iter()
                .map(|g| vec![HashMap::new(); g.constraints.len()])
                .collect(),
        }
    }

    /// Counts one more pod of group `gi` at `place`.
    pub fn record(&mut self, groups: &[GroupPlan], gi: usize, place: &impl Fields) {
        for (ci, c) in groups[gi].constraints.iter().enumerate() {
            if let Some(value) = place.field(&c.field) {
                let counts = &mut self.counts[gi][ci];
                match counts.get_mut(value) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(value.to_string(), 1);
                    }
                }
            }
        }
    }

    /// Makes GROUP_BY aware of a value with no pods yet (seen on an offer).
    pub fn register(&mut self, groups: &[GroupPlan], place: &impl Fields) {
        for (gi, g) in groups.iter().enumerate() {
            for (ci, c) in g.constraints.iter().enumerate() {
                if c.kind == ConstraintKind::GroupBy {
                    if let Some(value) = place.field(&c.field) {
                        if !self.counts[gi][ci].contains_key(value) {
                            self.counts[gi][ci].insert(value.to_string(), 0);
                        }
                    }
                }
            }
        }
    }

    /// Checks constraint `ci` of group `gi` for one more pod at `place`.
    pub fn check(
        &self,
        group: &GroupPlan,
        gi: usize,
        ci: usize,
        place: &impl Fields,
    ) -> Result<(), ConstraintMisfit> {
        let c = &group.constraints[ci];
        let Some(value) = place.field(&c.field) else {
            return Err(ConstraintMisfit::Missing);
        };
        let counts = &self.counts[gi][ci];
        let count = counts.get(value).copied().unwrap_or(0);
        match c.kind {
            ConstraintKind::Unique if count >= 1 => Err(ConstraintMisfit::Full { count }),
            ConstraintKind::MaxPer(n) if count >= n => Err(ConstraintMisfit::Full { count }),
            ConstraintKind::GroupBy => {
                let min = counts.values().copied().min().unwrap_or(0);
                if count > min {
                    Err(ConstraintMisfit::Unbalanced { count, min })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// Why `spec`'s hostname rules cannot all be met on `hosts` distinct agents, counting each
/// group's surge pods (an update runs them beside the old ones): one line per group that
/// would wait forever. Attribute rules are not checked: agents' attributes are only known
/// from their offers.
pub fn unplaceable(groups: &[GroupPlan], hosts: usize) -> Vec<String> {
    let mut refusals = Vec::new();
    for group in groups {
        let pods = group.count + group.rollout.max_surge;
        for constraint in group.constraints.iter().filter(|c| c.field == "hostname") {
            let needed = match constraint.kind {
                ConstraintKind::Unique => pods,
                ConstraintKind::MaxPer(n) => pods.div_ceil(n.max(1)),
                ConstraintKind::GroupBy => continue,
            } as usize;
            if needed > hosts {
                refusals.push(format!(
                    "group {}: {constraint} needs {needed} agents for count {} + max_surge {}; the cluster has {hosts}",
                    group.name, group.count, group.rollout.max_surge
                ));
            }
        }
    }
    refusals
}
