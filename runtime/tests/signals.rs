//! The shutdown future against real signals sent to this test process.

use std::time::Duration;

use cartrack_runtime::signals::{Shutdown, Stop};
use rustix::process::{getpid, kill_process, Signal};

/// Generous: a signal to oneself is delivered within microseconds even on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn sigterm_and_sigint_each_resolve_the_shutdown_future() {
    let mut shutdown = Shutdown::listen().expect("install handlers");
    // Sent before anyone awaits: the handler keeps it.
    kill_process(getpid(), Signal::TERM).expect("send SIGTERM");
    let stop = tokio::time::timeout(WAIT, shutdown.recv()).await;
    assert_eq!(stop.ok(), Some(Stop::Terminate));
    kill_process(getpid(), Signal::INT).expect("send SIGINT");
    let stop = tokio::time::timeout(WAIT, shutdown.recv()).await;
    assert_eq!(stop.ok(), Some(Stop::Interrupt));
}
