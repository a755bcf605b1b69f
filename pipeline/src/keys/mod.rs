//! Device authentication for `POST /v1/positions`: per-fleet keys from a file that holds only
//! their hashes ([`ring`]), each key optionally limited to vehicle-id prefixes and to a rate
//! ([`limiter`]), checked per request and reloaded when the file changes ([`store`]).

pub mod limiter;
pub mod ring;
pub mod store;

pub use ring::{hash_hex, hash_key, new_key, KeyPolicy, KeyRing, KeysError, NewKey};
pub use store::{load, Allowance, Device, IntakeAuth, KeyStore, KeysFileError, Unauthorized};
