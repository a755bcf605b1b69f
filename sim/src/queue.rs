//! Virtual time: a queue of events ordered by due time, then by insertion (so two events due
//! at the same millisecond run in the order they were scheduled, on every run).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Milliseconds of virtual time since the simulation started.
pub(crate) type Millis = u64;

struct Entry<E> {
    at: Millis,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    // Reversed: `BinaryHeap` is a max-heap and the earliest event must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The clock and the events waiting for it.
pub(crate) struct Queue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: Millis,
}

impl<E> Queue<E> {
    pub(crate) fn new() -> Queue<E> {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
            now: 0,
        }
    }

    pub(crate) fn now(&self) -> Millis {
        self.now
    }

    /// Schedules `event` at `at` (never in the past).
    pub(crate) fn at(&mut self, at: Millis, event: E) {
        self.seq += 1;
        self.heap.push(Entry {
            at: at.max(self.now),
            seq: self.seq,
            event,
        });
    }

    /// Schedules `event` `delay` ms from now.
    pub(crate) fn after(&mut self, delay: Millis, event: E) {
        self.at(self.now + delay, event);
    }

    /// Takes the next event and moves the clock to its time.
    pub(crate) fn pop(&mut self) -> Option<E> {
        let entry = self.heap.pop()?;
        self.now = entry.at;
        Some(entry.event)
    }
}

/// One direction of a connection: messages arrive in the order sent (TCP), each no sooner
/// than its own latency allows.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fifo {
    last: Millis,
}

impl Fifo {
    /// When a message sent at `now` with `latency` arrives.
    pub(crate) fn arrival(&mut self, now: Millis, latency: Millis) -> Millis {
        self.last = self.last.max(now + latency);
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_time_then_by_insertion() {
        let mut q = Queue::new();
        q.at(5, "b");
        q.at(3, "a");
        q.at(5, "c");
        assert_eq!(q.pop(), Some("a"));
        assert_eq!(q.now(), 3);
        assert_eq!(q.pop(), Some("b"));
        assert_eq!(q.pop(), Some("c"));
        assert_eq!(q.now(), 5);
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_fifo_never_lets_a_later_message_overtake() {
        let mut f = Fifo::default();
        assert_eq!(f.arrival(0, 50), 50);
        assert_eq!(f.arrival(10, 5), 50);
        assert_eq!(f.arrival(100, 5), 105);
    }
}
