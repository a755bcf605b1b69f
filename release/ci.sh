#!/usr/bin/env bash
# CI step for the release binaries: the glibc check's own test (seconds, no zig), then the
# glibc-2.17 zig build, the check of the four binaries and the tarball (release/build.sh).
# Prints the wall time of each part. Slow when cold (the whole dependency tree in release
# mode, librdkafka included): see the README's "Release binaries" for measured times.
set -euo pipefail
cd "$(dirname "$0")/.."

timed() {
  local started=$SECONDS
  printf '\n==> %s\n' "$*"
  "$@"
  printf '==> %s: %d s\n' "$1" $((SECONDS - started))
}

timed release/test-check-glibc.sh
timed release/build.sh
