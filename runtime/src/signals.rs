//! The shutdown request every binary obeys: SIGTERM (Mesos, systemd, `kill`) or SIGINT (Ctrl-C).
//!
//! [`Shutdown::listen`] installs the handlers at once, so a signal that arrives before anyone
//! awaits it (say, right after a child printed the line its parent waits for) is kept, not
//! lost to the default action, which would end the process without its clean-up.

use std::fmt;
use std::io;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM.
    Terminate,
    /// SIGINT, e.g. Ctrl-C in a terminal.
    Interrupt,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Terminate => "SIGTERM",
            Stop::Interrupt => "SIGINT",
        })
    }
}

/// Listens for SIGTERM and SIGINT from its creation on; every signal is delivered once.
#[derive(Debug)]
pub struct Shutdown {
    terminate: Signal,
    interrupt: Signal,
}

impl Shutdown {
    /// Installs the handlers. Must run inside a tokio runtime with its I/O driver enabled;
    /// fails only when the handlers cannot be registered.
    pub fn listen() -> io::Result<Shutdown> {
        Ok(Shutdown {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next SIGTERM or SIGINT.
    pub async fn recv(&mut self) -> Stop {
        tokio::select! {
            Some(()) = self.terminate.recv() => Stop::Terminate,
            Some(()) = self.interrupt.recv() => Stop::Interrupt,
            // Both streams ended: the runtime is shutting down, so nobody is left to stop.
            else => std::future::pending().await,
        }
    }

    /// Resolves at the first SIGTERM or SIGINT and logs it: the "stop" future for services
    /// that take one.
    pub async fn requested(mut self) {
        let stop = self.recv().await;
        tracing::info!(signal = %stop, "stopping");
    }
}
