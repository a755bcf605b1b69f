//! Builders of offers, specs and task records for tests and benchmarks (shared so unit
//! tests, integration tests and the criterion bench describe inputs the same way).

use std::collections::BTreeMap;

use mesos_proto::v1::{
    resource::AllocationInfo, value, AgentId, Attribute, ExecutorId, FrameworkId, Offer, OfferId,
    Resource,
};

use crate::records::{TaskPhase, TaskRecord};
use crate::spec::{validate, ServiceSpec, ValidatedSpec};

/// A scalar resource.
pub fn scalar(name: &str, amount: f64, role: &str) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        allocation_info: Some(AllocationInfo {
            role: Some(role.into()),
        }),
        ..Default::default()
    }
}

/// A port range resource.
pub fn ports(begin: u64, end: u64, role: &str) -> Resource {
    Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: vec![value::Range { begin, end }],
        }),
        allocation_info: Some(AllocationInfo {
            role: Some(role.into()),
        }),
        ..Default::default()
    }
}

/// A text attribute.
pub fn text_attribute(name: &str, value_text: &str) -> Attribute {
    Attribute {
        name: name.into(),
        r#type: value::Type::Text as i32,
        text: Some(value::Text {
            value: value_text.into(),
        }),
        ..Default::default()
    }
}

/// Shape of a test offer.
#[derive(Debug, Clone)]
pub struct OfferShape {
    /// cpus.
    pub cpus: f64,
    /// mem MB.
    pub mem: f64,
    /// disk MB.
    pub disk: f64,
    /// Port range (inclusive), if any.
    pub ports: Option<(u64, u64)>,
    /// Role.
    pub role: String,
    /// Attributes `name=value`.
    pub attributes: Vec<(String, String)>,
    /// Executors of ours already on the agent.
    pub executors: Vec<String>,
}

impl Default for OfferShape {
    fn default() -> Self {
        OfferShape {
            cpus: 4.0,
            mem: 8192.0,
            disk: 20_000.0,
            ports: Some((31000, 32000)),
            role: "*".into(),
            attributes: Vec::new(),
            executors: Vec::new(),
        }
    }
}

/// An offer `o-<n>` from agent `a-<n>` on host `h-<n>`.
pub fn offer(n: usize, shape: &OfferShape) -> Offer {
    let role = shape.role.as_str();
    let mut resources = vec![
        scalar("cpus", shape.cpus, role),
        scalar("mem", shape.mem, role),
        scalar("disk", shape.disk, role),
    ];
    if let Some((b, e)) = shape.ports {
        resources.push(ports(b, e, role));
    }
    Offer {
        id: OfferId {
            value: format!("o-{n}"),
        },
        framework_id: FrameworkId { value: "fw".into() },
        agent_id: AgentId {
            value: format!("a-{n}"),
        },
        hostname: format!("h-{n}"),
        resources,
        attributes: shape
            .attributes
            .iter()
            .map(|(k, v)| text_attribute(k, v))
            .collect(),
        executor_ids: shape
            .executors
            .iter()
            .map(|e| ExecutorId { value: e.clone() })
            .collect(),
        allocation_info: Some(AllocationInfo {
            role: Some(role.into()),
        }),
        ..Default::default()
    }
}

/// Parses and validates a spec (roles `*`), panicking on errors: for fixtures only.
pub fn spec(text: &str) -> ValidatedSpec {
    let spec = ServiceSpec::parse(text).unwrap_or_else(|e| panic!("fixture spec: {e}"));
    validate(&spec, &["*".to_string()]).unwrap_or_else(|e| panic!("fixture spec: {e}"))
}

/// A one-task group spec fragment.
pub fn group_toml(
    name: &str,
    count: u32,
    cpus: f64,
    mem: f64,
    ports: &[&str],
    placement: &[&str],
) -> String {
    let ports: Vec<String> = ports.iter().map(|p| format!("{p:?}")).collect();
    let placement: Vec<String> = placement.iter().map(|p| format!("{p:?}")).collect();
    format!(
        "[[groups]]\nname = {name:?}\ncount = {count}\nplacement = [{}]\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\ncpus = {cpus}\nmem = {mem}\ndisk = 1\nports = [{}]\n",
        placement.join(", "),
        ports.join(", ")
    )
}

/// A task record of pod `<group>-<index>` on agent `a-<agent>` / host `h-<agent>`.
pub fn task(group: &str, index: u32, agent: usize, state: TaskPhase) -> TaskRecord {
    let slot = format!("{group}-{index}");
    TaskRecord {
        task_id: format!("{slot}-main__{index:08}"),
        slot,
        group: group.into(),
        index,
        task_name: "main".into(),
        agent_id: format!("a-{agent}"),
        hostname: format!("h-{agent}"),
        attributes: BTreeMap::new(),
        role: "*".into(),
        executor_id: crate::spec::executor_id("*"),
        ports: BTreeMap::new(),
        state,
        healthy: None,
        ready: None,
        ready_when: crate::records::ReadyWhen::Running,
        message: None,
        launched_at_ms: 0,
        running_since_ms: None,
        kill: None,
        last_kill_sent_ms: None,
        unreachable_since_ms: None,
        config: 1,
    }
}
