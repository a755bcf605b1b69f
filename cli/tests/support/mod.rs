//! Helpers shared by the CLI's integration tests.
// Each test binary compiles every helper and uses some of them.
#![allow(dead_code)]

pub mod process;
pub mod scheduler;
pub mod webdriver;
