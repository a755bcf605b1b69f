//! An offer as the planner sees it: the unreserved, non-revocable scalars and port ranges of
//! one allocation role, with what this plan has already taken from it.

use std::borrow::Cow;

use mesos_proto::v1::{value, Attribute, Offer, Resource};

use crate::resources::Scalars;

/// A parsed offer whose free resources shrink as pods are placed on it. Borrows its strings
/// from the [`Offer`]: parsing 10,000 offers must not cost 60,000 allocations.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferView<'a> {
    /// Offer id.
    pub offer_id: &'a str,
    /// Agent id.
    pub agent_id: &'a str,
    /// Agent hostname.
    pub hostname: &'a str,
    /// The role the resources are allocated to (MULTI_ROLE).
    pub role: &'a str,
    /// Agent attributes as text (`name`, `value`).
    pub attributes: Vec<(&'a str, Cow<'a, str>)>,
    /// Free cpus/mem/disk.
    pub free: Scalars,
    /// Free port ranges, inclusive.
    pub ports: Vec<(u64, u64)>,
    /// Number of free ports.
    pub free_ports: u64,
    /// Which of our executors already run on the agent (their resources are not needed again).
    pub executor_ids: Vec<Cow<'a, str>>,
}

/// Whether a resource is plain, unreserved and usable by any task of its allocation role.
/// Reserved, revocable, shared and volume/mount disk resources are not used in part 1.
fn is_plain(resource: &Resource) -> bool {
    resource.reservations.is_empty()
        && resource.reservation.is_none()
        && resource.role.as_deref().is_none_or(|r| r == "*")
        && resource.revocable.is_none()
        && resource.shared.is_none()
        && resource.disk.is_none()
}

/// An attribute's value as text (scalar `2`, text `r1`, ranges `[1-2]`, set `{a,b}`).
pub fn attribute_text(attribute: &Attribute) -> Cow<'_, str> {
    if let Some(t) = &attribute.text {
        return Cow::Borrowed(&t.value);
    }
    if let Some(s) = &attribute.scalar {
        return Cow::Owned(format!("{}", s.value));
    }
    if let Some(r) = &attribute.ranges {
        let parts: Vec<String> = r
            .range
            .iter()
            .map(|r| format!("{}-{}", r.begin, r.end))
            .collect();
        return Cow::Owned(format!("[{}]", parts.join(",")));
    }
    if let Some(s) = &attribute.set {
        return Cow::Owned(format!("{{{}}}", s.item.join(",")));
    }
    Cow::Borrowed("")
}

impl<'a> OfferView<'a> {
    /// Parses an offer.
    pub fn from_offer(offer: &'a Offer) -> OfferView<'a> {
        let role = offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            .or_else(|| {
                offer
                    .resources
                    .iter()
                    .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.as_deref()))
            })
            .unwrap_or("*");
        let mut free = Scalars::default();
        let mut ports = Vec::new();
        for resource in offer.resources.iter().filter(|r| is_plain(r)) {
            let scalar = resource
                .scalar
                .map(|s| Scalars::to_milli(s.value))
                .unwrap_or(0);
            match (resource.name.as_str(), resource.r#type) {
                ("cpus", t) if t == value::Type::Scalar as i32 => free.cpus += scalar,
                ("mem", t) if t == value::Type::Scalar as i32 => free.mem += scalar,
                ("disk", t) if t == value::Type::Scalar as i32 => free.disk += scalar,
                ("ports", t) if t == value::Type::Ranges as i32 => {
                    if let Some(ranges) = &resource.ranges {
                        ports.extend(
                            ranges
                                .range
                                .iter()
                                .filter(|r| r.begin <= r.end && r.end <= u64::from(u16::MAX))
                                .map(|r| (r.begin, r.end)),
                        );
                    }
                }
                _ => {}
            }
        }
        ports.sort_unstable();
        let free_ports = ports.iter().map(|(b, e)| e - b + 1).sum();
        OfferView {
            offer_id: &offer.id.value,
            agent_id: &offer.agent_id.value,
            hostname: &offer.hostname,
            role,
            attributes: offer
                .attributes
                .iter()
                .map(|a| (a.name.as_str(), attribute_text(a)))
                .collect(),
            free,
            ports,
            free_ports,
            executor_ids: offer
                .executor_ids
                .iter()
                .map(|e| Cow::Borrowed(e.value.as_str()))
                .collect(),
        }
    }

    /// The value of a placement field: `hostname` or an attribute.
    pub fn field(&self, field: &str) -> Option<&str> {
        if field == "hostname" {
            return Some(self.hostname);
        }
        self.attributes
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, v)| v.as_ref())
    }

    /// Takes the `n` lowest free ports (the caller checked `free_ports >= n`).
    pub fn take_ports(&mut self, n: u32) -> Vec<u16> {
        let mut taken = Vec::with_capacity(n as usize);
        while (taken.len() as u32) < n {
            let Some(first) = self.ports.first_mut() else {
                break;
            };
            taken.push(first.0 as u16);
            if first.0 == first.1 {
                self.ports.remove(0);
            } else {
                first.0 += 1;
            }
        }
        self.free_ports -= taken.len() as u64;
        taken
    }
}
