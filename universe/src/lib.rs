//! The DC/OS Universe package for cartrack lives beside this crate (`package.json`,
//! `config.json`, `marathon.json.mustache`, `resource.json`); `tests/package.rs` checks it.
