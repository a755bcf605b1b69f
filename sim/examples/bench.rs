//! Simulation speed: steps per second over a range of seeds, printed as a table.
//!
//! `cargo run -p cartrack-sim --release --example bench -- [seeds (default 200)]`

use std::time::Instant;

use cartrack_sim::{run, SimConfig};

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let config = SimConfig::default();
    println!("| profile | seeds | failed | steps | virtual s | wall s | steps/s | seeds/s |");
    println!("|---|---|---|---|---|---|---|---|");
    let started = Instant::now();
    let (mut steps, mut virtual_ms, mut failed) = (0usize, 0u64, 0u64);
    for seed in 0..seeds {
        match run(seed, &config) {
            Ok(o) => {
                steps += o.steps;
                virtual_ms += o.virtual_ms;
            }
            Err(f) => {
                failed += 1;
                steps += f.step;
                virtual_ms += f.virtual_ms;
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "| {profile} | {seeds} | {failed} | {steps} | {} | {wall:.1} | {:.0} | {:.1} |",
        virtual_ms / 1000,
        steps as f64 / wall,
        seeds as f64 / wall
    );
}
