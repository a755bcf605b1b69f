//! The command line as clap sees it: every flag, its env var and its help, in one place.
//! Nothing here validates beyond types; `args` turns these into something runnable.

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Operate a running cartrack service: status, scaling, pods, config updates and their plans.
#[derive(Debug, Parser)]
#[command(name = "cartrack", version, propagate_version = true)]
pub struct Flags {
    /// The scheduler's operator API, for every command but local (which starts its own at
    /// --http) [default: http://127.0.0.1:8080, or the service behind DCOS_URL when that is set].
    #[arg(long, env = "CARTRACK_URL", global = true)]
    pub url: Option<String>,

    /// Bearer token, when the scheduler was started with --api-token (writes) or
    /// --read-token (reads too); every command but local.
    #[arg(
        long,
        env = "CARTRACK_API_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// PEM file of CA certificates to trust, besides the public roots, when the scheduler
    /// serves HTTPS with a certificate of its own CA (every command but local).
    #[arg(long, env = "CARTRACK_CA_FILE", value_name = "PATH", global = true)]
    pub ca_file: Option<std::path::PathBuf>,

    /// Print machine-readable JSON instead of tables and sentences (every command but local).
    #[arg(long, global = true)]
    pub json: bool,

    /// The service's name on DC/OS (its Marathon app and `/service/<name>` path); every
    /// command but local.
    #[arg(
        long,
        env = "CARTRACK_SERVICE_NAME",
        default_value = "cartrack",
        global = true
    )]
    pub name: String,

    /// As a DC/OS CLI plugin: the cluster URL (set by `dcos`).
    #[arg(long, env = "DCOS_URL", hide = true, global = true)]
    pub dcos_url: Option<String>,

    /// As a DC/OS CLI plugin: the login token, sent as `Authorization: token=...`.
    #[arg(
        long,
        env = "DCOS_ACS_TOKEN",
        hide = true,
        hide_env_values = true,
        global = true
    )]
    pub dcos_acs_token: Option<String>,

    /// As a DC/OS CLI plugin: `false` accepts the cluster's self-signed certificate.
    #[arg(long, env = "DCOS_SSL_VERIFY", hide = true, global = true)]
    pub dcos_ssl_verify: Option<String>,

    /// Print a one-line description (the DC/OS CLI asks plugins for it) and exit.
    #[arg(long)]
    pub info: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// --url's value came from CARTRACK_URL, not the command line (set by [`Flags::parse_args`]).
    #[arg(skip)]
    pub url_from_env: bool,

    /// --dcos-url's value came from DCOS_URL, not the command line (set by [`Flags::parse_args`]).
    #[arg(skip)]
    pub dcos_url_from_env: bool,
}

impl Flags {
    /// Parses `args` like [`Parser::try_parse_from`], also noting which address flags came from
    /// the environment, so errors can name the variable the user set rather than the flag.
    pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Self, clap::Error> {
        let matches = Self::command().try_get_matches_from(args)?;
        let mut flags = Self::from_arg_matches(&matches)?;
        let from_env = |id| matches.value_source(id) == Some(ValueSource::EnvVariable);
        flags.url_from_env = from_env("url");
        flags.dcos_url_from_env = from_env("dcos_url");
        Ok(flags)
    }
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show each group's desired and running pods, and every task.
    Status,
    /// Set a group's pod count; with --wait, follow until its pods are running.
    Scale {
        /// The group to scale (e.g. processor).
        group: String,
        /// The desired number of pods, 0 to 100000.
        #[arg(allow_negative_numbers = true)]
        count: String,
        /// Wait until the group's pods are RUNNING, showing progress.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits (e.g. 120s, 5m).
        #[arg(long, default_value = "120s")]
        timeout: String,
    },
    /// List, inspect, restart or replace pods.
    #[command(subcommand)]
    Pods(PodsCommand),
    /// Show the deployment plan, or steer the running deployment.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Roll out a new config (spec file, overrides, release); with --wait, follow the
    /// deployment until every pod runs it.
    Update(UpdateFlags),
    /// Show or compare the stored config versions.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show autoscaling (rules, readings, decisions), or let it follow the load again after
    /// `scale` pinned a group.
    #[command(subcommand)]
    Autoscale(AutoscaleCommand),
    /// Debugging views of the scheduler.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// Uninstall the service: kill every pod, tear the framework down and delete the
    /// scheduler's stored state. Cannot be undone.
    Uninstall {
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// Wait until the uninstall is complete, showing progress.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits (e.g. 120s, 5m).
        #[arg(long, default_value = "300s")]
        timeout: String,
    },
    /// Reports on the shared cluster, from the scheduler's samples of it.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Run cartrack on this machine with nothing installed: a dev cluster (or an existing Mesos
    /// with --master), an in-memory Kafka broker, the scheduler and its pipeline pods. Ctrl-C
    /// stops everything.
    Local(LocalFlags),
}

/// `cartrack local ...`
#[derive(Debug, clap::Args)]
pub struct LocalFlags {
    /// Where the scheduler serves the page and the operator API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: String,
    /// Run on this existing Mesos instead of a dev cluster: http://HOST:PORT, a comma list of
    /// masters, or zk://HOST:PORT/mesos. Only the broker and the scheduler start here; Ctrl-C
    /// also tears the framework down, so no cartrack task stays on the cluster.
    #[arg(long, conflicts_with_all = ["master_port", "agents", "agent_resources", "tenant_load"])]
    pub master: Option<String>,
    /// URI of the cartrack-executor binary the agents fetch [default: the one beside cartrack].
    #[arg(long)]
    pub executor_uri: Option<String>,
    /// URI of the cartrack-worker binary the agents fetch [default: the one beside cartrack].
    #[arg(long)]
    pub worker_uri: Option<String>,
    /// URI of a release tarball with cartrack-executor and cartrack-worker, fetched and unpacked
    /// by every executor instead of --executor-uri and --worker-uri.
    #[arg(long, conflicts_with_all = ["executor_uri", "worker_uri"])]
    pub release_uri: Option<String>,
    /// The dev cluster master's port (0 picks a free one).
    #[arg(long, default_value_t = 5050)]
    pub master_port: u16,
    /// How many agents the dev cluster runs.
    #[arg(long, default_value_t = 3)]
    pub agents: u32,
    /// Resources of each agent.
    #[arg(long, default_value = "cpus:4;mem:8192;disk:20000;ports:[31000-32999]")]
    pub agent_resources: String,
    /// Other tenants' load on each agent, shown on the page and withheld from offers.
    #[arg(long, default_value = "cpus:1;mem:2048")]
    pub tenant_load: String,
    /// Folder for logs, state and sandboxes (default: a new temporary folder, kept afterwards).
    #[arg(long)]
    pub work_dir: Option<std::path::PathBuf>,
    /// Passed to the scheduler: raster tiles under the page's map, a URL template with {z},
    /// {x} and {y}; empty for no basemap [default: the scheduler's, OpenStreetMap].
    #[arg(long, env = "CARTRACK_MAP_TILES", value_name = "URL")]
    pub map_tiles: Option<String>,
}

/// `cartrack pods ...`
#[derive(Debug, Subcommand)]
pub enum PodsCommand {
    /// Every pod slot and its task.
    List,
    /// One pod's task: state, agent, ports, health.
    Status {
        /// The pod slot, `<group>-<index>` (e.g. processor-0).
        slot: String,
    },
    /// Restart a pod on the same agent.
    Restart {
        /// The pod slot, `<group>-<index>`.
        slot: String,
    },
    /// Replace a pod: kill it and launch it anywhere that fits, then say where it went.
    Replace {
        /// The pod slot, `<group>-<index>`.
        slot: String,
        /// How long to wait for the new placement before reporting it as pending (e.g. 30s).
        #[arg(long, default_value = "30s")]
        timeout: String,
    },
}

/// `cartrack plan ...`
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// The deploy plan as a tree: phases per group, steps per pod, each with its status and why.
    Show,
    /// Start no new step until `resume` (started ones finish).
    Pause,
    /// Go on after `pause`.
    Resume,
    /// Let the waiting canary step go.
    Continue {
        /// Only this group's canary (default: every group's).
        #[arg(long, value_name = "GROUP")]
        phase: Option<String>,
    },
    /// Roll the deployment back to the version before, by the same rolling rules.
    Abort,
    /// Restart one step's pod in place.
    Restart {
        /// The step: a pod slot, `<group>-<index>`.
        step: String,
    },
    /// Take one step's pod as up to date without replacing it.
    ForceComplete {
        /// The step: a pod slot, `<group>-<index>`.
        step: String,
    },
}

/// `cartrack update ...`
#[derive(Debug, clap::Args)]
pub struct UpdateFlags {
    /// The service spec file (TOML), as the scheduler's --spec takes it.
    #[arg(long, value_name = "FILE")]
    pub spec: std::path::PathBuf,
    /// Override a spec key, `<path>=<value>` (e.g. processor.count=3), after the scheduler's
    /// environment; repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// A release tarball for the executors and workers (default: the binaries of the target).
    #[arg(long, value_name = "URI")]
    pub release_uri: Option<String>,
    /// Follow the deployment until it is complete, printing each step's changes.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits (e.g. 300s, 10m).
    #[arg(long, default_value = "10m")]
    pub timeout: String,
}

/// `cartrack config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// One config version: id, origin, time, hash, binaries, and the spec as TOML.
    Show {
        /// The version's id [default: the target].
        id: Option<u32>,
    },
    /// The lines that differ between two versions' specs, and their binaries.
    Diff {
        /// The older version [default: the newest kept one before B].
        a: Option<u32>,
        /// The newer version [default: the target].
        b: Option<u32>,
    },
}

/// `cartrack autoscale ...`
#[derive(Debug, Subcommand)]
pub enum AutoscaleCommand {
    /// Each autoscaled group's rules, pods, last reading and why its count stays, then the
    /// last decisions.
    Show,
    /// Let autoscaling set the group's count again (after `cartrack scale` pinned it).
    Resume {
        /// The autoscaled group.
        group: String,
    },
}

/// `cartrack report ...`
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The multiplexing report: each service's peak and average allocation, the agents the
    /// services would need siloed versus multiplexed, and the average utilisation.
    Utilisation {
        /// Only the last this long (e.g. 1h, 30m) [default: every sample the scheduler keeps].
        #[arg(long)]
        since: Option<String>,
    },
}

/// `cartrack debug ...`
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Recent offers and why each did not fit each pending pod.
    Offers,
}
