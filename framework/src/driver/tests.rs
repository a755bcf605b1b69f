//! The loop with a master that takes no calls: what waits stays bounded, and nothing is lost
//! once the master answers again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::scheduler::{event, Call, Event};
use mesos_proto::v1::FrameworkId;
use tokio::sync::{mpsc, Semaphore};

use super::*;
use crate::mesos::CallError;
use crate::records::StoredState;
use crate::state::MemoryStore;
use crate::testkit::{group_toml, offer, spec, OfferShape};

/// A master that answers a call only when given a permit.
#[derive(Clone)]
struct GatedMaster {
    permits: Arc<Semaphore>,
    answered: Arc<AtomicUsize>,
}

impl Caller for GatedMaster {
    async fn call(&self, _call: Call) -> Result<(), CallError> {
        if let Ok(permit) = self.permits.acquire().await {
            permit.forget();
        }
        self.answered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn event(event: Event) -> StreamEvent {
    StreamEvent::Event(Box::new(event))
}

#[tokio::test]
async fn a_master_taking_no_calls_stops_the_events_at_the_bound_and_none_is_lost() {
    let binaries = Binaries::Files {
        executor_uri: "/bin/cartrack-executor".into(),
        worker_uri: "/bin/cartrack-worker".into(),
    };
    // Nothing to run: every offer is declined, one DECLINE per OFFERS event.
    let spec = spec(&group_toml("idle", 0, 1.0, 64.0, &[], &[]));
    let stored = StoredState {
        framework_id: Some("fw-1".into()),
        ..StoredState::default()
    };
    let session = Arc::new(Session::new(stored.framework_id.clone()));
    let core = Core::new(
        spec.clone(),
        stored,
        CoreConfig::new(binaries.clone()),
        "run".into(),
        0,
    );
    let master = GatedMaster {
        permits: Arc::new(Semaphore::new(0)),
        answered: Arc::default(),
    };
    const CHANNEL: usize = 16;
    let (events, stream) = mpsc::channel(CHANNEL);
    let (_requests_tx, requests) = mpsc::channel(4);
    let driver = tokio::spawn(run_loop(
        core,
        MemoryStore::default(),
        master.clone(),
        Encoder::new(),
        Channels {
            session,
            fence: Fence::none(),
            stream,
            requests,
            decisions: decision_histogram(),
        },
        std::future::pending(),
    ));
    events
        .send(event(Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Event::default()
        }))
        .await
        .expect("the loop takes events");
    let offers = |n: usize| {
        event(Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(event::Offers {
                offers: vec![offer(n, &OfferShape::default())],
            }),
            ..Event::default()
        })
    };

    // The loop takes events until what waits reaches the bound, then leaves them in the
    // channel: a send then waits, however long.
    let mut sent = 0;
    let limit = MAX_WAITING + MAX_EVENTS_PER_ROUND + CHANNEL;
    while sent <= limit {
        match tokio::time::timeout(Duration::from_secs(2), events.send(offers(sent))).await {
            Ok(result) => result.expect("the loop takes events"),
            Err(_) => break,
        }
        sent += 1;
    }
    assert!(
        (MAX_WAITING..=limit).contains(&sent),
        "{sent} events taken with no call answered"
    );
    assert_eq!(master.answered.load(Ordering::SeqCst), 0);

    // The master answers again: the loop takes events again, and every offer is declined.
    master.permits.add_permits(Semaphore::MAX_PERMITS / 2);
    let more = 10;
    for n in sent..sent + more {
        tokio::time::timeout(Duration::from_secs(30), events.send(offers(n)))
            .await
            .expect("the loop takes events again")
            .expect("the loop runs");
    }
    let declines = sent + more;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Besides the declines, the subscription's own calls (revive or suppress, reconcile).
    while master.answered.load(Ordering::SeqCst) < declines {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {declines} declines sent",
            master.answered.load(Ordering::SeqCst)
        );
        tokio::task::yield_now().await;
    }
    assert!(!driver.is_finished());
    driver.abort();
}
