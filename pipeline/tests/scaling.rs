//! Several `process` members in one consumer group make the same tile windows as one: with
//! `broker`, `ingest http`, `index --ndjson-dir` and `process` as real processes, a second
//! `process` joins the group mid-stream (partitions move to it) and the first is then killed
//! with SIGKILL (its partitions move back to the second). Each processor aggregates only its
//! partitions' vehicles, so without merging their parts two processors would emit the same
//! window id with partial counts. The last document of every tile window in the sink must be
//! the offline core's window over the whole input, bit for bit, and no other window may be
//! there.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use cartrack_pipeline::kafka::{partition_of, topics};
use cartrack_pipeline::model::Position;
use cartrack_pipeline::sources::simulator::CityBox;
use cartrack_pipeline::testkit::{fleet_positions, offline_tiles};
use support::*;

const VEHICLES: u32 = 300;
/// Seconds of input: 270,000 positions, posted in three phases of 300 s of event time.
const SECONDS: u32 = 900;
const PHASES: usize = 3;
/// Lines per request.
const REQUEST_LINES: usize = 10_000;

fn positions_in(address: &str) -> f64 {
    counter(
        address,
        &format!(
            "cartrack_process_records_in_total{{endpoint=\"{}\"}}",
            topics::POSITIONS
        ),
    )
}

fn records_out(address: &str, topic: &str) -> f64 {
    counter(
        address,
        &format!("cartrack_process_records_out_total{{endpoint=\"{topic}\"}}"),
    )
}

/// Posts `lines` (in time order) with one client per partition, as a fleet's devices would:
/// each partition's event time only moves forward.
fn post_phase(intake: &str, positions: &[Position], lines: &[String]) {
    let mut per_partition: Vec<Vec<String>> = vec![Vec::new(); PARTITIONS as usize];
    for (position, line) in positions.iter().zip(lines) {
        let partition = partition_of(position.vehicle_id.as_bytes(), PARTITIONS) as usize;
        per_partition[partition].push(line.clone());
    }
    std::thread::scope(|scope| {
        for lines in &per_partition {
            scope.spawn(move || {
                for request in lines.chunks(REQUEST_LINES) {
                    post_all(intake, request);
                }
            });
        }
    });
}

#[test]
fn two_processors_joining_and_crashing_mid_stream_emit_the_offline_tile_windows() {
    let mut positions = fleet_positions(91, CityBox::MANHATTAN, VEHICLES, SECONDS);
    let lines: Vec<String> = positions.iter_mut().map(posted_line).collect();
    let offline = {
        let positions = positions.clone();
        std::thread::spawn(move || offline_tiles(&positions))
    };

    let sink_dir = tempfile::tempdir().unwrap();
    let sink = sink_dir.path().to_str().unwrap();
    let mut broker = ChildGuard::worker(
        "broker",
        &["broker", "--partitions", &PARTITIONS.to_string()],
    );
    let kafka = broker.announced_after("kafka:", Duration::from_secs(30));
    let (mut first, first_address) = group_worker("process", &kafka, &[]);
    let (mut index, _) = group_worker("index", &kafka, &["--ndjson-dir", sink]);
    let (mut ingest, intake) = ingest_http(&kafka, &[]);

    let phase = positions.len() / PHASES;
    let phase_range = |k: usize| {
        k * phase..if k + 1 == PHASES {
            positions.len()
        } else {
            (k + 1) * phase
        }
    };

    // Phase 1: one processor, every partition.
    post_phase(&intake, &positions[phase_range(0)], &lines[phase_range(0)]);
    wait_until(
        Duration::from_secs(60),
        "the first processor to read phase 1",
        || {
            first.assert_running();
            positions_in(&first_address) >= phase as f64
        },
    );

    // Phase 2: a second processor joins; partitions move to it, and each reads some.
    let (mut second, second_address) = group_worker("process", &kafka, &[]);
    wait_until(
        Duration::from_secs(60),
        "the second processor to get partitions",
        || {
            second.assert_running();
            positions_in(&second_address) > 0.0
        },
    );
    let (first_before, second_before) =
        (positions_in(&first_address), positions_in(&second_address));
    post_phase(&intake, &positions[phase_range(1)], &lines[phase_range(1)]);
    wait_until(
        Duration::from_secs(60),
        "both processors to read phase 2",
        || {
            first.assert_running();
            second.assert_running();
            positions_in(&first_address) > first_before
                && positions_in(&second_address) > second_before
        },
    );
    wait_until(
        Duration::from_secs(30),
        "the first processor to emit tile parts",
        || {
            first.assert_running();
            records_out(&first_address, topics::TILE_PARTS) > 0.0
        },
    );

    // Phase 3: the first processor crashes mid-stream; its partitions move to the second.
    first.sigkill();
    post_phase(&intake, &positions[phase_range(2)], &lines[phase_range(2)]);

    let expected = offline.join().unwrap();
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(id, tile)| (id.clone(), serde_json::to_string(tile).unwrap()))
        .collect();
    let tiles_path = sink_dir.path().join("cartrack-tiles.ndjson");
    let mut follower = Follower::default();
    // The last document of each window, as the index keeps it: its JSON as written.
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let mut documents = 0u64;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(
            Duration::from_secs(90),
            "the sink's tile windows to equal the offline core's",
            || {
                for child in [&mut broker, &mut second, &mut index, &mut ingest] {
                    child.assert_running();
                }
                follower.read_new(&tiles_path, |line| {
                    documents += 1;
                    let source = line
                        .split_once(",\"_source\":")
                        .and_then(|(_, rest)| rest.strip_suffix('}'))
                        .unwrap_or_else(|| panic!("unexpected sink line {line}"));
                    last.insert(document_id(line).to_owned(), source.to_owned());
                });
                last == expected
            },
        );
    }));
    if let Err(panic) = outcome {
        let missing = expected.keys().filter(|id| !last.contains_key(*id)).count();
        let extra = last.keys().filter(|id| !expected.contains_key(*id)).count();
        let differ: Vec<_> = last
            .iter()
            .filter(|(id, source)| expected.get(*id).is_some_and(|want| want != *source))
            .take(3)
            .map(|(id, source)| format!("{id}: got {source}, offline {}", expected[id]))
            .collect();
        eprintln!(
            "{} windows expected, {} in the sink: {missing} missing, {extra} extra, {} differ, e.g. {differ:#?}",
            expected.len(),
            last.len(),
            last.iter().filter(|(id, s)| expected.get(*id).is_some_and(|w| w != *s)).count()
        );
        std::panic::resume_unwind(panic);
    }

    // No part reached a merger after its window was dropped. (Fixes the second processor
    // re-read for windows it had already finalised with its own partitions count as
    // `late_for_window`: the first processor had emitted those windows' parts.)
    let rejects = |reason| {
        counter(
            &second_address,
            &format!("cartrack_process_rejects_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(rejects("late_part"), 0.0, "late parts");
    assert!(
        records_out(&second_address, topics::TILE_PARTS) > 0.0,
        "the second processor emitted no tile parts"
    );
    eprintln!(
        "scaling: {} positions, {} windows, {documents} tile documents in the sink; the second processor re-read {} fixes of windows it had finalised",
        positions.len(),
        expected.len(),
        rejects("late_for_window")
    );
}
