//! A [`Store`] in memory, for tests: same semantics as the file store, no durability.

use std::sync::{Arc, Mutex};

use super::{Store, StoreError};
use crate::records::{Change, StoredState};

/// In-memory store; clones share the same state, so a test can inspect what was committed
/// or "restart" a scheduler on the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<StoredState>>,
}

impl MemoryStore {
    /// A copy of everything committed so far.
    pub fn snapshot(&self) -> StoredState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Store for MemoryStore {
    async fn load(&mut self) -> Result<StoredState, StoreError> {
        Ok(self.snapshot())
    }

    async fn commit(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if let Ok(mut state) = self.state.lock() {
            changes.iter().for_each(|c| state.apply(c));
        }
        Ok(())
    }

    async fn clear(&mut self) -> Result<(), StoreError> {
        if let Ok(mut state) = self.state.lock() {
            *state = StoredState::default();
        }
        Ok(())
    }
}
