//! What the allowed lateness costs in memory: the core's heap with tile windows kept open for
//! the lateness, against the same input with windows dropped as soon as they are emitted.
//!
//! ```sh
//! cargo run --release -p cartrack-pipeline --example lateness_memory [-- VEHICLES LATENESS_SECS]
//! ```
//!
//! The input is the simulator's (seed 7, Manhattan, one fix per vehicle per second; default
//! 2 000 vehicles) for the lateness plus a minute, so the windows of a whole lateness are open
//! at the end. Heap bytes are counted by a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicIsize, Ordering};

use cartrack_pipeline::processor::{Outputs, Processor, ProcessorConfig};
use cartrack_pipeline::sources::simulator::{Fleet, SimulatorConfig};
use cartrack_pipeline::transforms::aggregate::WindowConfig;

/// Live heap bytes.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout as asked.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const START_MS: i64 = 1_790_000_000_000;

/// Runs the input through a core with `lateness_ms`; returns (heap bytes, open windows).
fn run(vehicles: u32, seconds: u32, lateness_ms: i64) -> (isize, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    let mut fleet = Fleet::new(SimulatorConfig {
        vehicles,
        ..SimulatorConfig::default()
    });
    let mut processor = Processor::new(ProcessorConfig {
        windows: WindowConfig {
            allowed_lateness_ms: lateness_ms,
            ..WindowConfig::default()
        },
        ..ProcessorConfig::default()
    });
    let mut outputs = Outputs::default();
    let mut positions = Vec::with_capacity(vehicles as usize);
    for second in 0..seconds {
        positions.clear();
        fleet.step(1.0);
        let now_ms = START_MS + i64::from(second) * 1000;
        fleet.positions(now_ms, &mut positions);
        for position in &positions {
            let _ = processor.process(position, &mut outputs);
        }
        processor.advance(now_ms, &mut outputs);
        outputs.clear();
    }
    drop(positions);
    let outputs_capacity = std::mem::take(&mut outputs);
    drop(outputs_capacity);
    let heap = LIVE.load(Ordering::Relaxed) - before;
    let open = processor.open_tile_windows();
    drop(fleet);
    (heap, open)
}

fn main() -> ExitCode {
    let args: Vec<u32> = match std::env::args().skip(1).map(|a| a.parse()).collect() {
        Ok(args) => args,
        Err(_) => {
            eprintln!("usage: lateness_memory [VEHICLES LATENESS_SECS]");
            return ExitCode::from(2);
        }
    };
    let (vehicles, lateness_s) = match args.as_slice() {
        [] => (2_000, 600),
        [vehicles, lateness] => (*vehicles, *lateness),
        _ => {
            eprintln!("usage: lateness_memory [VEHICLES LATENESS_SECS]");
            return ExitCode::from(2);
        }
    };
    let seconds = lateness_s + 60;
    let (with, open_with) = run(vehicles, seconds, i64::from(lateness_s) * 1000);
    let (without, open_without) = run(vehicles, seconds, 0);
    let per_window = (with - without) as f64 / (open_with - open_without).max(1) as f64;
    let per_hour = (open_with - open_without) as f64 * 3600.0 / f64::from(lateness_s.max(1));
    println!("| vehicles | lateness (s) | open tile windows | heap with (MB) | heap without (MB) | bytes per open window | open windows per hour of lateness | MB per hour of lateness |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {vehicles} | {lateness_s} | {open_with} | {:.1} | {:.1} | {per_window:.0} | {per_hour:.0} | {:.1} |",
        with as f64 / 1e6,
        without as f64 / 1e6,
        per_window * per_hour / 1e6
    );
    ExitCode::SUCCESS
}
