//! Resource arithmetic: the `cpus:4;mem:8192;disk:20000;ports:[31000-32999]` syntax, and the
//! add / subtract / contains operations an allocator needs, converted to and from Mesos
//! `Resource` protobufs.
//!
//! Only unreserved scalar and range resources are modelled (no reservations, volumes, sets).

use std::collections::BTreeMap;
use std::fmt;

use mesos_proto::v1::{value, Resource};

/// Scalars are compared with this tolerance, like Mesos' fixed-point (3 decimals) arithmetic.
const EPSILON: f64 = 0.0005;

/// A bag of unreserved resources: named scalars and named port-like ranges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Scalar resources such as `cpus`, `mem`, `disk`.
    pub scalars: BTreeMap<String, f64>,
    /// Range resources such as `ports`, each a sorted list of disjoint inclusive ranges.
    pub ranges: BTreeMap<String, Vec<(u64, u64)>>,
}

/// Why a resource string could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResourceParseError {
    /// A `name:value` item lacked its `:`; fix the spelling, e.g. `cpus:4`.
    #[error("resource item '{0}' is not 'name:value' (example: 'cpus:4;ports:[31000-32000]')")]
    MissingColon(String),
    /// A scalar was not a non-negative number.
    #[error("resource '{name}' has value '{value}', which is not a non-negative number")]
    BadScalar {
        /// The resource name.
        name: String,
        /// The offending text.
        value: String,
    },
    /// A range list was not `[a-b,c-d]` with `a <= b`.
    #[error("resource '{name}' has ranges '{value}'; expected e.g. '[31000-32000,33000-33100]'")]
    BadRanges {
        /// The resource name.
        name: String,
        /// The offending text.
        value: String,
    },
}

impl Resources {
    /// Parses the `--resources` syntax: `name:number` or `name:[a-b,c-d]` items split by `;`.
    pub fn parse(text: &str) -> Result<Resources, ResourceParseError> {
        let mut out = Resources::default();
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once(':')
                .ok_or_else(|| ResourceParseError::MissingColon(item.to_string()))?;
            let (name, value) = (name.trim(), value.trim());
            if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                let bad = || ResourceParseError::BadRanges {
                    name: name.to_string(),
                    value: value.to_string(),
                };
                let mut ranges = Vec::new();
                for part in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (a, b) = part.split_once('-').ok_or_else(bad)?;
                    let a: u64 = a.trim().parse().map_err(|_| bad())?;
                    let b: u64 = b.trim().parse().map_err(|_| bad())?;
                    if a > b {
                        return Err(bad());
                    }
                    ranges.push((a, b));
                }
                out.add_ranges(name, &ranges);
            } else {
                let v: f64 = value.parse().map_err(|_| ResourceParseError::BadScalar {
                    name: name.to_string(),
                    value: value.to_string(),
                })?;
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(ResourceParseError::BadScalar {
                        name: name.to_string(),
                        value: value.to_string(),
                    });
                }
                *out.scalars.entry(name.to_string()).or_default() += v;
            }
        }
        Ok(out)
    }

    /// Reads the unreserved scalar and range parts of protobuf resources (others are ignored).
    pub fn from_proto(resources: &[Resource]) -> Resources {
        let mut out = Resources::default();
        for r in resources {
            if let Some(s) = &r.scalar {
                *out.scalars.entry(r.name.clone()).or_default() += s.value;
            }
            if let Some(rs) = &r.ranges {
                let list: Vec<(u64, u64)> = rs.range.iter().map(|x| (x.begin, x.end)).collect();
                out.add_ranges(&r.name, &list);
            }
        }
        out
    }

    /// Renders as protobuf resources; `role` fills `allocation_info.role` when given (offers to
    /// MULTI_ROLE frameworks carry it on every resource).
    pub fn to_proto(&self, role: Option<&str>) -> Vec<Resource> {
        let allocation_info = role.map(|r| mesos_proto::v1::resource::AllocationInfo {
            role: Some(r.to_string()),
        });
        let mut out = Vec::new();
        for (name, v) in &self.scalars {
            if *v <= EPSILON {
                continue;
            }
            out.push(Resource {
                name: name.clone(),
                r#type: value::Type::Scalar as i32,
                scalar: Some(value::Scalar { value: round(*v) }),
                allocation_info: allocation_info.clone(),
                ..Default::default()
            });
        }
        for (name, list) in &self.ranges {
            if list.is_empty() {
                continue;
            }
            out.push(Resource {
                name: name.clone(),
                r#type: value::Type::Ranges as i32,
                ranges: Some(value::Ranges {
                    range: list
                        .iter()
                        .map(|&(begin, end)| value::Range { begin, end })
                        .collect(),
                }),
                allocation_info: allocation_info.clone(),
                ..Default::default()
            });
        }
        out
    }

    /// The scalar named `name`, 0 when absent.
    pub fn scalar(&self, name: &str) -> f64 {
        self.scalars.get(name).copied().unwrap_or(0.0)
    }

    /// True when nothing is left worth offering (Mesos' minimum allocatable: 0.01 cpus or 32 MB).
    pub fn is_offerable(&self) -> bool {
        self.scalar("cpus") >= 0.01 || self.scalar("mem") >= 32.0
    }

    /// True when every part of `other` fits inside `self`.
    pub fn contains(&self, other: &Resources) -> bool {
        let scalars_fit = other
            .scalars
            .iter()
            .all(|(n, v)| self.scalar(n) + EPSILON >= *v);
        let ranges_fit = other.ranges.iter().all(|(n, wanted)| {
            let have = self.ranges.get(n).map(Vec::as_slice).unwrap_or(&[]);
            wanted
                .iter()
                .all(|&(a, b)| have.iter().any(|&(x, y)| x <= a && b <= y))
        });
        scalars_fit && ranges_fit
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Resources) {
        for (n, v) in &other.scalars {
            *self.scalars.entry(n.clone()).or_default() += v;
        }
        for (n, list) in &other.ranges {
            self.add_ranges(n, list);
        }
    }

    /// Removes `other` from `self`, clamping scalars at zero and cutting ranges.
    pub fn subtract(&mut self, other: &Resources) {
        for (n, v) in &other.scalars {
            let entry = self.scalars.entry(n.clone()).or_default();
            *entry = (*entry - v).max(0.0);
        }
        for (n, cut) in &other.ranges {
            if let Some(have) = self.ranges.get_mut(n) {
                for &(a, b) in cut {
                    let mut next = Vec::with_capacity(have.len() + 1);
                    for &(x, y) in have.iter() {
                        if b < x || y < a {
                            next.push((x, y));
                            continue;
                        }
                        if x < a {
                            next.push((x, a - 1));
                        }
                        if b < y {
                            next.push((b + 1, y));
                        }
                    }
                    *have = next;
                }
            }
        }
    }

    /// These resources with every range resource (`ports`) cut to slice `part` of `parts`
    /// disjoint, nearly equal slices. Dev cluster agents all live on one machine (on 127.0.0.1
    /// unless each has its own loopback address), where real agents would be separate hosts:
    /// disjoint port slices keep two tasks on different agents from being offered, and
    /// binding, the same port, even when they bind every address.
    pub fn with_range_share(&self, part: usize, parts: usize) -> Resources {
        let mut out = Resources {
            scalars: self.scalars.clone(),
            ranges: BTreeMap::new(),
        };
        let parts = parts.max(1) as u64;
        let part = part as u64 % parts;
        for (name, list) in &self.ranges {
            let total: u64 = list.iter().map(|(a, b)| b - a + 1).sum();
            let (from, to) = (total * part / parts, total * (part + 1) / parts);
            // Walk the ranges, keeping the values whose position is in [from, to).
            let mut share = Vec::new();
            let mut position = 0u64;
            for &(a, b) in list {
                let len = b - a + 1;
                let (start, end) = (from.max(position), to.min(position + len));
                if start < end {
                    share.push((a + (start - position), a + (end - position) - 1));
                }
                position += len;
            }
            out.add_ranges(name, &share);
        }
        out
    }

    fn add_ranges(&mut self, name: &str, list: &[(u64, u64)]) {
        let have = self.ranges.entry(name.to_string()).or_default();
        have.extend_from_slice(list);
        have.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(have.len());
        for &(a, b) in have.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *have = merged;
    }

    /// The JSON object `/state` shows: scalars as numbers, ranges as `"[a-b, c-d]"`.
    pub fn to_state_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for name in ["cpus", "mem", "disk", "gpus"] {
            map.insert(
                name.to_string(),
                serde_json::json!(round(self.scalar(name))),
            );
        }
        for (n, v) in &self.scalars {
            map.insert(n.clone(), serde_json::json!(round(*v)));
        }
        for (n, list) in &self.ranges {
            let text: Vec<String> = list.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            map.insert(
                n.clone(),
                serde_json::json!(format!("[{}]", text.join(", "))),
            );
        }
        serde_json::Value::Object(map)
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .scalars
            .iter()
            .map(|(n, v)| format!("{n}:{}", round(*v)))
            .collect();
        for (n, list) in &self.ranges {
            let text: Vec<String> = list.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            parts.push(format!("{n}:[{}]", text.join(",")));
        }
        f.write_str(&parts.join(";"))
    }
}

/// Parses `rack:r1;zone:a` into TEXT (or SCALAR, when numeric) Mesos attributes.
pub fn parse_attributes(text: &str) -> Vec<mesos_proto::v1::Attribute> {
    text.split(';')
        .map(str::trim)
        .filter_map(|item| item.split_once(':'))
        .map(|(name, v)| {
            let (name, v) = (name.trim().to_string(), v.trim().to_string());
            match v.parse::<f64>() {
                Ok(x) => mesos_proto::v1::Attribute {
                    name,
                    r#type: value::Type::Scalar as i32,
                    scalar: Some(value::Scalar { value: x }),
                    ..Default::default()
                },
                Err(_) => mesos_proto::v1::Attribute {
                    name,
                    r#type: value::Type::Text as i32,
                    text: Some(value::Text { value: v }),
                    ..Default::default()
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn range_shares_are_disjoint_and_cover_everything() {
        let all = Resources::parse("cpus:4;ports:[31000-31009,32000-32004]").expect("parses");
        let shares: Vec<Resources> = (0..3).map(|i| all.with_range_share(i, 3)).collect();
        assert_eq!(shares[0].ranges["ports"], vec![(31000, 31004)]);
        assert_eq!(shares[1].ranges["ports"], vec![(31005, 31009)]);
        assert_eq!(shares[2].ranges["ports"], vec![(32000, 32004)]);
        assert!(shares.iter().all(|s| s.scalar("cpus") == 4.0));
        let mut union = Resources::default();
        shares.iter().for_each(|s| union.add(s));
        assert_eq!(union.ranges, all.ranges);
        assert_eq!(all.with_range_share(0, 1).ranges, all.ranges);
    }

    use super::*;

    #[test]
    fn parses_the_documented_syntax() {
        let r = Resources::parse("cpus:4;mem:8192;disk:20000;ports:[31000-32999]").unwrap();
        assert_eq!(r.scalar("cpus"), 4.0);
        assert_eq!(r.ranges["ports"], vec![(31000, 32999)]);
    }

    #[test]
    fn rejects_bad_items_naming_them() {
        assert!(matches!(
            Resources::parse("cpus=4"),
            Err(ResourceParseError::MissingColon(_))
        ));
        assert!(matches!(
            Resources::parse("cpus:x"),
            Err(ResourceParseError::BadScalar { .. })
        ));
        assert!(matches!(
            Resources::parse("ports:[5-1]"),
            Err(ResourceParseError::BadRanges { .. })
        ));
    }

    #[test]
    fn subtract_then_contains() {
        let mut total = Resources::parse("cpus:4;mem:1024;ports:[100-200]").unwrap();
        let used = Resources::parse("cpus:1;ports:[150-150]").unwrap();
        total.subtract(&used);
        assert_eq!(total.ranges["ports"], vec![(100, 149), (151, 200)]);
        assert!(total.contains(&Resources::parse("cpus:3;ports:[151-160]").unwrap()));
        assert!(!total.contains(&Resources::parse("ports:[150-150]").unwrap()));
        assert!(!total.contains(&Resources::parse("cpus:3.5").unwrap()));
    }

    #[test]
    fn proto_round_trip() {
        let r = Resources::parse("cpus:0.5;mem:64;ports:[1-2,4-5]").unwrap();
        assert_eq!(Resources::from_proto(&r.to_proto(Some("a"))), r);
    }
}
