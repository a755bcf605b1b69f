//! The run's record: a digest of every step (two runs of one seed must agree on it) and the
//! last steps in words, printed when an invariant fails.

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::queue::Millis;

pub(crate) struct Trace {
    lines: VecDeque<String>,
    keep: usize,
    // `DefaultHasher::new()` has fixed keys: the digest is the same in every process.
    digest: DefaultHasher,
}

impl Trace {
    pub(crate) fn new(keep: usize) -> Trace {
        Trace {
            lines: VecDeque::with_capacity(keep + 1),
            keep,
            digest: DefaultHasher::new(),
        }
    }

    pub(crate) fn record(&mut self, step: usize, now: Millis, line: String) {
        step.hash(&mut self.digest);
        now.hash(&mut self.digest);
        line.hash(&mut self.digest);
        if self.keep == 0 {
            return;
        }
        if self.lines.len() == self.keep {
            self.lines.pop_front();
        }
        self.lines.push_back(format!(
            "#{step:<5} {:>4}.{:03}s  {line}",
            now / 1000,
            now % 1000
        ));
    }

    pub(crate) fn digest(&self) -> u64 {
        self.digest.finish()
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}
