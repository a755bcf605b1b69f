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
command -v jq >/dev/null || need_apt+=(jq)
command -v curl >/dev/null || need_apt+=(curl)
# The web page is tested in headless Chromium driven through chromedriver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# The scheduler's HA tests run a real ZooKeeper 3.8 (Debian's package pulls a JRE).
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || need_apt+=(zookeeper)
# deploy/docker-compose.yml is validated with Debian's Compose (no Docker engine is needed).
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
# The dev cluster unpacks fetched archives as a Mesos agent does: tar (bzip2, xz) and unzip.
command -v bzip2 >/dev/null || need_apt+=(bzip2)
command -v xz >/dev/null || need_apt+=(xz-utils)
command -v unzip >/dev/null || need_apt+=(unzip)
# The release check reads binaries' dynamic symbols with objdump.
command -v objdump >/dev/null || need_apt+=(binutils)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi
# The pipeline's integration tests run a Kafka-protocol broker (noida-db) and an
# OpenSearch-API server (osmem-server) as processes of their own; the tests find them through
# python3, so they go into python3's environment.
if ! python3 -c 'import importlib.metadata as m; m.version("noida-db"); m.version("osmem-server")' 2>/dev/null; then
  say "installing noida-db and osmem-server (pip)"
  python3 -m pip install -q noida-db==0.2.3 osmem-server==0.1.6
fi
# The real-Mesos suite runs Apache Mesos from CARTRACK_MESOS_HOME, or from the archive
# CARTRACK_MESOS_ARCHIVE names (unpacked once under target/mesos/).
target_dir="${CARGO_TARGET_DIR:-target}"
if [ -z "${CARTRACK_MESOS_HOME:-}" ] && [ -n "${CARTRACK_MESOS_ARCHIVE:-}" ]; then
  mesos_dir="$target_dir/mesos"
  stamp="$mesos_dir/.unpacked-from"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(sha256sum "$CARTRACK_MESOS_ARCHIVE" | cut -d' ' -f1)" ]; then
    say "unpacking $CARTRACK_MESOS_ARCHIVE into $mesos_dir"
    rm -rf "$mesos_dir" && mkdir -p "$mesos_dir"
    tar -xJf "$CARTRACK_MESOS_ARCHIVE" -C "$mesos_dir"
    sha256sum "$CARTRACK_MESOS_ARCHIVE" | cut -d' ' -f1 >"$stamp"
  fi
  CARTRACK_MESOS_HOME="$(cd "$mesos_dir"/mesos-* && pwd)"
  export CARTRACK_MESOS_HOME
fi
if [ -n "${CARTRACK_MESOS_HOME:-}" ]; then
  # Mesos' runtime libraries (Debian 12 packages), installed when one is missing.
  if LD_LIBRARY_PATH="$CARTRACK_MESOS_HOME/lib" ldd "$CARTRACK_MESOS_HOME/sbin/mesos-agent" | grep -q 'not found'; then
    say "installing Mesos' runtime libraries"
    apt-get update -qq && apt-get install -y -qq libapr1 libaprutil1 libarchive13 libcurl4 \
      libgrpc++1.51 libprotobuf32 libre2-9 libsasl2-modules libsvn1 libzookeeper-mt2
  fi
elif [ -n "${CI:-}" ]; then
  echo "real-Mesos suite: CI needs it - set CARTRACK_MESOS_ARCHIVE or CARTRACK_MESOS_HOME" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# --- checks -------------------------------------------------------------------------------------
# A CI run builds once from scratch: incremental state would only cost disk (3 GB) and time.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi
disk_report() {
  local used
  used=$(du -sh "$target_dir" 2>/dev/null | cut -f1) || true # no target dir yet
  say "disk: $(df -h . | awk 'NR == 2 { print $4 " free" }'), target ${1}: ${used:-none}"
}
disk_report "before"
# The scheduler's crash points (a test-only feature) are compiled into the test build, so one
# build serves every step; release builds never have them.
features=(--features cartrack-framework/failpoints)
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings
say "build binaries the end-to-end tests launch"
cargo build --workspace --bins --locked "${features[@]}"
say "docker-compose config (deploy/docker-compose.yml is valid Compose)"
docker-compose -f deploy/docker-compose.yml config -q
say "README documents every flag and env var; the release checks' own tests"
release/test-check-readme-flags.sh
release/check-readme-flags.sh "$target_dir/debug"
release/test-check-glibc.sh
say "tests"
cargo nextest run --workspace --locked --profile ci "${features[@]}"
# Real Mesos: the tests of the real_mesos* binaries (ignored in the run above), one at a time
# (the real-mesos test group), with their own summary.
if [ -n "${CARTRACK_MESOS_HOME:-}" ]; then
  say "real-Mesos suite (CARTRACK_MESOS_HOME=$CARTRACK_MESOS_HOME)"
  cargo nextest run --workspace --locked --profile ci "${features[@]}" \
    --test 'real_mesos*' --run-ignored only
else
  say "real-Mesos suite: NOT RUN - set CARTRACK_MESOS_HOME=<unpacked Mesos>"
fi
say "doc tests"
cargo test --workspace --doc --locked "${features[@]}"
# Last of the checks on the debug build: it rebuilds it without the test features, as the
# READMEs' commands do.
say "the READMEs' commands, as written"
release/check-readme-commands.sh
disk_report "after the tests"
# --- release binaries ---------------------------------------------------------------------------
# The glibc-2.17 build (cargo-zigbuild, zig from PyPI) of the four binaries and the objdump -T
# check that none needs a newer glibc; about 6-8 minutes cold on 2 cores. Developers iterating
# locally may skip it with CARTRACK_SKIP_RELEASE=1; CI never does.
if [ "${CARTRACK_SKIP_RELEASE:-0}" = 1 ] && [ -z "${CI:-}" ]; then
  say "release build skipped (CARTRACK_SKIP_RELEASE=1)"
else
  say "release binaries for glibc 2.17"
  release/ci.sh
fi
disk_report "at the end"
