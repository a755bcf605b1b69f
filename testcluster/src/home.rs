//! Where the Mesos install is: `CARTRACK_MESOS_HOME` (not a `MESOS_*` name, since Mesos reads
//! every such variable as a flag).

use std::path::{Path, PathBuf};

use crate::RealMesosError;

/// An unpacked Mesos: `sbin/mesos-master`, `sbin/mesos-agent`, `lib/`, `libexec/mesos/`.
#[derive(Debug, Clone)]
pub struct MesosHome {
    root: PathBuf,
}

impl MesosHome {
    /// The variable that names the install.
    pub const VAR: &'static str = "CARTRACK_MESOS_HOME";

    /// The install `CARTRACK_MESOS_HOME` names, checked to hold the daemons.
    pub fn from_env() -> Result<MesosHome, RealMesosError> {
        let root = std::env::var_os(Self::VAR)
            .filter(|v| !v.is_empty())
            .ok_or(RealMesosError::NotConfigured)?;
        MesosHome::at(PathBuf::from(root))
    }

    /// The install at `root`.
    pub fn at(root: PathBuf) -> Result<MesosHome, RealMesosError> {
        let home = MesosHome { root };
        for binary in [home.master(), home.agent()] {
            if !binary.is_file() {
                return Err(RealMesosError::NotAnInstall {
                    root: home.root.clone(),
                    missing: binary,
                });
            }
        }
        Ok(home)
    }

    /// The install's top folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn master(&self) -> PathBuf {
        self.root.join("sbin/mesos-master")
    }

    pub(crate) fn agent(&self) -> PathBuf {
        self.root.join("sbin/mesos-agent")
    }

    pub(crate) fn lib(&self) -> PathBuf {
        self.root.join("lib")
    }

    pub(crate) fn launcher_dir(&self) -> PathBuf {
        self.root.join("libexec/mesos")
    }

    pub(crate) fn webui_dir(&self) -> PathBuf {
        self.root.join("share/mesos/webui")
    }
}
