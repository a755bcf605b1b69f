//! Compiles `csrc/mock_retention.c` against the librdkafka tree rdkafka-sys built (its
//! `DEP_RDKAFKA_ROOT`), so the mock cluster's internal structures it touches have the layout
//! of the library actually linked.

fn main() {
    println!("cargo:rerun-if-changed=csrc/mock_retention.c");
    let Ok(root) = std::env::var("DEP_RDKAFKA_ROOT") else {
        panic!("rdkafka-sys did not say where librdkafka was built (DEP_RDKAFKA_ROOT); the broker needs the bundled librdkafka, not a system one");
    };
    let mut build = cc::Build::new();
    build
        .file("csrc/mock_retention.c")
        .include(format!("{root}/src"))
        .include(&root);
    // librdkafka's headers include zlib.h: where libz-sys found or built it (a cross build, such
    // as the glibc-2.17 release with zig, sees no system headers).
    if let Ok(paths) = std::env::var("DEP_Z_INCLUDE") {
        for path in paths.split(',').filter(|p| !p.is_empty()) {
            build.include(path);
        }
    }
    build
        .define("_GNU_SOURCE", None)
        .warnings(false)
        .compile("cartrack_mock_retention");
    // The mock's message-set lookup goes through the file's faster wrapper. Only in the
    // binaries, which always link the file (it holds the broker's retention rule); elsewhere
    // the mock's own lookup stays, which finds the same sets.
    println!("cargo:rustc-link-arg-bins=-Wl,--wrap=rd_kafka_mock_msgset_find");
}
