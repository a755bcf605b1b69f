//! The observation cases of `mesos_1_12_observed`, run against a real Mesos 1.12 master and
//! agent: the check that the dev cluster's claimed behaviour is Mesos' behaviour.

mod observed;
mod support;

use observed::{cases, Backend};

/// Each case as a test against a real Mesos, under the case's own name.
macro_rules! real_mesos_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs a real Mesos (CARTRACK_MESOS_HOME)"]
            async fn $name() {
                cases::$name(Backend::Real).await;
            }
        )*
    };
}

observed_cases!(real_mesos_tests);
