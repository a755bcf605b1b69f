//! Wire conformance of our `.proto` files with upstream Mesos.
//!
//! The tables below are facts transcribed by hand from apache/mesos (Mesos 1.12 era):
//! `include/mesos/v1/mesos.proto`, `include/mesos/v1/scheduler/scheduler.proto` and
//! `include/mesos/v1/executor/executor.proto`. They are NOT generated from `proto/`: they are
//! the reference our files are checked against. One row per field:
//! `(message, field, number, type, label)`, where `message` is fully qualified without the
//! leading dot and `type` is the proto scalar name or the fully qualified enum/message name.
//!
//! The test decodes the descriptor set built from `proto/` ([`mesos_proto::FILE_DESCRIPTOR_SET`])
//! and checks that:
//! 1. every field we ship is in the tables, with the same number, type and label;
//! 2. every row of the tables is shipped (the tables are exactly what we ship);
//! 3. every message we ship has a row (or is an upstream empty message);
//! 4. enums (values, numbers, declaration order) and `[default = ...]`s equal upstream;
//! 5. upstream fields we deliberately leave out ([`OMITTED`]) stay out, and their numbers are
//!    not reused.
//!
//! Messages may carry a subset of the upstream fields (prost skips unknown fields), but enums
//! are always complete. `map<K, V> f = N;` appears as the synthetic `FEntry` message upstream
//! protoc generates too (`key = 1`, `value = 2`), listed in [`MAP_ENTRIES`].

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use prost_types::{
    field_descriptor_proto::{Label, Type},
    DescriptorProto, EnumDescriptorProto, FileDescriptorSet,
};

/// `(message, field, number, type, label)`.
type Field = (&'static str, &'static str, i32, &'static str, &'static str);
/// `(enum, value, number)`, in upstream declaration order.
type EnumValue = (&'static str, &'static str, i32);
/// `(message, field, default as written upstream)`.
type Default = (&'static str, &'static str, &'static str);

const REQ: &str = "required";
const OPT: &str = "optional";
const REP: &str = "repeated";

// ---------------------------------------------------------------------------------------------
// mesos.v1 (include/mesos/v1/mesos.proto)
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
const IDS_AND_BASICS: &[Field] = &[
    ("mesos.v1.FrameworkID", "value", 1, "string", REQ),
    ("mesos.v1.OfferID", "value", 1, "string", REQ),
    ("mesos.v1.AgentID", "value", 1, "string", REQ),
    ("mesos.v1.TaskID", "value", 1, "string", REQ),
    ("mesos.v1.ExecutorID", "value", 1, "string", REQ),
    ("mesos.v1.ContainerID", "value", 1, "string", REQ),
    ("mesos.v1.ContainerID", "parent", 2, ".mesos.v1.ContainerID", OPT),
    ("mesos.v1.ResourceProviderID", "value", 1, "string", REQ),
    ("mesos.v1.OperationID", "value", 1, "string", REQ),
    ("mesos.v1.UUID", "value", 1, "bytes", REQ),
    ("mesos.v1.TimeInfo", "nanoseconds", 1, "int64", REQ),
    ("mesos.v1.DurationInfo", "nanoseconds", 1, "int64", REQ),
    ("mesos.v1.Address", "hostname", 1, "string", OPT),
    ("mesos.v1.Address", "ip", 2, "string", OPT),
    ("mesos.v1.Address", "port", 3, "int32", REQ),
    ("mesos.v1.URL", "scheme", 1, "string", REQ),
    ("mesos.v1.URL", "address", 2, ".mesos.v1.Address", REQ),
    ("mesos.v1.URL", "path", 3, "string", OPT),
    ("mesos.v1.URL", "query", 4, ".mesos.v1.Parameter", REP),
    ("mesos.v1.URL", "fragment", 5, "string", OPT),
    ("mesos.v1.Unavailability", "start", 1, ".mesos.v1.TimeInfo", REQ),
    ("mesos.v1.Unavailability", "duration", 2, ".mesos.v1.DurationInfo", OPT),
    ("mesos.v1.Parameter", "key", 1, "string", REQ),
    ("mesos.v1.Parameter", "value", 2, "string", REQ),
    ("mesos.v1.Parameters", "parameter", 1, ".mesos.v1.Parameter", REP),
    ("mesos.v1.Labels", "labels", 1, ".mesos.v1.Label", REP),
    ("mesos.v1.Label", "key", 1, "string", REQ),
    ("mesos.v1.Label", "value", 2, "string", OPT),
    ("mesos.v1.DomainInfo.FaultDomain.RegionInfo", "name", 1, "string", REQ),
    ("mesos.v1.DomainInfo.FaultDomain.ZoneInfo", "name", 1, "string", REQ),
    ("mesos.v1.DomainInfo.FaultDomain", "region", 1, ".mesos.v1.DomainInfo.FaultDomain.RegionInfo", REQ),
    ("mesos.v1.DomainInfo.FaultDomain", "zone", 2, ".mesos.v1.DomainInfo.FaultDomain.ZoneInfo", REQ),
    ("mesos.v1.DomainInfo", "fault_domain", 1, ".mesos.v1.DomainInfo.FaultDomain", OPT),
];

#[rustfmt::skip]
const MASTERS_AGENTS_FRAMEWORKS: &[Field] = &[
    ("mesos.v1.MasterInfo", "id", 1, "string", REQ),
    ("mesos.v1.MasterInfo", "ip", 2, "uint32", REQ),
    ("mesos.v1.MasterInfo", "port", 3, "uint32", REQ),
    ("mesos.v1.MasterInfo", "pid", 4, "string", OPT),
    ("mesos.v1.MasterInfo", "hostname", 5, "string", OPT),
    ("mesos.v1.MasterInfo", "version", 6, "string", OPT),
    ("mesos.v1.MasterInfo", "address", 7, ".mesos.v1.Address", OPT),
    ("mesos.v1.MasterInfo", "domain", 8, ".mesos.v1.DomainInfo", OPT),
    ("mesos.v1.MasterInfo.Capability", "type", 1, ".mesos.v1.MasterInfo.Capability.Type", OPT),
    ("mesos.v1.MasterInfo", "capabilities", 9, ".mesos.v1.MasterInfo.Capability", REP),
    ("mesos.v1.AgentInfo", "hostname", 1, "string", REQ),
    ("mesos.v1.AgentInfo", "port", 8, "int32", OPT),
    ("mesos.v1.AgentInfo", "resources", 3, ".mesos.v1.Resource", REP),
    ("mesos.v1.AgentInfo", "attributes", 5, ".mesos.v1.Attribute", REP),
    ("mesos.v1.AgentInfo", "id", 6, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.AgentInfo", "domain", 10, ".mesos.v1.DomainInfo", OPT),
    ("mesos.v1.AgentInfo.Capability", "type", 1, ".mesos.v1.AgentInfo.Capability.Type", OPT),
    ("mesos.v1.FrameworkInfo", "user", 1, "string", REQ),
    ("mesos.v1.FrameworkInfo", "name", 2, "string", REQ),
    ("mesos.v1.FrameworkInfo", "id", 3, ".mesos.v1.FrameworkID", OPT),
    ("mesos.v1.FrameworkInfo", "failover_timeout", 4, "double", OPT),
    ("mesos.v1.FrameworkInfo", "checkpoint", 5, "bool", OPT),
    ("mesos.v1.FrameworkInfo", "role", 6, "string", OPT),
    ("mesos.v1.FrameworkInfo", "roles", 12, "string", REP),
    ("mesos.v1.FrameworkInfo", "hostname", 7, "string", OPT),
    ("mesos.v1.FrameworkInfo", "principal", 8, "string", OPT),
    ("mesos.v1.FrameworkInfo", "webui_url", 9, "string", OPT),
    ("mesos.v1.FrameworkInfo.Capability", "type", 1, ".mesos.v1.FrameworkInfo.Capability.Type", OPT),
    ("mesos.v1.FrameworkInfo", "capabilities", 10, ".mesos.v1.FrameworkInfo.Capability", REP),
    ("mesos.v1.FrameworkInfo", "labels", 11, ".mesos.v1.Labels", OPT),
    // map<string, OfferFilters> offer_filters = 13;
    ("mesos.v1.FrameworkInfo", "offer_filters", 13, ".mesos.v1.FrameworkInfo.OfferFiltersEntry", REP),
    ("mesos.v1.FrameworkInfo.OfferFiltersEntry", "key", 1, "string", OPT),
    ("mesos.v1.FrameworkInfo.OfferFiltersEntry", "value", 2, ".mesos.v1.OfferFilters", OPT),
    // map<string, Value.Scalar> quantities = 1;
    ("mesos.v1.OfferFilters.ResourceQuantities", "quantities", 1, ".mesos.v1.OfferFilters.ResourceQuantities.QuantitiesEntry", REP),
    ("mesos.v1.OfferFilters.ResourceQuantities.QuantitiesEntry", "key", 1, "string", OPT),
    ("mesos.v1.OfferFilters.ResourceQuantities.QuantitiesEntry", "value", 2, ".mesos.v1.Value.Scalar", OPT),
    ("mesos.v1.OfferFilters.MinAllocatableResources", "quantities", 1, ".mesos.v1.OfferFilters.ResourceQuantities", REP),
    ("mesos.v1.OfferFilters", "min_allocatable_resources", 1, ".mesos.v1.OfferFilters.MinAllocatableResources", OPT),
];

#[rustfmt::skip]
const VALUES_AND_RESOURCES: &[Field] = &[
    ("mesos.v1.Value.Scalar", "value", 1, "double", REQ),
    ("mesos.v1.Value.Range", "begin", 1, "uint64", REQ),
    ("mesos.v1.Value.Range", "end", 2, "uint64", REQ),
    ("mesos.v1.Value.Ranges", "range", 1, ".mesos.v1.Value.Range", REP),
    ("mesos.v1.Value.Set", "item", 1, "string", REP),
    ("mesos.v1.Value.Text", "value", 1, "string", REQ),
    ("mesos.v1.Value", "type", 1, ".mesos.v1.Value.Type", REQ),
    ("mesos.v1.Value", "scalar", 2, ".mesos.v1.Value.Scalar", OPT),
    ("mesos.v1.Value", "ranges", 3, ".mesos.v1.Value.Ranges", OPT),
    ("mesos.v1.Value", "set", 4, ".mesos.v1.Value.Set", OPT),
    ("mesos.v1.Value", "text", 5, ".mesos.v1.Value.Text", OPT),
    ("mesos.v1.Attribute", "name", 1, "string", REQ),
    ("mesos.v1.Attribute", "type", 2, ".mesos.v1.Value.Type", REQ),
    ("mesos.v1.Attribute", "scalar", 3, ".mesos.v1.Value.Scalar", OPT),
    ("mesos.v1.Attribute", "ranges", 4, ".mesos.v1.Value.Ranges", OPT),
    ("mesos.v1.Attribute", "set", 6, ".mesos.v1.Value.Set", OPT),
    ("mesos.v1.Attribute", "text", 5, ".mesos.v1.Value.Text", OPT),
    ("mesos.v1.Resource", "provider_id", 12, ".mesos.v1.ResourceProviderID", OPT),
    ("mesos.v1.Resource", "name", 1, "string", REQ),
    ("mesos.v1.Resource", "type", 2, ".mesos.v1.Value.Type", REQ),
    ("mesos.v1.Resource", "scalar", 3, ".mesos.v1.Value.Scalar", OPT),
    ("mesos.v1.Resource", "ranges", 4, ".mesos.v1.Value.Ranges", OPT),
    ("mesos.v1.Resource", "set", 5, ".mesos.v1.Value.Set", OPT),
    ("mesos.v1.Resource", "role", 6, "string", OPT),
    ("mesos.v1.Resource.AllocationInfo", "role", 1, "string", OPT),
    ("mesos.v1.Resource", "allocation_info", 11, ".mesos.v1.Resource.AllocationInfo", OPT),
    ("mesos.v1.Resource.ReservationInfo", "type", 4, ".mesos.v1.Resource.ReservationInfo.Type", OPT),
    ("mesos.v1.Resource.ReservationInfo", "role", 3, "string", OPT),
    ("mesos.v1.Resource.ReservationInfo", "principal", 1, "string", OPT),
    ("mesos.v1.Resource.ReservationInfo", "labels", 2, ".mesos.v1.Labels", OPT),
    ("mesos.v1.Resource", "reservation", 8, ".mesos.v1.Resource.ReservationInfo", OPT),
    ("mesos.v1.Resource", "reservations", 13, ".mesos.v1.Resource.ReservationInfo", REP),
    ("mesos.v1.Resource.DiskInfo.Persistence", "id", 1, "string", REQ),
    ("mesos.v1.Resource.DiskInfo.Persistence", "principal", 2, "string", OPT),
    ("mesos.v1.Resource.DiskInfo", "persistence", 1, ".mesos.v1.Resource.DiskInfo.Persistence", OPT),
    ("mesos.v1.Resource.DiskInfo", "volume", 2, ".mesos.v1.Volume", OPT),
    ("mesos.v1.Resource.DiskInfo.Source.Path", "root", 1, "string", OPT),
    ("mesos.v1.Resource.DiskInfo.Source.Mount", "root", 1, "string", OPT),
    ("mesos.v1.Resource.DiskInfo.Source", "type", 1, ".mesos.v1.Resource.DiskInfo.Source.Type", REQ),
    ("mesos.v1.Resource.DiskInfo.Source", "path", 2, ".mesos.v1.Resource.DiskInfo.Source.Path", OPT),
    ("mesos.v1.Resource.DiskInfo.Source", "mount", 3, ".mesos.v1.Resource.DiskInfo.Source.Mount", OPT),
    ("mesos.v1.Resource.DiskInfo.Source", "vendor", 7, "string", OPT),
    ("mesos.v1.Resource.DiskInfo.Source", "id", 4, "string", OPT),
    ("mesos.v1.Resource.DiskInfo.Source", "metadata", 5, ".mesos.v1.Labels", OPT),
    ("mesos.v1.Resource.DiskInfo.Source", "profile", 6, "string", OPT),
    ("mesos.v1.Resource.DiskInfo", "source", 3, ".mesos.v1.Resource.DiskInfo.Source", OPT),
    ("mesos.v1.Resource", "disk", 7, ".mesos.v1.Resource.DiskInfo", OPT),
    ("mesos.v1.Resource", "revocable", 9, ".mesos.v1.Resource.RevocableInfo", OPT),
    ("mesos.v1.Resource", "shared", 10, ".mesos.v1.Resource.SharedInfo", OPT),
    ("mesos.v1.Request", "agent_id", 1, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.Request", "resources", 2, ".mesos.v1.Resource", REP),
    ("mesos.v1.Filters", "refuse_seconds", 1, "double", OPT),
];

#[rustfmt::skip]
const OFFERS: &[Field] = &[
    ("mesos.v1.Offer", "id", 1, ".mesos.v1.OfferID", REQ),
    ("mesos.v1.Offer", "framework_id", 2, ".mesos.v1.FrameworkID", REQ),
    ("mesos.v1.Offer", "agent_id", 3, ".mesos.v1.AgentID", REQ),
    ("mesos.v1.Offer", "hostname", 4, "string", REQ),
    ("mesos.v1.Offer", "url", 8, ".mesos.v1.URL", OPT),
    ("mesos.v1.Offer", "domain", 11, ".mesos.v1.DomainInfo", OPT),
    ("mesos.v1.Offer", "resources", 5, ".mesos.v1.Resource", REP),
    ("mesos.v1.Offer", "attributes", 7, ".mesos.v1.Attribute", REP),
    ("mesos.v1.Offer", "executor_ids", 6, ".mesos.v1.ExecutorID", REP),
    ("mesos.v1.Offer", "unavailability", 9, ".mesos.v1.Unavailability", OPT),
    ("mesos.v1.Offer", "allocation_info", 10, ".mesos.v1.Resource.AllocationInfo", OPT),
    ("mesos.v1.Offer.Operation.Launch", "task_infos", 1, ".mesos.v1.TaskInfo", REP),
    ("mesos.v1.Offer.Operation.LaunchGroup", "executor", 1, ".mesos.v1.ExecutorInfo", REQ),
    ("mesos.v1.Offer.Operation.LaunchGroup", "task_group", 2, ".mesos.v1.TaskGroupInfo", REQ),
    ("mesos.v1.Offer.Operation.Reserve", "source", 2, ".mesos.v1.Resource", REP),
    ("mesos.v1.Offer.Operation.Reserve", "resources", 1, ".mesos.v1.Resource", REP),
    ("mesos.v1.Offer.Operation.Unreserve", "resources", 1, ".mesos.v1.Resource", REP),
    ("mesos.v1.Offer.Operation.Create", "volumes", 1, ".mesos.v1.Resource", REP),
    ("mesos.v1.Offer.Operation.Destroy", "volumes", 1, ".mesos.v1.Resource", REP),
    ("mesos.v1.Offer.Operation.GrowVolume", "volume", 1, ".mesos.v1.Resource", REQ),
    ("mesos.v1.Offer.Operation.GrowVolume", "addition", 2, ".mesos.v1.Resource", REQ),
    ("mesos.v1.Offer.Operation.ShrinkVolume", "volume", 1, ".mesos.v1.Resource", REQ),
    ("mesos.v1.Offer.Operation.ShrinkVolume", "subtract", 2, ".mesos.v1.Value.Scalar", REQ),
    ("mesos.v1.Offer.Operation.CreateDisk", "source", 1, ".mesos.v1.Resource", REQ),
    ("mesos.v1.Offer.Operation.CreateDisk", "target_type", 2, ".mesos.v1.Resource.DiskInfo.Source.Type", REQ),
    ("mesos.v1.Offer.Operation.CreateDisk", "target_profile", 3, "string", OPT),
    ("mesos.v1.Offer.Operation.DestroyDisk", "source", 1, ".mesos.v1.Resource", REQ),
    ("mesos.v1.Offer.Operation", "type", 1, ".mesos.v1.Offer.Operation.Type", OPT),
    ("mesos.v1.Offer.Operation", "id", 12, ".mesos.v1.OperationID", OPT),
    ("mesos.v1.Offer.Operation", "launch", 2, ".mesos.v1.Offer.Operation.Launch", OPT),
    ("mesos.v1.Offer.Operation", "launch_group", 7, ".mesos.v1.Offer.Operation.LaunchGroup", OPT),
    ("mesos.v1.Offer.Operation", "reserve", 3, ".mesos.v1.Offer.Operation.Reserve", OPT),
    ("mesos.v1.Offer.Operation", "unreserve", 4, ".mesos.v1.Offer.Operation.Unreserve", OPT),
    ("mesos.v1.Offer.Operation", "create", 5, ".mesos.v1.Offer.Operation.Create", OPT),
    ("mesos.v1.Offer.Operation", "destroy", 6, ".mesos.v1.Offer.Operation.Destroy", OPT),
    ("mesos.v1.Offer.Operation", "grow_volume", 13, ".mesos.v1.Offer.Operation.GrowVolume", OPT),
    ("mesos.v1.Offer.Operation", "shrink_volume", 14, ".mesos.v1.Offer.Operation.ShrinkVolume", OPT),
    ("mesos.v1.Offer.Operation", "create_disk", 15, ".mesos.v1.Offer.Operation.CreateDisk", OPT),
    ("mesos.v1.Offer.Operation", "destroy_disk", 16, ".mesos.v1.Offer.Operation.DestroyDisk", OPT),
    ("mesos.v1.InverseOffer", "id", 1, ".mesos.v1.OfferID", REQ),
    ("mesos.v1.InverseOffer", "url", 2, ".mesos.v1.URL", OPT),
    ("mesos.v1.InverseOffer", "framework_id", 3, ".mesos.v1.FrameworkID", REQ),
    ("mesos.v1.InverseOffer", "agent_id", 4, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.InverseOffer", "unavailability", 5, ".mesos.v1.Unavailability", REQ),
    ("mesos.v1.InverseOffer", "resources", 6, ".mesos.v1.Resource", REP),
];

#[rustfmt::skip]
const COMMANDS_EXECUTORS_CONTAINERS: &[Field] = &[
    ("mesos.v1.Environment.Variable", "name", 1, "string", REQ),
    ("mesos.v1.Environment.Variable", "type", 3, ".mesos.v1.Environment.Variable.Type", OPT),
    ("mesos.v1.Environment.Variable", "value", 2, "string", OPT),
    ("mesos.v1.Environment", "variables", 1, ".mesos.v1.Environment.Variable", REP),
    ("mesos.v1.CommandInfo.URI", "value", 1, "string", REQ),
    ("mesos.v1.CommandInfo.URI", "executable", 2, "bool", OPT),
    ("mesos.v1.CommandInfo.URI", "extract", 3, "bool", OPT),
    ("mesos.v1.CommandInfo.URI", "cache", 4, "bool", OPT),
    ("mesos.v1.CommandInfo.URI", "output_file", 5, "string", OPT),
    ("mesos.v1.CommandInfo", "uris", 1, ".mesos.v1.CommandInfo.URI", REP),
    ("mesos.v1.CommandInfo", "environment", 2, ".mesos.v1.Environment", OPT),
    ("mesos.v1.CommandInfo", "shell", 6, "bool", OPT),
    ("mesos.v1.CommandInfo", "value", 3, "string", OPT),
    ("mesos.v1.CommandInfo", "arguments", 7, "string", REP),
    ("mesos.v1.CommandInfo", "user", 5, "string", OPT),
    ("mesos.v1.ExecutorInfo", "type", 15, ".mesos.v1.ExecutorInfo.Type", OPT),
    ("mesos.v1.ExecutorInfo", "executor_id", 1, ".mesos.v1.ExecutorID", REQ),
    ("mesos.v1.ExecutorInfo", "framework_id", 8, ".mesos.v1.FrameworkID", OPT),
    ("mesos.v1.ExecutorInfo", "command", 7, ".mesos.v1.CommandInfo", OPT),
    ("mesos.v1.ExecutorInfo", "container", 11, ".mesos.v1.ContainerInfo", OPT),
    ("mesos.v1.ExecutorInfo", "resources", 5, ".mesos.v1.Resource", REP),
    ("mesos.v1.ExecutorInfo", "name", 9, "string", OPT),
    ("mesos.v1.ExecutorInfo", "source", 10, "string", OPT),
    ("mesos.v1.ExecutorInfo", "data", 4, "bytes", OPT),
    ("mesos.v1.ExecutorInfo", "discovery", 12, ".mesos.v1.DiscoveryInfo", OPT),
    ("mesos.v1.ExecutorInfo", "shutdown_grace_period", 13, ".mesos.v1.DurationInfo", OPT),
    ("mesos.v1.ExecutorInfo", "labels", 14, ".mesos.v1.Labels", OPT),
    ("mesos.v1.Image.Appc", "name", 1, "string", REQ),
    ("mesos.v1.Image.Appc", "id", 2, "string", OPT),
    ("mesos.v1.Image.Appc", "labels", 3, ".mesos.v1.Labels", OPT),
    ("mesos.v1.Image.Docker", "name", 1, "string", REQ),
    ("mesos.v1.Image", "type", 1, ".mesos.v1.Image.Type", REQ),
    ("mesos.v1.Image", "appc", 2, ".mesos.v1.Image.Appc", OPT),
    ("mesos.v1.Image", "docker", 3, ".mesos.v1.Image.Docker", OPT),
    ("mesos.v1.Image", "cached", 4, "bool", OPT),
    ("mesos.v1.MountPropagation", "mode", 1, ".mesos.v1.MountPropagation.Mode", OPT),
    ("mesos.v1.Volume", "mode", 3, ".mesos.v1.Volume.Mode", REQ),
    ("mesos.v1.Volume", "container_path", 1, "string", REQ),
    ("mesos.v1.Volume", "host_path", 2, "string", OPT),
    ("mesos.v1.Volume", "image", 4, ".mesos.v1.Image", OPT),
    ("mesos.v1.Volume.Source.DockerVolume", "driver", 1, "string", OPT),
    ("mesos.v1.Volume.Source.DockerVolume", "name", 2, "string", REQ),
    ("mesos.v1.Volume.Source.DockerVolume", "driver_options", 3, ".mesos.v1.Parameters", OPT),
    ("mesos.v1.Volume.Source.HostPath", "path", 1, "string", REQ),
    ("mesos.v1.Volume.Source.HostPath", "mount_propagation", 2, ".mesos.v1.MountPropagation", OPT),
    ("mesos.v1.Volume.Source.SandboxPath", "type", 1, ".mesos.v1.Volume.Source.SandboxPath.Type", OPT),
    ("mesos.v1.Volume.Source.SandboxPath", "path", 2, "string", REQ),
    ("mesos.v1.Volume.Source", "type", 1, ".mesos.v1.Volume.Source.Type", OPT),
    ("mesos.v1.Volume.Source", "docker_volume", 2, ".mesos.v1.Volume.Source.DockerVolume", OPT),
    ("mesos.v1.Volume.Source", "host_path", 5, ".mesos.v1.Volume.Source.HostPath", OPT),
    ("mesos.v1.Volume.Source", "sandbox_path", 3, ".mesos.v1.Volume.Source.SandboxPath", OPT),
    ("mesos.v1.Volume", "source", 5, ".mesos.v1.Volume.Source", OPT),
    ("mesos.v1.NetworkInfo.IPAddress", "protocol", 1, ".mesos.v1.NetworkInfo.Protocol", OPT),
    ("mesos.v1.NetworkInfo.IPAddress", "ip_address", 2, "string", OPT),
    ("mesos.v1.NetworkInfo", "ip_addresses", 5, ".mesos.v1.NetworkInfo.IPAddress", REP),
    ("mesos.v1.NetworkInfo", "name", 6, "string", OPT),
    ("mesos.v1.NetworkInfo", "groups", 3, "string", REP),
    ("mesos.v1.NetworkInfo", "labels", 4, ".mesos.v1.Labels", OPT),
    ("mesos.v1.NetworkInfo.PortMapping", "host_port", 1, "uint32", REQ),
    ("mesos.v1.NetworkInfo.PortMapping", "container_port", 2, "uint32", REQ),
    ("mesos.v1.NetworkInfo.PortMapping", "protocol", 3, "string", OPT),
    ("mesos.v1.NetworkInfo", "port_mappings", 7, ".mesos.v1.NetworkInfo.PortMapping", REP),
    ("mesos.v1.ContainerInfo.DockerInfo", "image", 1, "string", REQ),
    ("mesos.v1.ContainerInfo.DockerInfo", "network", 2, ".mesos.v1.ContainerInfo.DockerInfo.Network", OPT),
    ("mesos.v1.ContainerInfo.DockerInfo.PortMapping", "host_port", 1, "uint32", REQ),
    ("mesos.v1.ContainerInfo.DockerInfo.PortMapping", "container_port", 2, "uint32", REQ),
    ("mesos.v1.ContainerInfo.DockerInfo.PortMapping", "protocol", 3, "string", OPT),
    ("mesos.v1.ContainerInfo.DockerInfo", "port_mappings", 3, ".mesos.v1.ContainerInfo.DockerInfo.PortMapping", REP),
    ("mesos.v1.ContainerInfo.DockerInfo", "privileged", 4, "bool", OPT),
    ("mesos.v1.ContainerInfo.DockerInfo", "parameters", 5, ".mesos.v1.Parameter", REP),
    ("mesos.v1.ContainerInfo.DockerInfo", "force_pull_image", 6, "bool", OPT),
    ("mesos.v1.ContainerInfo.DockerInfo", "volume_driver", 7, "string", OPT),
    ("mesos.v1.ContainerInfo.MesosInfo", "image", 1, ".mesos.v1.Image", OPT),
    ("mesos.v1.ContainerInfo", "type", 1, ".mesos.v1.ContainerInfo.Type", REQ),
    ("mesos.v1.ContainerInfo", "volumes", 2, ".mesos.v1.Volume", REP),
    ("mesos.v1.ContainerInfo", "hostname", 4, "string", OPT),
    ("mesos.v1.ContainerInfo", "docker", 3, ".mesos.v1.ContainerInfo.DockerInfo", OPT),
    ("mesos.v1.ContainerInfo", "mesos", 5, ".mesos.v1.ContainerInfo.MesosInfo", OPT),
    ("mesos.v1.ContainerInfo", "network_infos", 7, ".mesos.v1.NetworkInfo", REP),
    ("mesos.v1.ContainerStatus", "container_id", 4, ".mesos.v1.ContainerID", OPT),
    ("mesos.v1.ContainerStatus", "network_infos", 1, ".mesos.v1.NetworkInfo", REP),
    ("mesos.v1.ContainerStatus", "executor_pid", 3, "uint32", OPT),
];

#[rustfmt::skip]
const CHECKS_AND_DISCOVERY: &[Field] = &[
    ("mesos.v1.CheckInfo.Command", "command", 1, ".mesos.v1.CommandInfo", REQ),
    ("mesos.v1.CheckInfo.Http", "port", 1, "uint32", REQ),
    ("mesos.v1.CheckInfo.Http", "path", 2, "string", OPT),
    ("mesos.v1.CheckInfo.Tcp", "port", 1, "uint32", REQ),
    ("mesos.v1.CheckInfo", "type", 1, ".mesos.v1.CheckInfo.Type", OPT),
    ("mesos.v1.CheckInfo", "command", 2, ".mesos.v1.CheckInfo.Command", OPT),
    ("mesos.v1.CheckInfo", "http", 3, ".mesos.v1.CheckInfo.Http", OPT),
    ("mesos.v1.CheckInfo", "tcp", 7, ".mesos.v1.CheckInfo.Tcp", OPT),
    ("mesos.v1.CheckInfo", "delay_seconds", 4, "double", OPT),
    ("mesos.v1.CheckInfo", "interval_seconds", 5, "double", OPT),
    ("mesos.v1.CheckInfo", "timeout_seconds", 6, "double", OPT),
    ("mesos.v1.HealthCheck.HTTPCheckInfo", "protocol", 5, ".mesos.v1.NetworkInfo.Protocol", OPT),
    ("mesos.v1.HealthCheck.HTTPCheckInfo", "scheme", 3, "string", OPT),
    ("mesos.v1.HealthCheck.HTTPCheckInfo", "port", 1, "uint32", REQ),
    ("mesos.v1.HealthCheck.HTTPCheckInfo", "path", 2, "string", OPT),
    ("mesos.v1.HealthCheck.HTTPCheckInfo", "statuses", 4, "uint32", REP),
    ("mesos.v1.HealthCheck.TCPCheckInfo", "protocol", 2, ".mesos.v1.NetworkInfo.Protocol", OPT),
    ("mesos.v1.HealthCheck.TCPCheckInfo", "port", 1, "uint32", REQ),
    ("mesos.v1.HealthCheck", "delay_seconds", 2, "double", OPT),
    ("mesos.v1.HealthCheck", "interval_seconds", 3, "double", OPT),
    ("mesos.v1.HealthCheck", "timeout_seconds", 4, "double", OPT),
    ("mesos.v1.HealthCheck", "consecutive_failures", 5, "uint32", OPT),
    ("mesos.v1.HealthCheck", "grace_period_seconds", 6, "double", OPT),
    ("mesos.v1.HealthCheck", "type", 8, ".mesos.v1.HealthCheck.Type", OPT),
    ("mesos.v1.HealthCheck", "command", 7, ".mesos.v1.CommandInfo", OPT),
    ("mesos.v1.HealthCheck", "http", 1, ".mesos.v1.HealthCheck.HTTPCheckInfo", OPT),
    ("mesos.v1.HealthCheck", "tcp", 9, ".mesos.v1.HealthCheck.TCPCheckInfo", OPT),
    ("mesos.v1.KillPolicy", "grace_period", 1, ".mesos.v1.DurationInfo", OPT),
    ("mesos.v1.Port", "number", 1, "uint32", REQ),
    ("mesos.v1.Port", "name", 2, "string", OPT),
    ("mesos.v1.Port", "protocol", 3, "string", OPT),
    ("mesos.v1.Port", "visibility", 4, ".mesos.v1.DiscoveryInfo.Visibility", OPT),
    ("mesos.v1.Port", "labels", 5, ".mesos.v1.Labels", OPT),
    ("mesos.v1.Ports", "ports", 1, ".mesos.v1.Port", REP),
    ("mesos.v1.DiscoveryInfo", "visibility", 1, ".mesos.v1.DiscoveryInfo.Visibility", REQ),
    ("mesos.v1.DiscoveryInfo", "name", 2, "string", OPT),
    ("mesos.v1.DiscoveryInfo", "environment", 3, "string", OPT),
    ("mesos.v1.DiscoveryInfo", "location", 4, "string", OPT),
    ("mesos.v1.DiscoveryInfo", "version", 5, "string", OPT),
    ("mesos.v1.DiscoveryInfo", "ports", 6, ".mesos.v1.Ports", OPT),
    ("mesos.v1.DiscoveryInfo", "labels", 7, ".mesos.v1.Labels", OPT),
];

#[rustfmt::skip]
const TASKS_AND_OPERATIONS: &[Field] = &[
    ("mesos.v1.TaskInfo", "name", 1, "string", REQ),
    ("mesos.v1.TaskInfo", "task_id", 2, ".mesos.v1.TaskID", REQ),
    ("mesos.v1.TaskInfo", "agent_id", 3, ".mesos.v1.AgentID", REQ),
    ("mesos.v1.TaskInfo", "resources", 4, ".mesos.v1.Resource", REP),
    ("mesos.v1.TaskInfo", "executor", 5, ".mesos.v1.ExecutorInfo", OPT),
    ("mesos.v1.TaskInfo", "command", 7, ".mesos.v1.CommandInfo", OPT),
    ("mesos.v1.TaskInfo", "container", 9, ".mesos.v1.ContainerInfo", OPT),
    ("mesos.v1.TaskInfo", "health_check", 8, ".mesos.v1.HealthCheck", OPT),
    ("mesos.v1.TaskInfo", "check", 13, ".mesos.v1.CheckInfo", OPT),
    ("mesos.v1.TaskInfo", "kill_policy", 12, ".mesos.v1.KillPolicy", OPT),
    ("mesos.v1.TaskInfo", "data", 6, "bytes", OPT),
    ("mesos.v1.TaskInfo", "labels", 10, ".mesos.v1.Labels", OPT),
    ("mesos.v1.TaskInfo", "discovery", 11, ".mesos.v1.DiscoveryInfo", OPT),
    ("mesos.v1.TaskInfo", "max_completion_time", 14, ".mesos.v1.DurationInfo", OPT),
    // map<string, Value.Scalar> limits = 15;
    ("mesos.v1.TaskInfo", "limits", 15, ".mesos.v1.TaskInfo.LimitsEntry", REP),
    ("mesos.v1.TaskInfo.LimitsEntry", "key", 1, "string", OPT),
    ("mesos.v1.TaskInfo.LimitsEntry", "value", 2, ".mesos.v1.Value.Scalar", OPT),
    ("mesos.v1.TaskGroupInfo", "tasks", 1, ".mesos.v1.TaskInfo", REP),
    ("mesos.v1.TaskResourceLimitation", "resources", 1, ".mesos.v1.Resource", REP),
    ("mesos.v1.OperationStatus", "operation_id", 1, ".mesos.v1.OperationID", OPT),
    ("mesos.v1.OperationStatus", "state", 2, ".mesos.v1.OperationState", REQ),
    ("mesos.v1.OperationStatus", "message", 3, "string", OPT),
    ("mesos.v1.OperationStatus", "converted_resources", 4, ".mesos.v1.Resource", REP),
    ("mesos.v1.OperationStatus", "uuid", 5, ".mesos.v1.UUID", OPT),
    ("mesos.v1.OperationStatus", "agent_id", 6, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.OperationStatus", "resource_provider_id", 7, ".mesos.v1.ResourceProviderID", OPT),
    ("mesos.v1.CheckStatusInfo.Command", "exit_code", 1, "int32", OPT),
    ("mesos.v1.CheckStatusInfo.Http", "status_code", 1, "uint32", OPT),
    ("mesos.v1.CheckStatusInfo.Tcp", "succeeded", 1, "bool", OPT),
    ("mesos.v1.CheckStatusInfo", "type", 1, ".mesos.v1.CheckInfo.Type", OPT),
    ("mesos.v1.CheckStatusInfo", "command", 2, ".mesos.v1.CheckStatusInfo.Command", OPT),
    ("mesos.v1.CheckStatusInfo", "http", 3, ".mesos.v1.CheckStatusInfo.Http", OPT),
    ("mesos.v1.CheckStatusInfo", "tcp", 4, ".mesos.v1.CheckStatusInfo.Tcp", OPT),
    ("mesos.v1.TaskStatus", "task_id", 1, ".mesos.v1.TaskID", REQ),
    ("mesos.v1.TaskStatus", "state", 2, ".mesos.v1.TaskState", REQ),
    ("mesos.v1.TaskStatus", "message", 4, "string", OPT),
    ("mesos.v1.TaskStatus", "source", 9, ".mesos.v1.TaskStatus.Source", OPT),
    ("mesos.v1.TaskStatus", "reason", 10, ".mesos.v1.TaskStatus.Reason", OPT),
    ("mesos.v1.TaskStatus", "data", 3, "bytes", OPT),
    ("mesos.v1.TaskStatus", "agent_id", 5, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.TaskStatus", "executor_id", 7, ".mesos.v1.ExecutorID", OPT),
    ("mesos.v1.TaskStatus", "timestamp", 6, "double", OPT),
    ("mesos.v1.TaskStatus", "uuid", 11, "bytes", OPT),
    ("mesos.v1.TaskStatus", "healthy", 8, "bool", OPT),
    ("mesos.v1.TaskStatus", "check_status", 15, ".mesos.v1.CheckStatusInfo", OPT),
    ("mesos.v1.TaskStatus", "labels", 12, ".mesos.v1.Labels", OPT),
    ("mesos.v1.TaskStatus", "container_status", 13, ".mesos.v1.ContainerStatus", OPT),
    ("mesos.v1.TaskStatus", "unreachable_time", 14, ".mesos.v1.TimeInfo", OPT),
    ("mesos.v1.TaskStatus", "limitation", 16, ".mesos.v1.TaskResourceLimitation", OPT),
];

// ---------------------------------------------------------------------------------------------
// mesos.v1.scheduler (include/mesos/v1/scheduler/scheduler.proto)
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
const SCHEDULER_EVENT: &[Field] = &[
    ("mesos.v1.scheduler.Event.Subscribed", "framework_id", 1, ".mesos.v1.FrameworkID", REQ),
    ("mesos.v1.scheduler.Event.Subscribed", "heartbeat_interval_seconds", 2, "double", OPT),
    ("mesos.v1.scheduler.Event.Subscribed", "master_info", 3, ".mesos.v1.MasterInfo", OPT),
    ("mesos.v1.scheduler.Event.Offers", "offers", 1, ".mesos.v1.Offer", REP),
    ("mesos.v1.scheduler.Event.InverseOffers", "inverse_offers", 1, ".mesos.v1.InverseOffer", REP),
    ("mesos.v1.scheduler.Event.Rescind", "offer_id", 1, ".mesos.v1.OfferID", REQ),
    ("mesos.v1.scheduler.Event.RescindInverseOffer", "inverse_offer_id", 1, ".mesos.v1.OfferID", REQ),
    ("mesos.v1.scheduler.Event.Update", "status", 1, ".mesos.v1.TaskStatus", REQ),
    ("mesos.v1.scheduler.Event.UpdateOperationStatus", "status", 1, ".mesos.v1.OperationStatus", REQ),
    ("mesos.v1.scheduler.Event.Message", "agent_id", 1, ".mesos.v1.AgentID", REQ),
    ("mesos.v1.scheduler.Event.Message", "executor_id", 2, ".mesos.v1.ExecutorID", REQ),
    ("mesos.v1.scheduler.Event.Message", "data", 3, "bytes", REQ),
    ("mesos.v1.scheduler.Event.Failure", "agent_id", 1, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.scheduler.Event.Failure", "executor_id", 2, ".mesos.v1.ExecutorID", OPT),
    ("mesos.v1.scheduler.Event.Failure", "status", 3, "int32", OPT),
    ("mesos.v1.scheduler.Event.Error", "message", 1, "string", REQ),
    ("mesos.v1.scheduler.Event", "type", 1, ".mesos.v1.scheduler.Event.Type", OPT),
    ("mesos.v1.scheduler.Event", "subscribed", 2, ".mesos.v1.scheduler.Event.Subscribed", OPT),
    ("mesos.v1.scheduler.Event", "offers", 3, ".mesos.v1.scheduler.Event.Offers", OPT),
    ("mesos.v1.scheduler.Event", "inverse_offers", 9, ".mesos.v1.scheduler.Event.InverseOffers", OPT),
    ("mesos.v1.scheduler.Event", "rescind", 4, ".mesos.v1.scheduler.Event.Rescind", OPT),
    ("mesos.v1.scheduler.Event", "rescind_inverse_offer", 10, ".mesos.v1.scheduler.Event.RescindInverseOffer", OPT),
    ("mesos.v1.scheduler.Event", "update", 5, ".mesos.v1.scheduler.Event.Update", OPT),
    ("mesos.v1.scheduler.Event", "update_operation_status", 11, ".mesos.v1.scheduler.Event.UpdateOperationStatus", OPT),
    ("mesos.v1.scheduler.Event", "message", 6, ".mesos.v1.scheduler.Event.Message", OPT),
    ("mesos.v1.scheduler.Event", "failure", 7, ".mesos.v1.scheduler.Event.Failure", OPT),
    ("mesos.v1.scheduler.Event", "error", 8, ".mesos.v1.scheduler.Event.Error", OPT),
];

#[rustfmt::skip]
const SCHEDULER_CALL: &[Field] = &[
    ("mesos.v1.scheduler.Call.Subscribe", "framework_info", 1, ".mesos.v1.FrameworkInfo", REQ),
    ("mesos.v1.scheduler.Call.Subscribe", "suppressed_roles", 2, "string", REP),
    ("mesos.v1.scheduler.Call.Accept", "offer_ids", 1, ".mesos.v1.OfferID", REP),
    ("mesos.v1.scheduler.Call.Accept", "operations", 2, ".mesos.v1.Offer.Operation", REP),
    ("mesos.v1.scheduler.Call.Accept", "filters", 3, ".mesos.v1.Filters", OPT),
    ("mesos.v1.scheduler.Call.Decline", "offer_ids", 1, ".mesos.v1.OfferID", REP),
    ("mesos.v1.scheduler.Call.Decline", "filters", 2, ".mesos.v1.Filters", OPT),
    ("mesos.v1.scheduler.Call.AcceptInverseOffers", "inverse_offer_ids", 1, ".mesos.v1.OfferID", REP),
    ("mesos.v1.scheduler.Call.AcceptInverseOffers", "filters", 2, ".mesos.v1.Filters", OPT),
    ("mesos.v1.scheduler.Call.DeclineInverseOffers", "inverse_offer_ids", 1, ".mesos.v1.OfferID", REP),
    ("mesos.v1.scheduler.Call.DeclineInverseOffers", "filters", 2, ".mesos.v1.Filters", OPT),
    ("mesos.v1.scheduler.Call.Revive", "roles", 1, "string", REP),
    ("mesos.v1.scheduler.Call.Kill", "task_id", 1, ".mesos.v1.TaskID", REQ),
    ("mesos.v1.scheduler.Call.Kill", "agent_id", 2, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.scheduler.Call.Kill", "kill_policy", 3, ".mesos.v1.KillPolicy", OPT),
    ("mesos.v1.scheduler.Call.Shutdown", "executor_id", 1, ".mesos.v1.ExecutorID", REQ),
    ("mesos.v1.scheduler.Call.Shutdown", "agent_id", 2, ".mesos.v1.AgentID", REQ),
    ("mesos.v1.scheduler.Call.Acknowledge", "agent_id", 1, ".mesos.v1.AgentID", REQ),
    ("mesos.v1.scheduler.Call.Acknowledge", "task_id", 2, ".mesos.v1.TaskID", REQ),
    ("mesos.v1.scheduler.Call.Acknowledge", "uuid", 3, "bytes", REQ),
    ("mesos.v1.scheduler.Call.AcknowledgeOperationStatus", "agent_id", 1, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.scheduler.Call.AcknowledgeOperationStatus", "resource_provider_id", 2, ".mesos.v1.ResourceProviderID", OPT),
    ("mesos.v1.scheduler.Call.AcknowledgeOperationStatus", "uuid", 3, "bytes", REQ),
    ("mesos.v1.scheduler.Call.AcknowledgeOperationStatus", "operation_id", 4, ".mesos.v1.OperationID", REQ),
    ("mesos.v1.scheduler.Call.Reconcile.Task", "task_id", 1, ".mesos.v1.TaskID", REQ),
    ("mesos.v1.scheduler.Call.Reconcile.Task", "agent_id", 2, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.scheduler.Call.Reconcile", "tasks", 1, ".mesos.v1.scheduler.Call.Reconcile.Task", REP),
    ("mesos.v1.scheduler.Call.ReconcileOperations.Operation", "operation_id", 1, ".mesos.v1.OperationID", REQ),
    ("mesos.v1.scheduler.Call.ReconcileOperations.Operation", "agent_id", 2, ".mesos.v1.AgentID", OPT),
    ("mesos.v1.scheduler.Call.ReconcileOperations.Operation", "resource_provider_id", 3, ".mesos.v1.ResourceProviderID", OPT),
    ("mesos.v1.scheduler.Call.ReconcileOperations", "operations", 1, ".mesos.v1.scheduler.Call.ReconcileOperations.Operation", REP),
    ("mesos.v1.scheduler.Call.Message", "agent_id", 1, ".mesos.v1.AgentID", REQ),
    ("mesos.v1.scheduler.Call.Message", "executor_id", 2, ".mesos.v1.ExecutorID", REQ),
    ("mesos.v1.scheduler.Call.Message", "data", 3, "bytes", REQ),
    ("mesos.v1.scheduler.Call.Request", "requests", 1, ".mesos.v1.Request", REP),
    ("mesos.v1.scheduler.Call.Suppress", "roles", 1, "string", REP),
    ("mesos.v1.scheduler.Call.UpdateFramework", "framework_info", 1, ".mesos.v1.FrameworkInfo", REQ),
    ("mesos.v1.scheduler.Call.UpdateFramework", "suppressed_roles", 2, "string", REP),
    ("mesos.v1.scheduler.Call", "framework_id", 1, ".mesos.v1.FrameworkID", OPT),
    ("mesos.v1.scheduler.Call", "type", 2, ".mesos.v1.scheduler.Call.Type", OPT),
    ("mesos.v1.scheduler.Call", "subscribe", 3, ".mesos.v1.scheduler.Call.Subscribe", OPT),
    ("mesos.v1.scheduler.Call", "accept", 4, ".mesos.v1.scheduler.Call.Accept", OPT),
    ("mesos.v1.scheduler.Call", "decline", 5, ".mesos.v1.scheduler.Call.Decline", OPT),
    ("mesos.v1.scheduler.Call", "accept_inverse_offers", 13, ".mesos.v1.scheduler.Call.AcceptInverseOffers", OPT),
    ("mesos.v1.scheduler.Call", "decline_inverse_offers", 14, ".mesos.v1.scheduler.Call.DeclineInverseOffers", OPT),
    ("mesos.v1.scheduler.Call", "revive", 15, ".mesos.v1.scheduler.Call.Revive", OPT),
    ("mesos.v1.scheduler.Call", "kill", 6, ".mesos.v1.scheduler.Call.Kill", OPT),
    ("mesos.v1.scheduler.Call", "shutdown", 7, ".mesos.v1.scheduler.Call.Shutdown", OPT),
    ("mesos.v1.scheduler.Call", "acknowledge", 8, ".mesos.v1.scheduler.Call.Acknowledge", OPT),
    ("mesos.v1.scheduler.Call", "acknowledge_operation_status", 17, ".mesos.v1.scheduler.Call.AcknowledgeOperationStatus", OPT),
    ("mesos.v1.scheduler.Call", "reconcile", 9, ".mesos.v1.scheduler.Call.Reconcile", OPT),
    ("mesos.v1.scheduler.Call", "reconcile_operations", 18, ".mesos.v1.scheduler.Call.ReconcileOperations", OPT),
    ("mesos.v1.scheduler.Call", "message", 10, ".mesos.v1.scheduler.Call.Message", OPT),
    ("mesos.v1.scheduler.Call", "request", 11, ".mesos.v1.scheduler.Call.Request", OPT),
    ("mesos.v1.scheduler.Call", "suppress", 16, ".mesos.v1.scheduler.Call.Suppress", OPT),
    ("mesos.v1.scheduler.Call", "update_framework", 19, ".mesos.v1.scheduler.Call.UpdateFramework", OPT),
];

// ---------------------------------------------------------------------------------------------
// mesos.v1.executor (include/mesos/v1/executor/executor.proto)
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
const EXECUTOR_EVENT: &[Field] = &[
    ("mesos.v1.executor.Event.Subscribed", "executor_info", 1, ".mesos.v1.ExecutorInfo", REQ),
    ("mesos.v1.executor.Event.Subscribed", "framework_info", 2, ".mesos.v1.FrameworkInfo", REQ),
    ("mesos.v1.executor.Event.Subscribed", "agent_info", 3, ".mesos.v1.AgentInfo", REQ),
    ("mesos.v1.executor.Event.Subscribed", "container_id", 4, ".mesos.v1.ContainerID", OPT),
    ("mesos.v1.executor.Event.Launch", "task", 1, ".mesos.v1.TaskInfo", REQ),
    ("mesos.v1.executor.Event.LaunchGroup", "task_group", 1, ".mesos.v1.TaskGroupInfo", REQ),
    ("mesos.v1.executor.Event.Kill", "task_id", 1, ".mesos.v1.TaskID", REQ),
    ("mesos.v1.executor.Event.Kill", "kill_policy", 2, ".mesos.v1.KillPolicy", OPT),
    ("mesos.v1.executor.Event.Acknowledged", "task_id", 1, ".mesos.v1.TaskID", REQ),
    ("mesos.v1.executor.Event.Acknowledged", "uuid", 2, "bytes", REQ),
    ("mesos.v1.executor.Event.Message", "data", 1, "bytes", REQ),
    ("mesos.v1.executor.Event.Error", "message", 1, "string", REQ),
    ("mesos.v1.executor.Event", "type", 1, ".mesos.v1.executor.Event.Type", OPT),
    ("mesos.v1.executor.Event", "subscribed", 2, ".mesos.v1.executor.Event.Subscribed", OPT),
    ("mesos.v1.executor.Event", "acknowledged", 3, ".mesos.v1.executor.Event.Acknowledged", OPT),
    ("mesos.v1.executor.Event", "launch", 4, ".mesos.v1.executor.Event.Launch", OPT),
    ("mesos.v1.executor.Event", "launch_group", 8, ".mesos.v1.executor.Event.LaunchGroup", OPT),
    ("mesos.v1.executor.Event", "kill", 5, ".mesos.v1.executor.Event.Kill", OPT),
    ("mesos.v1.executor.Event", "message", 6, ".mesos.v1.executor.Event.Message", OPT),
    ("mesos.v1.executor.Event", "error", 7, ".mesos.v1.executor.Event.Error", OPT),
];

#[rustfmt::skip]
const EXECUTOR_CALL: &[Field] = &[
    ("mesos.v1.executor.Call.Subscribe", "unacknowledged_tasks", 1, ".mesos.v1.TaskInfo", REP),
    ("mesos.v1.executor.Call.Subscribe", "unacknowledged_updates", 2, ".mesos.v1.executor.Call.Update", REP),
    ("mesos.v1.executor.Call.Update", "status", 1, ".mesos.v1.TaskStatus", REQ),
    ("mesos.v1.executor.Call.Message", "data", 2, "bytes", REQ),
    ("mesos.v1.executor.Call", "executor_id", 1, ".mesos.v1.ExecutorID", REQ),
    ("mesos.v1.executor.Call", "framework_id", 2, ".mesos.v1.FrameworkID", REQ),
    ("mesos.v1.executor.Call", "type", 3, ".mesos.v1.executor.Call.Type", OPT),
    ("mesos.v1.executor.Call", "subscribe", 4, ".mesos.v1.executor.Call.Subscribe", OPT),
    ("mesos.v1.executor.Call", "update", 5, ".mesos.v1.executor.Call.Update", OPT),
    ("mesos.v1.executor.Call", "message", 6, ".mesos.v1.executor.Call.Message", OPT),
];

#[rustfmt::skip]
const FIELD_GROUPS: &[&[Field]] = &[
    IDS_AND_BASICS,
    MASTERS_AGENTS_FRAMEWORKS,
    VALUES_AND_RESOURCES,
    OFFERS,
    COMMANDS_EXECUTORS_CONTAINERS,
    CHECKS_AND_DISCOVERY,
    TASKS_AND_OPERATIONS,
    SCHEDULER_EVENT,
    SCHEDULER_CALL,
    EXECUTOR_EVENT,
    EXECUTOR_CALL,
];

/// Upstream messages that declare no fields at all.
#[rustfmt::skip]
const EMPTY_MESSAGES: &[&str] = &["mesos.v1.Resource.RevocableInfo", "mesos.v1.Resource.SharedInfo"];

/// The synthetic entry messages of upstream `map<..>` fields.
#[rustfmt::skip]
const MAP_ENTRIES: &[&str] = &[
    "mesos.v1.FrameworkInfo.OfferFiltersEntry",
    "mesos.v1.OfferFilters.ResourceQuantities.QuantitiesEntry",
    "mesos.v1.TaskInfo.LimitsEntry",
];

/// Upstream fields of shipped messages that we deliberately do not ship (their types would pull
/// in large subtrees cartrack never uses). Kept as facts so they can be added back verbatim.
#[rustfmt::skip]
const OMITTED: &[Field] = &[
    ("mesos.v1.Environment.Variable", "secret", 4, ".mesos.v1.Secret", OPT),
    ("mesos.v1.Image.Docker", "credential", 2, ".mesos.v1.Credential", OPT),
    ("mesos.v1.Image.Docker", "config", 3, ".mesos.v1.Secret", OPT),
    ("mesos.v1.Volume.Source", "secret", 4, ".mesos.v1.Secret", OPT),
    ("mesos.v1.Volume.Source", "csi_volume", 6, ".mesos.v1.Volume.Source.CSIVolume", OPT),
    ("mesos.v1.ContainerInfo", "linux_info", 8, ".mesos.v1.LinuxInfo", OPT),
    ("mesos.v1.ContainerInfo", "rlimit_info", 9, ".mesos.v1.RLimitInfo", OPT),
    ("mesos.v1.ContainerInfo", "tty_info", 10, ".mesos.v1.TTYInfo", OPT),
    ("mesos.v1.ContainerStatus", "cgroup_info", 2, ".mesos.v1.CgroupInfo", OPT),
    ("mesos.v1.scheduler.Call.Subscribe", "offer_constraints", 3, ".mesos.v1.scheduler.OfferConstraints", OPT),
    ("mesos.v1.scheduler.Call.UpdateFramework", "offer_constraints", 3, ".mesos.v1.scheduler.OfferConstraints", OPT),
];

// ---------------------------------------------------------------------------------------------
// Enums: every value, in upstream declaration order (the first value is the proto2 default).
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
const ENUMS: &[EnumValue] = &[
    ("mesos.v1.MasterInfo.Capability.Type", "UNKNOWN", 0),
    ("mesos.v1.MasterInfo.Capability.Type", "AGENT_UPDATE", 1),
    ("mesos.v1.MasterInfo.Capability.Type", "AGENT_DRAINING", 2),
    ("mesos.v1.MasterInfo.Capability.Type", "QUOTA_V2", 3),
    ("mesos.v1.AgentInfo.Capability.Type", "UNKNOWN", 0),
    ("mesos.v1.AgentInfo.Capability.Type", "MULTI_ROLE", 1),
    ("mesos.v1.AgentInfo.Capability.Type", "HIERARCHICAL_ROLE", 2),
    ("mesos.v1.AgentInfo.Capability.Type", "RESERVATION_REFINEMENT", 3),
    ("mesos.v1.AgentInfo.Capability.Type", "RESOURCE_PROVIDER", 4),
    ("mesos.v1.AgentInfo.Capability.Type", "RESIZE_VOLUME", 5),
    ("mesos.v1.AgentInfo.Capability.Type", "AGENT_OPERATION_FEEDBACK", 6),
    ("mesos.v1.AgentInfo.Capability.Type", "AGENT_DRAINING", 7),
    ("mesos.v1.AgentInfo.Capability.Type", "TASK_RESOURCE_LIMITS", 8),
    ("mesos.v1.FrameworkInfo.Capability.Type", "UNKNOWN", 0),
    ("mesos.v1.FrameworkInfo.Capability.Type", "REVOCABLE_RESOURCES", 1),
    ("mesos.v1.FrameworkInfo.Capability.Type", "TASK_KILLING_STATE", 2),
    ("mesos.v1.FrameworkInfo.Capability.Type", "GPU_RESOURCES", 3),
    ("mesos.v1.FrameworkInfo.Capability.Type", "SHARED_RESOURCES", 4),
    ("mesos.v1.FrameworkInfo.Capability.Type", "PARTITION_AWARE", 5),
    ("mesos.v1.FrameworkInfo.Capability.Type", "MULTI_ROLE", 6),
    ("mesos.v1.FrameworkInfo.Capability.Type", "RESERVATION_REFINEMENT", 7),
    ("mesos.v1.FrameworkInfo.Capability.Type", "REGION_AWARE", 8),
    ("mesos.v1.Value.Type", "SCALAR", 0),
    ("mesos.v1.Value.Type", "RANGES", 1),
    ("mesos.v1.Value.Type", "SET", 2),
    ("mesos.v1.Value.Type", "TEXT", 3),
    ("mesos.v1.Resource.ReservationInfo.Type", "UNKNOWN", 0),
    ("mesos.v1.Resource.ReservationInfo.Type", "STATIC", 1),
    ("mesos.v1.Resource.ReservationInfo.Type", "DYNAMIC", 2),
    ("mesos.v1.Resource.DiskInfo.Source.Type", "UNKNOWN", 0),
    ("mesos.v1.Resource.DiskInfo.Source.Type", "PATH", 1),
    ("mesos.v1.Resource.DiskInfo.Source.Type", "MOUNT", 2),
    ("mesos.v1.Resource.DiskInfo.Source.Type", "BLOCK", 3),
    ("mesos.v1.Resource.DiskInfo.Source.Type", "RAW", 4),
    ("mesos.v1.Offer.Operation.Type", "UNKNOWN", 0),
    ("mesos.v1.Offer.Operation.Type", "LAUNCH", 1),
    ("mesos.v1.Offer.Operation.Type", "LAUNCH_GROUP", 6),
    ("mesos.v1.Offer.Operation.Type", "RESERVE", 2),
    ("mesos.v1.Offer.Operation.Type", "UNRESERVE", 3),
    ("mesos.v1.Offer.Operation.Type", "CREATE", 4),
    ("mesos.v1.Offer.Operation.Type", "DESTROY", 5),
    ("mesos.v1.Offer.Operation.Type", "GROW_VOLUME", 11),
    ("mesos.v1.Offer.Operation.Type", "SHRINK_VOLUME", 12),
    ("mesos.v1.Offer.Operation.Type", "CREATE_DISK", 13),
    ("mesos.v1.Offer.Operation.Type", "DESTROY_DISK", 14),
    ("mesos.v1.Environment.Variable.Type", "UNKNOWN", 0),
    ("mesos.v1.Environment.Variable.Type", "VALUE", 1),
    ("mesos.v1.Environment.Variable.Type", "SECRET", 2),
    ("mesos.v1.ExecutorInfo.Type", "UNKNOWN", 0),
    ("mesos.v1.ExecutorInfo.Type", "DEFAULT", 1),
    ("mesos.v1.ExecutorInfo.Type", "CUSTOM", 2),
    ("mesos.v1.Image.Type", "APPC", 1),
    ("mesos.v1.Image.Type", "DOCKER", 2),
    ("mesos.v1.MountPropagation.Mode", "UNKNOWN", 0),
    ("mesos.v1.MountPropagation.Mode", "HOST_TO_CONTAINER", 1),
    ("mesos.v1.MountPropagation.Mode", "BIDIRECTIONAL", 2),
    ("mesos.v1.Volume.Mode", "RW", 1),
    ("mesos.v1.Volume.Mode", "RO", 2),
    ("mesos.v1.Volume.Source.Type", "UNKNOWN", 0),
    ("mesos.v1.Volume.Source.Type", "DOCKER_VOLUME", 1),
    ("mesos.v1.Volume.Source.Type", "HOST_PATH", 4),
    ("mesos.v1.Volume.Source.Type", "SANDBOX_PATH", 2),
    ("mesos.v1.Volume.Source.Type", "SECRET", 3),
    ("mesos.v1.Volume.Source.Type", "CSI_VOLUME", 5),
    ("mesos.v1.Volume.Source.SandboxPath.Type", "UNKNOWN", 0),
    ("mesos.v1.Volume.Source.SandboxPath.Type", "SELF", 1),
    ("mesos.v1.Volume.Source.SandboxPath.Type", "PARENT", 2),
    ("mesos.v1.NetworkInfo.Protocol", "IPv4", 1),
    ("mesos.v1.NetworkInfo.Protocol", "IPv6", 2),
    ("mesos.v1.ContainerInfo.Type", "DOCKER", 1),
    ("mesos.v1.ContainerInfo.Type", "MESOS", 2),
    ("mesos.v1.ContainerInfo.DockerInfo.Network", "HOST", 1),
    ("mesos.v1.ContainerInfo.DockerInfo.Network", "BRIDGE", 2),
    ("mesos.v1.ContainerInfo.DockerInfo.Network", "NONE", 3),
    ("mesos.v1.ContainerInfo.DockerInfo.Network", "USER", 4),
    ("mesos.v1.CheckInfo.Type", "UNKNOWN", 0),
    ("mesos.v1.CheckInfo.Type", "COMMAND", 1),
    ("mesos.v1.CheckInfo.Type", "HTTP", 2),
    ("mesos.v1.CheckInfo.Type", "TCP", 3),
    ("mesos.v1.HealthCheck.Type", "UNKNOWN", 0),
    ("mesos.v1.HealthCheck.Type", "COMMAND", 1),
    ("mesos.v1.HealthCheck.Type", "HTTP", 2),
    ("mesos.v1.HealthCheck.Type", "TCP", 3),
    ("mesos.v1.DiscoveryInfo.Visibility", "FRAMEWORK", 0),
    ("mesos.v1.DiscoveryInfo.Visibility", "CLUSTER", 1),
    ("mesos.v1.DiscoveryInfo.Visibility", "EXTERNAL", 2),
    ("mesos.v1.TaskState", "TASK_STAGING", 6),
    ("mesos.v1.TaskState", "TASK_STARTING", 0),
    ("mesos.v1.TaskState", "TASK_RUNNING", 1),
    ("mesos.v1.TaskState", "TASK_KILLING", 8),
    ("mesos.v1.TaskState", "TASK_FINISHED", 2),
    ("mesos.v1.TaskState", "TASK_FAILED", 3),
    ("mesos.v1.TaskState", "TASK_KILLED", 4),
    ("mesos.v1.TaskState", "TASK_ERROR", 7),
    ("mesos.v1.TaskState", "TASK_LOST", 5),
    ("mesos.v1.TaskState", "TASK_DROPPED", 9),
    ("mesos.v1.TaskState", "TASK_UNREACHABLE", 10),
    ("mesos.v1.TaskState", "TASK_GONE", 11),
    ("mesos.v1.TaskState", "TASK_GONE_BY_OPERATOR", 12),
    ("mesos.v1.TaskState", "TASK_UNKNOWN", 13),
    ("mesos.v1.TaskStatus.Source", "SOURCE_MASTER", 0),
    ("mesos.v1.TaskStatus.Source", "SOURCE_AGENT", 1),
    ("mesos.v1.TaskStatus.Source", "SOURCE_EXECUTOR", 2),
    ("mesos.v1.TaskStatus.Reason", "REASON_COMMAND_EXECUTOR_FAILED", 0),
    ("mesos.v1.TaskStatus.Reason", "REASON_CONTAINER_LAUNCH_FAILED", 21),
    ("mesos.v1.TaskStatus.Reason", "REASON_CONTAINER_LIMITATION", 19),
    ("mesos.v1.TaskStatus.Reason", "REASON_CONTAINER_LIMITATION_DISK", 20),
    ("mesos.v1.TaskStatus.Reason", "REASON_CONTAINER_LIMITATION_MEMORY", 8),
    ("mesos.v1.TaskStatus.Reason", "REASON_CONTAINER_PREEMPTED", 17),
    ("mesos.v1.TaskStatus.Reason", "REASON_CONTAINER_UPDATE_FAILED", 22),
    ("mesos.v1.TaskStatus.Reason", "REASON_MAX_COMPLETION_TIME_REACHED", 33),
    ("mesos.v1.TaskStatus.Reason", "REASON_EXECUTOR_REGISTRATION_TIMEOUT", 23),
    ("mesos.v1.TaskStatus.Reason", "REASON_EXECUTOR_REREGISTRATION_TIMEOUT", 24),
    ("mesos.v1.TaskStatus.Reason", "REASON_EXECUTOR_TERMINATED", 1),
    ("mesos.v1.TaskStatus.Reason", "REASON_EXECUTOR_UNREGISTERED", 2),
    ("mesos.v1.TaskStatus.Reason", "REASON_FRAMEWORK_REMOVED", 3),
    ("mesos.v1.TaskStatus.Reason", "REASON_GC_ERROR", 4),
    ("mesos.v1.TaskStatus.Reason", "REASON_INVALID_FRAMEWORKID", 5),
    ("mesos.v1.TaskStatus.Reason", "REASON_INVALID_OFFERS", 6),
    ("mesos.v1.TaskStatus.Reason", "REASON_IO_SWITCHBOARD_EXITED", 27),
    ("mesos.v1.TaskStatus.Reason", "REASON_MASTER_DISCONNECTED", 7),
    ("mesos.v1.TaskStatus.Reason", "REASON_RECONCILIATION", 9),
    ("mesos.v1.TaskStatus.Reason", "REASON_RESOURCES_UNKNOWN", 18),
    ("mesos.v1.TaskStatus.Reason", "REASON_AGENT_DISCONNECTED", 10),
    ("mesos.v1.TaskStatus.Reason", "REASON_AGENT_DRAINING", 34),
    ("mesos.v1.TaskStatus.Reason", "REASON_AGENT_REMOVED", 11),
    ("mesos.v1.TaskStatus.Reason", "REASON_AGENT_REMOVED_BY_OPERATOR", 31),
    ("mesos.v1.TaskStatus.Reason", "REASON_AGENT_REREGISTERED", 32),
    ("mesos.v1.TaskStatus.Reason", "REASON_AGENT_RESTARTED", 12),
    ("mesos.v1.TaskStatus.Reason", "REASON_AGENT_UNKNOWN", 13),
    ("mesos.v1.TaskStatus.Reason", "REASON_TASK_KILLED_DURING_LAUNCH", 30),
    ("mesos.v1.TaskStatus.Reason", "REASON_TASK_CHECK_STATUS_UPDATED", 28),
    ("mesos.v1.TaskStatus.Reason", "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", 29),
    ("mesos.v1.TaskStatus.Reason", "REASON_TASK_GROUP_INVALID", 25),
    ("mesos.v1.TaskStatus.Reason", "REASON_TASK_GROUP_UNAUTHORIZED", 26),
    ("mesos.v1.TaskStatus.Reason", "REASON_TASK_INVALID", 14),
    ("mesos.v1.TaskStatus.Reason", "REASON_TASK_UNAUTHORIZED", 15),
    ("mesos.v1.TaskStatus.Reason", "REASON_TASK_UNKNOWN", 16),
    ("mesos.v1.OperationState", "OPERATION_UNSUPPORTED", 0),
    ("mesos.v1.OperationState", "OPERATION_PENDING", 1),
    ("mesos.v1.OperationState", "OPERATION_FINISHED", 2),
    ("mesos.v1.OperationState", "OPERATION_FAILED", 3),
    ("mesos.v1.OperationState", "OPERATION_ERROR", 4),
    ("mesos.v1.OperationState", "OPERATION_DROPPED", 5),
    ("mesos.v1.OperationState", "OPERATION_UNREACHABLE", 6),
    ("mesos.v1.OperationState", "OPERATION_GONE_BY_OPERATOR", 7),
    ("mesos.v1.OperationState", "OPERATION_RECOVERING", 8),
    ("mesos.v1.OperationState", "OPERATION_UNKNOWN", 9),
    ("mesos.v1.scheduler.Event.Type", "UNKNOWN", 0),
    ("mesos.v1.scheduler.Event.Type", "SUBSCRIBED", 1),
    ("mesos.v1.scheduler.Event.Type", "OFFERS", 2),
    ("mesos.v1.scheduler.Event.Type", "INVERSE_OFFERS", 9),
    ("mesos.v1.scheduler.Event.Type", "RESCIND", 3),
    ("mesos.v1.scheduler.Event.Type", "RESCIND_INVERSE_OFFER", 10),
    ("mesos.v1.scheduler.Event.Type", "UPDATE", 4),
    ("mesos.v1.scheduler.Event.Type", "UPDATE_OPERATION_STATUS", 11),
    ("mesos.v1.scheduler.Event.Type", "MESSAGE", 5),
    ("mesos.v1.scheduler.Event.Type", "FAILURE", 6),
    ("mesos.v1.scheduler.Event.Type", "ERROR", 7),
    ("mesos.v1.scheduler.Event.Type", "HEARTBEAT", 8),
    ("mesos.v1.scheduler.Call.Type", "UNKNOWN", 0),
    ("mesos.v1.scheduler.Call.Type", "SUBSCRIBE", 1),
    ("mesos.v1.scheduler.Call.Type", "TEARDOWN", 2),
    ("mesos.v1.scheduler.Call.Type", "ACCEPT", 3),
    ("mesos.v1.scheduler.Call.Type", "DECLINE", 4),
    ("mesos.v1.scheduler.Call.Type", "ACCEPT_INVERSE_OFFERS", 13),
    ("mesos.v1.scheduler.Call.Type", "DECLINE_INVERSE_OFFERS", 14),
    ("mesos.v1.scheduler.Call.Type", "REVIVE", 5),
    ("mesos.v1.scheduler.Call.Type", "KILL", 6),
    ("mesos.v1.scheduler.Call.Type", "SHUTDOWN", 7),
    ("mesos.v1.scheduler.Call.Type", "ACKNOWLEDGE", 8),
    ("mesos.v1.scheduler.Call.Type", "ACKNOWLEDGE_OPERATION_STATUS", 15),
    ("mesos.v1.scheduler.Call.Type", "RECONCILE", 9),
    ("mesos.v1.scheduler.Call.Type", "RECONCILE_OPERATIONS", 16),
    ("mesos.v1.scheduler.Call.Type", "MESSAGE", 10),
    ("mesos.v1.scheduler.Call.Type", "REQUEST", 11),
    ("mesos.v1.scheduler.Call.Type", "SUPPRESS", 12),
    ("mesos.v1.scheduler.Call.Type", "UPDATE_FRAMEWORK", 17),
    ("mesos.v1.executor.Event.Type", "UNKNOWN", 0),
    ("mesos.v1.executor.Event.Type", "SUBSCRIBED", 1),
    ("mesos.v1.executor.Event.Type", "LAUNCH", 2),
    ("mesos.v1.executor.Event.Type", "LAUNCH_GROUP", 8),
    ("mesos.v1.executor.Event.Type", "KILL", 3),
    ("mesos.v1.executor.Event.Type", "ACKNOWLEDGED", 4),
    ("mesos.v1.executor.Event.Type", "MESSAGE", 5),
    ("mesos.v1.executor.Event.Type", "ERROR", 6),
    ("mesos.v1.executor.Event.Type", "SHUTDOWN", 7),
    ("mesos.v1.executor.Event.Type", "HEARTBEAT", 9),
    ("mesos.v1.executor.Call.Type", "UNKNOWN", 0),
    ("mesos.v1.executor.Call.Type", "SUBSCRIBE", 1),
    ("mesos.v1.executor.Call.Type", "UPDATE", 2),
    ("mesos.v1.executor.Call.Type", "MESSAGE", 3),
    ("mesos.v1.executor.Call.Type", "HEARTBEAT", 4),
];

// ---------------------------------------------------------------------------------------------
// Explicit `[default = ...]`s, as written upstream (numbers are compared numerically).
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
const DEFAULTS: &[Default] = &[
    ("mesos.v1.MasterInfo", "port", "5050"),
    ("mesos.v1.AgentInfo", "port", "5051"),
    ("mesos.v1.FrameworkInfo", "failover_timeout", "0.0"),
    ("mesos.v1.FrameworkInfo", "checkpoint", "false"),
    ("mesos.v1.FrameworkInfo", "role", "*"),
    ("mesos.v1.Resource", "role", "*"),
    ("mesos.v1.Filters", "refuse_seconds", "5.0"),
    ("mesos.v1.Environment.Variable", "type", "VALUE"),
    ("mesos.v1.CommandInfo.URI", "extract", "true"),
    ("mesos.v1.CommandInfo", "shell", "true"),
    ("mesos.v1.Image", "cached", "true"),
    ("mesos.v1.NetworkInfo.IPAddress", "protocol", "IPv4"),
    ("mesos.v1.ContainerInfo.DockerInfo", "network", "HOST"),
    ("mesos.v1.ContainerInfo.DockerInfo", "privileged", "false"),
    ("mesos.v1.CheckInfo", "delay_seconds", "15.0"),
    ("mesos.v1.CheckInfo", "interval_seconds", "10.0"),
    ("mesos.v1.CheckInfo", "timeout_seconds", "20.0"),
    ("mesos.v1.HealthCheck.HTTPCheckInfo", "protocol", "IPv4"),
    ("mesos.v1.HealthCheck.TCPCheckInfo", "protocol", "IPv4"),
    ("mesos.v1.HealthCheck", "delay_seconds", "15.0"),
    ("mesos.v1.HealthCheck", "interval_seconds", "10.0"),
    ("mesos.v1.HealthCheck", "timeout_seconds", "20.0"),
    ("mesos.v1.HealthCheck", "consecutive_failures", "3"),
    ("mesos.v1.HealthCheck", "grace_period_seconds", "10.0"),
];

// ---------------------------------------------------------------------------------------------
// What we ship, read from the compiled descriptor set.
// ---------------------------------------------------------------------------------------------

/// One shipped field: number, type, label, default.
#[derive(Debug, Clone, PartialEq)]
struct Shipped {
    number: i32,
    ty: String,
    label: &'static str,
    default: Option<String>,
}

#[derive(Default)]
struct Descriptors {
    /// message -> field name -> facts (BTreeMaps keep failure output sorted).
    messages: BTreeMap<String, BTreeMap<String, Shipped>>,
    /// enum -> values in declaration order.
    enums: BTreeMap<String, Vec<(String, i32)>>,
    /// messages flagged `map_entry`.
    map_entries: BTreeSet<String>,
}

fn descriptors() -> Descriptors {
    let set = FileDescriptorSet::decode(mesos_proto::FILE_DESCRIPTOR_SET)
        .expect("FILE_DESCRIPTOR_SET decodes as a FileDescriptorSet");
    let mut out = Descriptors::default();
    let mut packages = BTreeSet::new();
    for file in &set.file {
        let package = file.package();
        if !package.starts_with("mesos.v1") {
            continue;
        }
        assert!(
            matches!(file.syntax(), "" | "proto2"),
            "{} must be proto2, is {:?}",
            file.name(),
            file.syntax()
        );
        packages.insert(package.to_string());
        for message in &file.message_type {
            collect_message(package, message, &mut out);
        }
        for e in &file.enum_type {
            collect_enum(package, e, &mut out);
        }
    }
    let expected: BTreeSet<String> = ["mesos.v1", "mesos.v1.scheduler", "mesos.v1.executor"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(packages, expected, "packages in the descriptor set");
    out
}

fn collect_message(scope: &str, message: &DescriptorProto, out: &mut Descriptors) {
    let name = format!("{scope}.{}", message.name());
    if message.options.as_ref().is_some_and(|o| o.map_entry()) {
        out.map_entries.insert(name.clone());
    }
    let fields = out.messages.entry(name.clone()).or_default();
    for field in &message.field {
        let shipped = Shipped {
            number: field.number(),
            ty: type_name(field.r#type(), field.type_name()),
            label: match field.label() {
                Label::Optional => OPT,
                Label::Required => REQ,
                Label::Repeated => REP,
            },
            default: field.default_value.clone(),
        };
        let previous = fields.insert(field.name().to_string(), shipped);
        assert!(previous.is_none(), "{name}.{} declared twice", field.name());
    }
    for nested in &message.nested_type {
        collect_message(&name, nested, out);
    }
    for e in &message.enum_type {
        collect_enum(&name, e, out);
    }
}

fn collect_enum(scope: &str, e: &EnumDescriptorProto, out: &mut Descriptors) {
    let values = e
        .value
        .iter()
        .map(|v| (v.name().to_string(), v.number()))
        .collect();
    out.enums.insert(format!("{scope}.{}", e.name()), values);
}

fn type_name(ty: Type, type_name: &str) -> String {
    let scalar = match ty {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Group => "group",
        Type::Message | Type::Enum => return type_name.to_string(),
    };
    scalar.to_string()
}

/// The field tables as message -> field -> row, rejecting duplicate rows.
fn facts() -> BTreeMap<&'static str, BTreeMap<&'static str, Field>> {
    let mut facts: BTreeMap<_, BTreeMap<_, _>> = BTreeMap::new();
    for row in FIELD_GROUPS.iter().flat_map(|group| group.iter()) {
        let previous = facts.entry(row.0).or_default().insert(row.1, *row);
        assert!(previous.is_none(), "table lists {}.{} twice", row.0, row.1);
    }
    facts
}

fn fail_if_any(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------------------

/// (1) Every shipped field is an upstream fact, with identical number, type and label.
#[test]
fn every_shipped_field_matches_upstream() {
    let shipped = descriptors();
    let facts = facts();
    let mut problems = Vec::new();
    for (message, fields) in &shipped.messages {
        for (field, got) in fields {
            let Some(&(_, _, number, ty, label)) = facts
                .get(message.as_str())
                .and_then(|f| f.get(field.as_str()))
            else {
                problems.push(format!(
                    "{message}.{field} (= {} {} {}) is shipped but not in the facts table",
                    got.number, got.label, got.ty
                ));
                continue;
            };
            if (got.number, got.ty.as_str(), got.label) != (number, ty, label) {
                problems.push(format!(
                    "{message}.{field}: shipped {} {} = {}, upstream {label} {ty} = {number}",
                    got.label, got.ty, got.number
                ));
            }
        }
    }
    fail_if_any("shipped fields vs upstream", problems);
}

/// (2) Every row of the table is shipped: the table is exactly what we ship.
#[test]
fn every_table_row_is_shipped() {
    let shipped = descriptors();
    let mut problems = Vec::new();
    for (message, field, number, ty, label) in FIELD_GROUPS.iter().flat_map(|g| g.iter()) {
        match shipped.messages.get(*message) {
            None => problems.push(format!("message {message} is in the table but not shipped")),
            Some(fields) if !fields.contains_key(*field) => problems.push(format!(
                "{message}.{field} ({label} {ty} = {number}) is in the table but not shipped"
            )),
            Some(_) => {}
        }
    }
    fail_if_any("table rows vs shipped", problems);
}

/// (3) Every shipped message has at least one row, or is an upstream empty message; map entry
/// messages are exactly the upstream `map<..>` fields.
#[test]
fn every_shipped_message_is_covered() {
    let shipped = descriptors();
    let facts = facts();
    let mut problems = Vec::new();
    for (message, fields) in &shipped.messages {
        let empty = EMPTY_MESSAGES.contains(&message.as_str());
        if empty && !fields.is_empty() {
            problems.push(format!("{message} is empty upstream but has fields here"));
        }
        if !empty && !facts.contains_key(message.as_str()) {
            problems.push(format!(
                "{message} is shipped but has no row in the facts table"
            ));
        }
    }
    for message in EMPTY_MESSAGES {
        if !shipped.messages.contains_key(*message) {
            problems.push(format!("empty message {message} is not shipped"));
        }
    }
    let expected: BTreeSet<String> = MAP_ENTRIES.iter().map(|m| m.to_string()).collect();
    if shipped.map_entries != expected {
        problems.push(format!(
            "map entry messages: shipped {:?}, upstream {:?}",
            shipped.map_entries, expected
        ));
    }
    fail_if_any("message coverage", problems);
}

/// (4a) Every shipped enum is complete: same values, numbers and declaration order as upstream,
/// and every enum of the table is shipped.
#[test]
fn enums_equal_upstream() {
    let shipped = descriptors();
    let mut upstream: BTreeMap<&str, Vec<(String, i32)>> = BTreeMap::new();
    for (e, value, number) in ENUMS {
        upstream
            .entry(e)
            .or_default()
            .push((value.to_string(), *number));
    }
    let mut problems = Vec::new();
    for (e, values) in &shipped.enums {
        match upstream.get(e.as_str()) {
            None => problems.push(format!("enum {e} is shipped but not in the enum table")),
            Some(expected) if expected != values => problems.push(format!(
                "enum {e}:\n    shipped  {values:?}\n    upstream {expected:?}"
            )),
            Some(_) => {}
        }
    }
    for e in upstream.keys() {
        if !shipped.enums.contains_key(*e) {
            problems.push(format!("enum {e} is in the table but not shipped"));
        }
    }
    fail_if_any("enums vs upstream", problems);
}

/// (4b) Explicit defaults equal upstream, and no shipped field has a default upstream lacks.
#[test]
fn defaults_equal_upstream() {
    let shipped = descriptors();
    let upstream: BTreeMap<(&str, &str), &str> =
        DEFAULTS.iter().map(|(m, f, d)| ((*m, *f), *d)).collect();
    let mut problems = Vec::new();
    for (message, fields) in &shipped.messages {
        for (field, got) in fields {
            let expected = upstream.get(&(message.as_str(), field.as_str())).copied();
            let same = match (got.default.as_deref(), expected) {
                (None, None) => true,
                (Some(got_value), Some(want)) if matches!(got.ty.as_str(), "double" | "float") => {
                    got_value.parse::<f64>().ok() == want.parse::<f64>().ok()
                }
                (Some(got_value), Some(want)) => got_value == want,
                _ => false,
            };
            if !same {
                problems.push(format!(
                    "{message}.{field}: shipped default {:?}, upstream {expected:?}",
                    got.default
                ));
            }
        }
    }
    for (message, field) in upstream.keys() {
        if !shipped
            .messages
            .get(*message)
            .is_some_and(|f| f.contains_key(*field))
        {
            problems.push(format!(
                "default for {message}.{field} names a field not shipped"
            ));
        }
    }
    fail_if_any("defaults vs upstream", problems);
}

/// (5) Fields left out on purpose stay out, and nothing reuses their numbers.
#[test]
fn omitted_fields_stay_out() {
    let shipped = descriptors();
    let facts = facts();
    let mut problems = Vec::new();
    for (message, field, number, _, _) in OMITTED {
        if facts.get(message).is_some_and(|f| f.contains_key(field)) {
            problems.push(format!(
                "{message}.{field} is both in a table and in OMITTED"
            ));
        }
        let Some(fields) = shipped.messages.get(*message) else {
            problems.push(format!("OMITTED names {message}, which is not shipped"));
            continue;
        };
        if fields.contains_key(*field) {
            problems.push(format!(
                "{message}.{field} is shipped now: move its row from OMITTED to a table"
            ));
        }
        for (name, got) in fields {
            if got.number == *number && name != field {
                problems.push(format!(
                    "{message}.{name} uses number {number}, upstream's number for `{field}`"
                ));
            }
        }
    }
    fail_if_any("omitted fields", problems);
}

/// Sanity check of the generated types against the wire: a hand-encoded upstream `Call`
/// (SUBSCRIBE with FrameworkInfo{user, name}) decodes into our types.
#[test]
fn hand_encoded_subscribe_call_decodes() {
    use mesos_proto::v1::scheduler::{call, Call};
    // FrameworkInfo { user(1) = "u", name(2) = "n" }
    let framework_info = [0x0a, 0x01, b'u', 0x12, 0x01, b'n'];
    // Call.Subscribe { framework_info(1) }
    let mut subscribe = vec![0x0a, framework_info.len() as u8];
    subscribe.extend_from_slice(&framework_info);
    // Call { type(2) = SUBSCRIBE(1), subscribe(3) }
    let mut bytes = vec![0x10, 0x01, 0x1a, subscribe.len() as u8];
    bytes.extend_from_slice(&subscribe);

    let decoded = Call::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(decoded.r#type(), call::Type::Subscribe);
    let info = &decoded
        .subscribe
        .as_ref()
        .expect("subscribe set")
        .framework_info;
    assert_eq!((info.user.as_str(), info.name.as_str()), ("u", "n"));
    assert_eq!(decoded.encode_to_vec(), bytes, "re-encodes byte for byte");
}
