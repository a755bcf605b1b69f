//! Which status update uuids this process has already acknowledged, so an update delivered
//! twice (at-least-once delivery, a retry racing our ACKNOWLEDGE) is acknowledged once.
//!
//! Only acknowledgements the master took (202) are remembered: a failed ACKNOWLEDGE leaves
//! the uuid unknown, the agent re-sends the update, and it is acknowledged then. A restarted
//! scheduler starts empty, which is right: whatever it had not acknowledged comes again.

use std::collections::{HashSet, VecDeque};

/// Remembered acknowledgements, oldest forgotten first once `capacity` is reached.
#[derive(Debug)]
pub struct AckLedger {
    seen: HashSet<Vec<u8>>,
    order: VecDeque<Vec<u8>>,
    capacity: usize,
}

impl AckLedger {
    /// A ledger remembering up to `capacity` uuids (agents re-send within minutes, so a
    /// few tens of thousands cover any burst).
    pub fn new(capacity: usize) -> AckLedger {
        AckLedger {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Whether `uuid` was already acknowledged by this process.
    pub fn contains(&self, uuid: &[u8]) -> bool {
        self.seen.contains(uuid)
    }

    /// Records an acknowledgement the master accepted.
    pub fn record(&mut self, uuid: Vec<u8>) {
        if !self.seen.insert(uuid.clone()) {
            return;
        }
        self.order.push_back(uuid);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_up_to_capacity_and_forgets_the_oldest() {
        let mut ledger = AckLedger::new(2);
        ledger.record(b"a".to_vec());
        ledger.record(b"a".to_vec());
        ledger.record(b"b".to_vec());
        assert!(ledger.contains(b"a") && ledger.contains(b"b"));
        ledger.record(b"c".to_vec());
        assert!(!ledger.contains(b"a"), "oldest forgotten");
        assert!(ledger.contains(b"b") && ledger.contains(b"c"));
    }
}
