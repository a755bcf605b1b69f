//! The subcommands' I/O adapters: each wires sources, the processing core or sinks to Kafka,
//! HTTP and signals, and holds no logic of its own worth testing without them.

pub mod broker;
pub mod index;
pub mod ingest;
pub mod process;

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM, as Mesos sends), so every
/// subcommand can finish its batch and commit before exiting.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("stopping");
}
