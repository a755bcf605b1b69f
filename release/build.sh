#!/usr/bin/env bash
# Builds the release binaries that run on DC/OS agents (CentOS 7, glibc 2.17): cargo-zigbuild
# links against glibc 2.17's symbol versions with zig's bundled libc stubs, so the build host's
# newer glibc does not leak in. Then checks every binary with check-glibc.sh, packs the tarball
# and prints the sha256 values resource.json needs.
#
# Usage: release/build.sh [--write-resource] [--base-url URL]
#   --write-resource  put the tarball's name and the CLI binary's sha256 into
#                     universe/resource.json
#   --base-url URL    with --write-resource: point every URL in resource.json at URL/<file>
# Output in dist/: cartrack-scheduler, cartrack-executor, cartrack-worker, cartrack,
# dcos-cartrack-linux-x86-64 (the CLI under the name resource.json fetches), cartrack.toml, and
# cartrack-<version>-linux-x86_64.tar.gz with all of them at its top level: the Mesos fetcher
# unpacks it into the sandbox, where the app runs ./cartrack-scheduler and executors run
# ./cartrack-executor (unpack it by hand into a directory of its own). Honours CARGO_TARGET_DIR.
set -euo pipefail

say() { printf '\n==> %s\n' "$*" >&2; }
usage() { echo "usage: $0 [--write-resource] [--base-url URL]" >&2; exit 2; }

write_resource=false
base_url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --write-resource) write_resource=true; shift ;;
    --base-url) [ $# -ge 2 ] || usage; base_url=${2%/}; shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; usage ;;
  esac
done
if [ -n "$base_url" ] && ! $write_resource; then
  echo "--base-url only makes sense with --write-resource" >&2
  exit 2
fi
cd "$(dirname "$0")/.."

rust_target=x86_64-unknown-linux-gnu
glibc=2.17
# binary:package, in the order the tarball lists them.
binaries=(cartrack-scheduler:cartrack-framework cartrack-executor:cartrack-executor
  cartrack-worker:cartrack-pipeline cartrack:cartrack-cli)
cli_asset_name=dcos-cartrack-linux-x86-64
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' cli/Cargo.toml | head -n 1)
[ -n "$version" ] || { echo "no version in cli/Cargo.toml" >&2; exit 1; }

# --- tools (installed only when missing) ---------------------------------------------------------
# zig comes from the PyPI package ziglang; cargo-zigbuild's PyPI wheel is a prebuilt binary (a
# `cargo install` would compile it for minutes). cargo-zigbuild finds `python3 -m ziglang` itself.
if ! python3 -m ziglang version >/dev/null 2>&1 || ! command -v cargo-zigbuild >/dev/null; then
  say "installing ziglang and cargo-zigbuild (pip)"
  python3 -m pip install --quiet --disable-pip-version-check ziglang cargo-zigbuild
fi
rustup target list --installed | grep -qx "$rust_target" || rustup target add "$rust_target"
for tool in objdump sha256sum tar; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install binutils coreutils tar)" >&2; exit 1; }
done
if $write_resource && ! command -v jq >/dev/null; then
  echo "--write-resource needs jq (apt-get install jq)" >&2
  exit 1
fi

# --- build ---------------------------------------------------------------------------------------
build_args=()
for entry in "${binaries[@]}"; do build_args+=(-p "${entry#*:}" --bin "${entry%%:*}"); done
say "cargo zigbuild --profile dist --target $rust_target.$glibc (${#binaries[@]} binaries)"
started=$SECONDS
target_dir=${CARGO_TARGET_DIR:-target}
out_dir=$target_dir/$rust_target/dist # the profile in Cargo.toml: release without debug info
# cargo-zigbuild points the cc crate at `zig cc` through CC_<target>/CXX_<target>. rdkafka-sys
# builds the bundled librdkafka with its own ./configure (mklove), which reads plain CC and CXX
# instead: without these wrappers it would compile librdkafka with the host gcc against the
# host's newer glibc headers (stat@GLIBC_2.33, ...). CC and CXX must be commands without spaces.
mkdir -p "$target_dir/zig-wrappers"
wrappers=$(cd "$target_dir/zig-wrappers" && pwd)
for tool in cc c++; do
  printf '#!/bin/sh\nexec cargo-zigbuild zig %s -- -target x86_64-linux-gnu.%s "$@"\n' "$tool" "$glibc" >"$wrappers/$tool"
  chmod +x "$wrappers/$tool"
done
# rdkafka-sys's build script does not rerun when CC changes: a librdkafka configured with another
# compiler (an earlier build in this target dir) is cleaned so it is rebuilt with zig.
for config in "$out_dir"/build/rdkafka-sys-*/out/Makefile.config; do
  if [ -f "$config" ] && ! grep -q "^CC=.*$wrappers/cc" "$config"; then
    say "librdkafka was configured with $(sed -n 's/^CC=[[:space:]]*//p' "$config"), not zig cc: cleaning it"
    cargo clean --profile dist --target "$rust_target" -p rdkafka-sys
    break
  fi
done
# librdkafka's `make libs` also links librdkafka.so, whose version script names symbols absent
# from this configuration (rd_ut_coverage_check); zig's lld refuses that unless told it is fine.
CC=$wrappers/cc CXX=$wrappers/c++ LDFLAGS="${LDFLAGS:-} -Wl,--undefined-version" \
  cargo zigbuild --profile dist --locked --target "$rust_target.$glibc" "${build_args[@]}"
say "built in $((SECONDS - started)) s"

# --- check ---------------------------------------------------------------------------------------
built=()
for entry in "${binaries[@]}"; do built+=("$out_dir/${entry%%:*}"); done
say "glibc check (max $glibc)"
release/check-glibc.sh --max-version "$glibc" "${built[@]}"

# --- pack ----------------------------------------------------------------------------------------
name=cartrack-$version-linux-x86_64
staging=dist/$name
rm -rf "$staging"
mkdir -p "$staging"
cp "${built[@]}" "$staging/"
cp examples/cartrack.toml "$staging/"
for doc in LICENSE README.md; do [ -f "$doc" ] && cp "$doc" "$staging/"; done
# Same binaries, same tarball bytes: sorted names, no owners, file times of the last commit
# (SOURCE_DATE_EPOCH if set); gzip writes no timestamp when it reads from tar's pipe.
mtime=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
packed=()
for file in "$staging"/*; do packed+=("${file##*/}"); done
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -czf "dist/$name.tar.gz" \
  -C "$staging" "${packed[@]}"
# Loose copies: deploy/docker-compose.yml mounts dist/ into the agent.
cp "${built[@]}" examples/cartrack.toml dist/
cp "$out_dir/cartrack" "dist/$cli_asset_name"
rm -rf "$staging"
say "packed dist/$name.tar.gz"

sha() { sha256sum "$1" | cut -d ' ' -f 1; }
cli_sha=$(sha "dist/$cli_asset_name")
tarball_sha=$(sha "dist/$name.tar.gz")

# The JSON snippet: "cli" merges into resource.json as is (the v3 resource schema's form:
# `contentHash`, a list of { algo, value }); "sha256" lists every released file.
{
  echo '{'
  echo '  "cli": { "binaries": { "linux": { "x86-64": {'
  echo '    "contentHash": [ { "algo": "sha256", "value": "'"$cli_sha"'" } ]'
  echo '  } } } },'
  echo '  "sha256": {'
  echo '    "'"$name.tar.gz"'": "'"$tarball_sha"'",'
  echo '    "'"$cli_asset_name"'": "'"$cli_sha"'",'
  for entry in "${binaries[@]}"; do
    bin=${entry%%:*}
    [ "$bin" = cartrack ] && continue
    echo '    "'"$bin"'": "'"$(sha "dist/$bin")"'",'
  done
  echo '    "cartrack.toml": "'"$(sha dist/cartrack.toml)"'"'
  echo '  }'
  echo '}'
}

if $write_resource; then
  resource=universe/resource.json
  updated=$(mktemp)
  jq --indent 2 --arg sha "$cli_sha" --arg base "$base_url" --arg cli "$cli_asset_name" \
    --arg tarball "$name.tar.gz" '
    .cli.binaries.linux["x86-64"] |= (del(.contents) | .contentHash = [{ algo: "sha256", value: $sha }])
    | .assets.uris.release |= ((. // "" | sub("[^/]*$"; "")) + $tarball)
    | if $base == "" then . else
        .assets.uris |= with_entries(.value = $base + "/" + (.value | split("/") | last))
        | .cli.binaries.linux["x86-64"].url = $base + "/" + $cli
      end' "$resource" >"$updated"
  cat "$updated" >"$resource" # keeps the file's mode, unlike mv from mktemp
  rm -f "$updated"
  say "updated $resource (check it with: cargo test -p cartrack-universe)"
fi
