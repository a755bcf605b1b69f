//! One test per "Seen on a real Mesos 1.12 master + agent" observation: the dev cluster must
//! show the same observable (status code, state, reason, uuid or not). The bodies are shared
//! with `real_mesos_observed`, which runs them against a real Mesos.

mod observed;
mod support;

use observed::{cases, Backend};

/// Each case as a test against the dev cluster, under the case's own name.
macro_rules! dev_cluster_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                cases::$name(Backend::Dev).await;
            }
        )*
    };
}

observed_cases!(dev_cluster_tests);
