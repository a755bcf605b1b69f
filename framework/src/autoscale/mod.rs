//! Autoscaling's adapter: [`sampler`] asks the pods of every autoscaled group for their load
//! ([`scrape`] reads a pod's `/metrics`) and feeds the driver's loop a `LoadSample` per group;
//! the decision is pure, in `planner::autoscale`.

pub mod sampler;
pub mod scrape;
