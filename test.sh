#!/usr/bin/env bash
# The whole test suite, as CI runs it on a clean clone: installs what the tests need when it is
# missing, then checks formatting and lints, then runs every test. Servers the tests need are
# started by the tests themselves on 127.0.0.1 and stopped when they end.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }

# --- what the tests need ------------------------------------------------------------------------
# librdkafka is built from source by the rdkafka crate: it needs a C toolchain, make and perl.
need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v make >/dev/null || need_apt+=(make)
command -v perl >/dev/null || need_apt+=(perl)
# The web page is tested in headless Chromium driven through chromedriver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# The scheduler's HA tests run a real ZooKeeper 3.8 (Debian's package pulls a JRE).
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || need_apt+=(zookeeper)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# --- checks -------------------------------------------------------------------------------------
# The scheduler's crash points (a test-only feature) are compiled into the test build, so one
# build serves every step; release builds never have them.
features=(--features cartrack-framework/failpoints)
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings
say "build binaries the end-to-end tests launch"
cargo build --workspace --bins --locked "${features[@]}"
say "tests"
cargo nextest run --workspace --locked --profile ci "${features[@]}"
say "doc tests"
cargo test --workspace --doc --locked "${features[@]}"
