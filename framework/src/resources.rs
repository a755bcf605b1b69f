//! Scalar resources in Mesos' own precision: thousandths, as integers, so sums never drift
//! and comparisons are exact (Mesos itself rounds scalars to three decimals).

use serde::Serialize;

/// cpus, mem (MB) and disk (MB), each in thousandths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Scalars {
    /// CPU shares x 1000.
    pub cpus: i64,
    /// Memory MB x 1000.
    pub mem: i64,
    /// Disk MB x 1000.
    pub disk: i64,
}

impl Scalars {
    /// A Mesos scalar (f64) in thousandths, rounded like Mesos does.
    pub fn to_milli(value: f64) -> i64 {
        (value * 1000.0).round() as i64
    }

    /// Thousandths back to a Mesos scalar.
    pub fn from_milli(value: i64) -> f64 {
        value as f64 / 1000.0
    }

    /// Component-wise sum.
    pub fn plus(self, other: Scalars) -> Scalars {
        Scalars {
            cpus: self.cpus + other.cpus,
            mem: self.mem + other.mem,
            disk: self.disk + other.disk,
        }
    }

    /// Component-wise difference.
    pub fn minus(self, other: Scalars) -> Scalars {
        Scalars {
            cpus: self.cpus - other.cpus,
            mem: self.mem - other.mem,
            disk: self.disk - other.disk,
        }
    }

    /// True when every component of `need` fits into `self`.
    pub fn covers(&self, need: &Scalars) -> bool {
        self.cpus >= need.cpus && self.mem >= need.mem && self.disk >= need.disk
    }
}
