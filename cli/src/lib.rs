//! The cartrack operator CLI, layered like ripgrep's: [`flags`] (clap, what the user typed) ->
//! [`args`] (validated, no I/O) -> [`commands`] (talk to the scheduler's operator API through
//! [`api`]), printing through [`stdout`]. Exit codes ([`error::Ending`]): 0 ok (also when the
//! reader of stdout closed it early, as in `cartrack status | head -3`), 1 failed, 2 bad usage
//! ([`error::UsageError`], or a request the scheduler refused as asked).

pub mod api;
pub mod args;
pub mod commands;
pub mod error;
pub mod flags;
pub mod local;
pub mod render;
pub mod stdout;
pub mod suggest;

/// What `cartrack --info` prints: the DC/OS CLI lists it beside the plugin's name.
pub const PLUGIN_INFO: &str =
    "Operate cartrack, the car-tracking pipeline framework: status, scaling, pods, plans";

/// The command line as the program sees it. Installed as the DC/OS CLI plugin `dcos-cartrack`,
/// it is invoked as `dcos-cartrack cartrack <command>`: the repeated name is dropped.
pub fn plugin_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let as_plugin = args
        .first()
        .and_then(|argv0| std::path::Path::new(argv0).file_name())
        .is_some_and(|name| name.to_string_lossy().starts_with("dcos-"));
    if as_plugin && args.get(1).is_some_and(|a| a == "cartrack") {
        args.remove(1);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(|a| a.into()).collect()
    }

    #[test]
    fn the_dcos_plugin_drops_its_repeated_name() {
        assert_eq!(
            plugin_args(os(&["/opt/dcos/bin/dcos-cartrack", "cartrack", "status"])),
            os(&["/opt/dcos/bin/dcos-cartrack", "status"])
        );
        assert_eq!(
            plugin_args(os(&["cartrack", "cartrack"])),
            os(&["cartrack", "cartrack"])
        );
    }
}
