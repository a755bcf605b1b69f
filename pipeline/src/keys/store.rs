//! The intake's device authentication at the edge: the keys file reloaded when it changes, a
//! request's `Authorization` header checked against it, and each key's rate-limit bucket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use cartrack_runtime::bearer::bearer_token;
use cartrack_runtime::task::AbortOnDrop;
use cartrack_runtime::watch::Watched;

use super::limiter::{Bucket, Rate};
use super::ring::{KeyPolicy, KeyRing, KeysError};
use crate::metrics::IntakeAuthMetrics;
use crate::wall_clock_ms;

/// How often the keys file is checked for a change.
const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// Tokens a request takes from its key's bucket at a time: taking one per line would lock the
/// bucket a million times a second.
const TOKENS_AT_ONCE: u32 = 1024;

/// A keys file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeysFileError {
    /// It cannot be read.
    #[error("{}: {source}; check the path (or CARTRACK_INGEST_KEYS)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a valid keys file.
    #[error("{}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: KeysError,
    },
}

/// Reads and checks a keys file.
pub fn load(path: &Path) -> Result<KeyRing, KeysFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeysFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    KeyRing::parse(&text).map_err(|source| KeysFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

/// Who may post positions.
#[derive(Debug, Clone)]
pub enum IntakeAuth {
    /// `--ingest-auth none`: anyone who reaches the port.
    Open,
    /// Keys are required but none are configured: every post is refused, saying so, and
    /// counted here.
    Closed(IntakeAuthMetrics),
    /// The keys of a file.
    Keys(KeyStore),
}

/// Why a request is refused before its body is read (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    /// No `Authorization: Bearer` header.
    #[error("no device key: send `Authorization: Bearer <key>` (a key from `cartrack-worker keys new`, listed in the ingester's --ingest-keys file)")]
    MissingKey,
    /// A key the file does not list.
    #[error("unknown device key: it is not in the ingester's --ingest-keys file")]
    UnknownKey,
    /// A key the file marks revoked.
    #[error("the device key {name:?} is revoked; ask for a new one")]
    RevokedKey {
        /// Its name.
        name: String,
    },
    /// Keys are required and the ingester has none.
    #[error("this ingester takes no posts: it requires device keys and has none (start it with --ingest-keys FILE, or --ingest-auth none on a trusted network)")]
    NoKeys,
}

impl Unauthorized {
    /// A stable label for clients and metrics (one of [`IntakeAuthMetrics::REFUSALS`]).
    pub fn label(&self) -> &'static str {
        match self {
            Unauthorized::MissingKey => "missing_key",
            Unauthorized::UnknownKey => "unknown_key",
            Unauthorized::RevokedKey { .. } => "revoked_key",
            Unauthorized::NoKeys => "no_keys",
        }
    }
}

impl IntakeAuth {
    /// Checks a request's `Authorization` header: the device it comes from (`None` when the
    /// intake is open), or why it is refused (counted).
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Option<Device>, Unauthorized> {
        let (outcome, metrics) = match self {
            IntakeAuth::Open => return Ok(None),
            IntakeAuth::Closed(metrics) => (Err(Unauthorized::NoKeys), metrics),
            IntakeAuth::Keys(store) => (
                store.authenticate(authorization).map(Some),
                &store.inner.metrics,
            ),
        };
        outcome.inspect_err(|refusal| metrics.refused(refusal.label()))
    }
}

/// The keys in force and the keys' buckets; cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ring: RwLock<Arc<KeyRing>>,
    /// By key name, so a reload keeps what each key has used.
    buckets: Mutex<HashMap<Arc<str>, Bucket>>,
    metrics: IntakeAuthMetrics,
}

impl KeyStore {
    /// Serves `ring`.
    pub fn new(ring: KeyRing, metrics: IntakeAuthMetrics) -> KeyStore {
        metrics.set_keys(ring.len());
        KeyStore {
            inner: Arc::new(Inner {
                ring: RwLock::new(Arc::new(ring)),
                buckets: Mutex::default(),
                metrics,
            }),
        }
    }

    /// Reads `path` again whenever it changes, until the returned task is dropped; a change
    /// that does not load is logged and counted, and the keys before it stay.
    pub fn reload_on_change(&self, path: PathBuf) -> AbortOnDrop<()> {
        let store = self.clone();
        // A change between the first read and this start is seen at the next change only: the
        // window is the start-up's few milliseconds.
        let mut watched = Watched::new(vec![path.clone()], RELOAD_CHECK);
        AbortOnDrop::spawn(async move {
            loop {
                watched.changed().await;
                match load(&path) {
                    Ok(ring) => {
                        tracing::info!(path = %path.display(), keys = ring.len(), "device keys reloaded");
                        store.inner.metrics.set_keys(ring.len());
                        *store
                            .inner
                            .ring
                            .write()
                            .unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "device keys not reloaded; the previous keys stay");
                        store.inner.metrics.reload_failed();
                    }
                }
            }
        })
    }

    fn authenticate(&self, authorization: Option<&str>) -> Result<Device, Unauthorized> {
        let key = authorization
            .and_then(bearer_token)
            .ok_or(Unauthorized::MissingKey)?;
        let ring = self
            .inner
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let policy = ring.find(key).ok_or(Unauthorized::UnknownKey)?;
        if policy.revoked {
            return Err(Unauthorized::RevokedKey {
                name: policy.name.to_string(),
            });
        }
        Ok(Device {
            policy: policy.clone(),
            store: self.clone(),
        })
    }
}

/// An authenticated device: its key's policy.
#[derive(Debug, Clone)]
pub struct Device {
    policy: Arc<KeyPolicy>,
    store: KeyStore,
}

impl Device {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.policy.name
    }

    /// Whether it may send positions of `vehicle_id`.
    pub fn allows(&self, vehicle_id: &str) -> bool {
        self.policy.allows(vehicle_id)
    }

    /// Counts `count` of its positions acknowledged by Kafka.
    pub fn accepted(&self, count: usize) {
        self.store
            .inner
            .metrics
            .accepted(&self.policy.name, count as u64);
    }

    /// Runs `use_bucket` on the key's bucket (a full one at its first use).
    fn with_bucket<T>(
        &self,
        rate: Rate,
        now_ms: i64,
        use_bucket: impl FnOnce(&mut Bucket) -> T,
    ) -> T {
        let mut buckets = self
            .store
            .inner
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets
            .entry(self.policy.name.clone())
            .or_insert_with(|| Bucket::full(rate, now_ms));
        use_bucket(bucket)
    }
}

/// The positions a request may still send under its key's rate limit: tokens taken from the
/// key's bucket a batch at a time, and the unused ones given back when the request ends.
#[derive(Debug)]
pub struct Allowance {
    device: Option<Device>,
    held: u32,
}

impl Allowance {
    /// For a request from `device` (`None`: an open intake, no limit).
    pub fn new(device: Option<Device>) -> Allowance {
        Allowance { device, held: 0 }
    }

    /// Takes one position's token; when the key's bucket is empty, the seconds until it has
    /// one again (and the refusal is counted).
    pub fn take_one(&mut self) -> Result<(), u64> {
        if self.held > 0 {
            self.held -= 1;
            return Ok(());
        }
        let Some((device, rate)) = self.limited() else {
            return Ok(());
        };
        let now_ms = wall_clock_ms();
        let taken = device.with_bucket(rate, now_ms, |bucket| {
            match bucket.take(rate, TOKENS_AT_ONCE, now_ms) {
                0 => Err(bucket.retry_after_s(rate)),
                taken => Ok(taken),
            }
        });
        match taken {
            Ok(taken) => {
                self.held = taken - 1;
                Ok(())
            }
            Err(retry_after_s) => {
                device.store.inner.metrics.rate_limited(device.name());
                Err(retry_after_s)
            }
        }
    }

    /// The device and its rate, when its key has one.
    fn limited(&self) -> Option<(&Device, Rate)> {
        let device = self.device.as_ref()?;
        Some((device, device.policy.rate?))
    }
}

impl Drop for Allowance {
    fn drop(&mut self) {
        let held = self.held;
        if let (Some((device, rate)), 1..) = (self.limited(), held) {
            device.with_bucket(rate, wall_clock_ms(), |bucket| bucket.give_back(rate, held));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ring::{hash_hex, hash_key};

    fn store(extra: &str) -> (KeyStore, IntakeAuthMetrics) {
        let text = format!(
            "[[keys]]\nname = \"nyc\"\nsha256 = \"{}\"\n{extra}\n\
             [[keys]]\nname = \"old\"\nsha256 = \"{}\"\nrevoked = true\n",
            hash_hex(&hash_key("k1")),
            hash_hex(&hash_key("k2"))
        );
        let metrics = IntakeAuthMetrics::default();
        let ring = KeyRing::parse(&text).unwrap();
        (KeyStore::new(ring, metrics.clone()), metrics)
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let (store, _) = store("");
        let auth = IntakeAuth::Keys(store);
        let refusal = |header| auth.authenticate(header).unwrap_err();
        assert_eq!(refusal(None), Unauthorized::MissingKey);
        assert_eq!(refusal(Some("Basic k1")), Unauthorized::MissingKey);
        assert_eq!(refusal(Some("Bearer k3")), Unauthorized::UnknownKey);
        assert_eq!(
            refusal(Some("Bearer k2")),
            Unauthorized::RevokedKey { name: "old".into() }
        );
        let device = auth.authenticate(Some("bearer k1")).unwrap().unwrap();
        assert_eq!(device.name(), "nyc");
        assert!(IntakeAuth::Open.authenticate(None).unwrap().is_none());
        let (metrics, auth_metrics) = crate::metrics::Metrics::with_intake_auth("ingest", &[]);
        assert_eq!(
            IntakeAuth::Closed(auth_metrics)
                .authenticate(Some("Bearer k1"))
                .unwrap_err(),
            Unauthorized::NoKeys
        );
        assert!(metrics
            .render()
            .contains("cartrack_ingest_intake_auth_refused_total{reason=\"no_keys\"} 1"));
    }

    #[test]
    fn an_allowance_stops_at_the_burst_and_gives_back_what_it_did_not_use() {
        let (store, _) = store("rate_per_second = 0.001\nburst = 3");
        let device = IntakeAuth::Keys(store)
            .authenticate(Some("Bearer k1"))
            .unwrap();
        let mut first = Allowance::new(device.clone());
        assert_eq!(first.take_one(), Ok(()));
        drop(first);
        // The one used is gone; the two taken but not used came back.
        let mut second = Allowance::new(device);
        for _ in 0..2 {
            assert_eq!(second.take_one(), Ok(()));
        }
        let retry = second.take_one().unwrap_err();
        assert!(retry >= 999, "{retry}");
    }
}
