//! Planner throughput on a fixed mixed workload (see BENCHMARKS.md):
//! - `fit_checks`: offer x pod evaluations per second (`first_misfit`) on one core;
//! - `place_10k_pods_on_10k_agents`: one `plan()` placing 10,000 pods onto 10,000 offers.
//!
//! Workload: four groups — plain (cpus/mem/disk), ports + `hostname:UNIQUE`, ports +
//! `rack:MAX_PER:40`, and a large one that fits only some offers — over offers of four sizes
//! in 250 racks.

use std::collections::BTreeMap;
use std::hint::black_box;

use cartrack_framework::planner::{
    first_misfit, pending_pods, plan, OfferMemory, OfferView, PlacementIndex, PlanInput,
    PlannerConfig, TokenBucket,
};
use cartrack_framework::spec::ValidatedSpec;
use cartrack_framework::testkit::{group_toml, offer, spec, OfferShape};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mesos_proto::v1::Offer;

fn workload(pods_per_group: u32) -> ValidatedSpec {
    spec(
        &[
            group_toml("ingester", pods_per_group, 0.1, 64.0, &[], &[]),
            group_toml(
                "processor",
                pods_per_group,
                0.2,
                128.0,
                &["http", "admin"],
                &["hostname:UNIQUE"],
            ),
            group_toml(
                "indexer",
                pods_per_group,
                0.1,
                256.0,
                &["http"],
                &["rack:MAX_PER:40"],
            ),
            group_toml("aggregator", pods_per_group, 2.0, 4096.0, &["http"], &[]),
        ]
        .concat(),
    )
}

fn offers(n: usize) -> Vec<Offer> {
    (0..n)
        .map(|i| {
            let (cpus, mem) = [(1.0, 2048.0), (2.0, 4096.0), (4.0, 8192.0), (8.0, 16384.0)][i % 4];
            offer(
                i,
                &OfferShape {
                    cpus,
                    mem,
                    disk: 10_000.0,
                    ports: Some((31000, 31099)),
                    attributes: vec![("rack".into(), format!("r{}", i % 250))],
                    ..OfferShape::default()
                },
            )
        })
        .collect()
}

fn fit_checks(c: &mut Criterion) {
    let spec = workload(1);
    let offers = offers(1000);
    let views: Vec<OfferView> = offers.iter().map(OfferView::from_offer).collect();
    let mut index = PlacementIndex::new(&spec.groups);
    for (i, v) in views.iter().enumerate() {
        index.register(&spec.groups, v);
        if i % 3 == 0 {
            index.record(&spec.groups, 1, v); // a third of the hosts already hold a processor
        }
    }
    let mut group = c.benchmark_group("planner");
    group.throughput(Throughput::Elements(
        (views.len() * spec.groups.len()) as u64,
    ));
    group.bench_function("fit_checks", |b| {
        b.iter(|| {
            let mut fits = 0u32;
            for view in &views {
                for gi in 0..spec.groups.len() {
                    fits += u32::from(first_misfit(&spec, gi, black_box(view), &index).is_none());
                }
            }
            fits
        })
    });
    group.finish();
}

fn place_10k(c: &mut Criterion) {
    let spec = workload(2500);
    let offers = offers(10_000);
    let (desired, tasks, slots) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let input = PlanInput {
        spec: &spec,
        desired: &desired,
        tasks: &tasks,
        slots: &slots,
        offers: &offers,
        now_ms: 1,
        launches_allowed: true,
        current: &BTreeMap::new(),
        deployment: None,
    };
    let config = PlannerConfig::default();
    let check = plan(
        &input,
        &config,
        &mut OfferMemory::new(TokenBucket::new(1, 1000)),
    );
    let placed: usize = check.launches.iter().map(|l| l.pods.len()).sum();
    println!(
        "10k x 10k: {placed} pods placed, {} waiting, {} evaluations",
        check.waiting, check.evaluations
    );
    let mut group = c.benchmark_group("planner");
    group.sample_size(20);
    group.bench_function("parts/parse_10k_offers", |b| {
        b.iter(|| offers.iter().map(OfferView::from_offer).collect::<Vec<_>>())
    });
    group.bench_function("parts/pending_10k_pods", |b| {
        b.iter(|| pending_pods(&spec, &desired, &tasks, &slots, 1))
    });
    group.bench_function("place_10k_pods_on_10k_agents", |b| {
        b.iter(|| {
            plan(
                black_box(&input),
                &config,
                &mut OfferMemory::new(TokenBucket::new(1, 1000)),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, fit_checks, place_10k);
criterion_main!(benches);
