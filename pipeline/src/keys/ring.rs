//! The keys file: which device keys the intake takes, what each may send, and how fast.
//!
//! The file holds SHA-256 hashes, never keys: a key is 256 random bits, so its hash cannot be
//! reversed, and the file can be copied to every agent or kept in a config repository without
//! making it a secret. A key is shown once, by `cartrack-worker keys new`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::limiter::Rate;

/// What a key looks like: a prefix secret scanners can match, then 64 hex digits.
const KEY_PREFIX: &str = "ck_";

/// The file as written.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct KeysToml {
    #[serde(default)]
    keys: Vec<EntryToml>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct EntryToml {
    name: String,
    sha256: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    vehicle_prefixes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    burst: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    revoked: bool,
}

/// A key to be made: what `cartrack-worker keys new` is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct NewKey {
    /// Its name.
    pub name: String,
    /// The vehicle-id prefixes it may send; empty: any.
    pub vehicle_prefixes: Vec<String>,
    /// Positions per second; `None`: no limit.
    pub rate_per_second: Option<f64>,
    /// Positions at once; `None`: the rate's one second.
    pub burst: Option<f64>,
}

impl NewKey {
    /// Checks the request with the parser the ingester uses, so a bad name or rate is refused
    /// before a key is made, not when the file is loaded.
    pub fn check(&self) -> Result<(), KeysError> {
        self.entry(&[0; 32]).map(drop)
    }

    /// A fresh key and the keys-file entry that admits it.
    pub fn issue(&self, rng: &mut impl RngCore) -> Result<(String, String), KeysError> {
        let key = new_key(rng);
        let entry = self.entry(&hash_key(&key))?;
        Ok((key, entry))
    }

    fn entry(&self, hash: &[u8; 32]) -> Result<String, KeysError> {
        let file = KeysToml {
            keys: vec![EntryToml {
                name: self.name.clone(),
                sha256: hash_hex(hash),
                vehicle_prefixes: self.vehicle_prefixes.clone(),
                rate_per_second: self.rate_per_second,
                burst: self.burst,
                revoked: false,
            }],
        };
        let entry = toml::to_string(&file).map_err(|e| KeysError::Syntax(e.to_string()))?;
        KeyRing::parse(&entry)?;
        Ok(entry)
    }
}

/// What one key may do.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPolicy {
    /// Its name in metrics and logs (a fleet, a gateway): never the key.
    pub name: Arc<str>,
    /// Vehicle ids it may send start with one of these; empty: any.
    pub vehicle_prefixes: Vec<String>,
    /// Positions per second it may send; `None`: no limit.
    pub rate: Option<Rate>,
    /// Kept so a revoked key is told so (and counted apart from a mistyped one).
    pub revoked: bool,
}

impl KeyPolicy {
    /// Whether the key may send positions of `vehicle_id`.
    pub fn allows(&self, vehicle_id: &str) -> bool {
        self.vehicle_prefixes.is_empty()
            || self
                .vehicle_prefixes
                .iter()
                .any(|prefix| vehicle_id.starts_with(prefix.as_str()))
    }
}

/// The keys of one version of the file, by hash.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    by_hash: HashMap<[u8; 32], Arc<KeyPolicy>>,
}

/// What is wrong with a keys file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// Not TOML of the expected shape.
    #[error("not a keys file ({0}); expected [[keys]] tables with name, sha256 and optionally vehicle_prefixes, rate_per_second, burst, revoked")]
    Syntax(String),
    /// One entry is wrong.
    #[error("key {index} ({name:?}): {reason}")]
    Entry {
        /// Its place in the file, from 1.
        index: usize,
        /// Its name as written.
        name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl KeyRing {
    /// Parses and checks a keys file.
    pub fn parse(text: &str) -> Result<KeyRing, KeysError> {
        let file: KeysToml = toml::from_str(text).map_err(|e| KeysError::Syntax(e.to_string()))?;
        let mut by_hash = HashMap::with_capacity(file.keys.len());
        let mut names = HashSet::new();
        for (at, entry) in file.keys.into_iter().enumerate() {
            let wrong = |reason: String| KeysError::Entry {
                index: at + 1,
                name: entry.name.clone(),
                reason,
            };
            if entry.name.trim().is_empty() {
                return Err(wrong("the name is empty; name the fleet or gateway".into()));
            }
            if !names.insert(entry.name.clone()) {
                return Err(wrong("the name is used twice; names must be unique".into()));
            }
            let hash = parse_hash(&entry.sha256).ok_or_else(|| {
                wrong(
                    "sha256 is not 64 hex digits; use the line `cartrack-worker keys new` printed"
                        .into(),
                )
            })?;
            if entry.vehicle_prefixes.iter().any(|p| p.is_empty()) {
                return Err(wrong(
                    "an empty vehicle prefix would allow every vehicle; leave vehicle_prefixes out instead".into(),
                ));
            }
            let rate = match (entry.rate_per_second, entry.burst) {
                (None, None) => None,
                (None, Some(_)) => {
                    return Err(wrong("burst needs rate_per_second".into()));
                }
                (Some(per_second), burst) => {
                    let burst = burst.unwrap_or(per_second);
                    let positive = |v: f64| v.is_finite() && v > 0.0;
                    if !positive(per_second) || !positive(burst) || burst < 1.0 {
                        return Err(wrong(
                            "rate_per_second must be positive and burst at least 1".into(),
                        ));
                    }
                    Some(Rate { per_second, burst })
                }
            };
            let policy = KeyPolicy {
                name: entry.name.as_str().into(),
                vehicle_prefixes: entry.vehicle_prefixes,
                rate,
                revoked: entry.revoked,
            };
            if by_hash.insert(hash, Arc::new(policy)).is_some() {
                return Err(wrong(
                    "the same sha256 is listed twice; give each fleet its own key".into(),
                ));
            }
        }
        Ok(KeyRing { by_hash })
    }

    /// The policy of `key`, if the file lists it.
    pub fn find(&self, key: &str) -> Option<&Arc<KeyPolicy>> {
        self.by_hash.get(&hash_key(key))
    }

    /// How many keys the file lists (revoked ones included).
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the file lists no key.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// The SHA-256 of a key, as the file stores it.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// `hash` as the file writes it: 64 lowercase hex digits.
pub fn hash_hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
}

/// A new key: [`KEY_PREFIX`] and 256 random bits in hex.
pub fn new_key(rng: &mut impl RngCore) -> String {
    let mut bits = [0u8; 32];
    rng.fill_bytes(&mut bits);
    format!("{KEY_PREFIX}{}", hash_hex(&bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, key: &str, extra: &str) -> String {
        format!(
            "[[keys]]\nname = \"{name}\"\nsha256 = \"{}\"\n{extra}\n",
            hash_hex(&hash_key(key))
        )
    }

    #[test]
    fn keys_are_found_by_hash_with_their_policy() {
        let text = entry(
            "nyc",
            "k1",
            "vehicle_prefixes = [\"nyc-\"]\nrate_per_second = 100",
        ) + &entry("old", "k2", "revoked = true");
        let ring = KeyRing::parse(&text).unwrap();
        assert_eq!(ring.len(), 2);
        let nyc = ring.find("k1").unwrap();
        assert_eq!(&*nyc.name, "nyc");
        assert!(nyc.allows("nyc-17") && !nyc.allows("bos-17"));
        assert_eq!(
            nyc.rate,
            Some(Rate {
                per_second: 100.0,
                burst: 100.0
            })
        );
        assert!(ring.find("k2").unwrap().revoked);
        assert!(ring.find("k3").is_none());
        assert!(ring.find("").is_none());
    }

    #[test]
    fn a_wrong_entry_is_named_with_the_fix() {
        let cases = [
            (entry("a", "k1", "") + &entry("a", "k2", ""), "used twice"),
            (entry("a", "k1", "") + &entry("b", "k1", ""), "listed twice"),
            (
                "[[keys]]\nname = \"a\"\nsha256 = \"abc\"\n".to_string(),
                "64 hex",
            ),
            (
                entry("a", "k1", "vehicle_prefixes = [\"\"]"),
                "empty vehicle prefix",
            ),
            (entry("a", "k1", "rate_per_second = 0"), "positive"),
            (entry("a", "k1", "burst = 5"), "needs rate_per_second"),
            (entry(" ", "k1", ""), "name is empty"),
        ];
        for (text, expected) in cases {
            let err = KeyRing::parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        let err = KeyRing::parse("[[keys]]\nname = \"a\"\nkey = \"x\"\n").unwrap_err();
        assert!(matches!(err, KeysError::Syntax(_)), "{err}");
    }

    #[test]
    fn an_issued_entry_admits_its_key_with_its_policy() {
        let request = NewKey {
            name: "fleet \"north\"".into(),
            vehicle_prefixes: vec!["n-".into()],
            rate_per_second: Some(50.0),
            burst: None,
        };
        let (key, entry) = request.issue(&mut rand::rng()).unwrap();
        assert!(
            !entry.contains(&key),
            "the file holds the hash only: {entry}"
        );
        let ring = KeyRing::parse(&entry).unwrap();
        let policy = ring.find(&key).unwrap();
        assert_eq!(&*policy.name, "fleet \"north\"");
        assert!(policy.allows("n-1") && !policy.allows("s-1"));
        let bad = NewKey {
            rate_per_second: Some(-1.0),
            ..request
        };
        assert!(bad.check().unwrap_err().to_string().contains("positive"));
    }

    #[test]
    fn new_keys_are_distinct_and_hash_as_the_file_expects() {
        let mut rng = rand::rng();
        let (a, b) = (new_key(&mut rng), new_key(&mut rng));
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 64);
        let ring = KeyRing::parse(&format!(
            "[[keys]]\nname = \"a\"\nsha256 = \"{}\"\n",
            hash_hex(&hash_key(&a)).to_uppercase()
        ))
        .unwrap();
        assert!(ring.find(&a).is_some());
    }
}
