//! Compiles our Mesos v1 `.proto` files with protox (pure Rust), so a fresh machine needs no
//! system `protoc`. The encoded descriptor set is kept for the conformance test.

use std::{env, fs, path::PathBuf};

const FILES: [&str; 3] = [
    "mesos/v1/mesos.proto",
    "mesos/v1/scheduler/scheduler.proto",
    "mesos/v1/executor/executor.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(FILES, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("mesos_descriptor_set.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
