#!/usr/bin/env bash
# Keeps the README's "Configuration reference" true: runs every binary's `--help` (and every
# subcommand's, recursively), collects each `--long-flag` and each `[env: NAME=]`, and fails
# listing those the binary's own subsection (a `### \`<binary>\`` heading) does not mention.
#
# Usage: release/check-readme-flags.sh [BIN_DIR] [README]
#   BIN_DIR defaults to target/debug (test.sh builds it with `cargo build --workspace --bins`),
#   README to README.md. Exit codes: 0 all documented, 1 something is missing, 2 a binary or the
#   section is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=${1:-target/debug}
readme=${2:-README.md}
binaries=(cartrack-scheduler cartrack-executor cartrack-worker cartrack cartrack-devcluster cartrack-tenant)

[ -r "$readme" ] || { echo "error: cannot read $readme" >&2; exit 2; }

# The README text of one binary's subsection: from its `### ` heading naming it in backticks to
# the next heading of level 2 or 3.
section_of() {
  awk -v heading="\`$1\`" '
    /^## / { in_reference = ($0 ~ /Configuration reference/); inside = 0; next }
    /^### / { inside = in_reference && index($0, heading) > 0; next }
    inside' "$readme"
}

# Prints "<command words>\t--flag" and "<command words>\tENV" for one command and, recursively,
# its subcommands. Arguments: the binary, then the subcommand words.
collect() {
  local help
  help=$("$bin_dir/$1" "${@:2}" --help) || { echo "error: '$*' --help failed" >&2; exit 2; }
  # Option lines look like `  -k, --kafka <KAFKA>  ...` or `      --json  ...`.
  grep -oE '^ +(-[A-Za-z], )?--[a-z0-9][a-z0-9-]*' <<<"$help" | grep -oE -- '--[a-z0-9-]+' |
    grep -vxE -- '--help|--version' | sed "s|^|$*\t|" || true
  grep -oE '\[env: [A-Za-z0-9_]+[]=]' <<<"$help" | sed -E "s|\[env: ([A-Za-z0-9_]+).*|$*\t\1|" || true
  # Subcommands are listed under `Commands:` as `  <name>  <about>`, up to the next blank line.
  local sub
  while read -r sub; do
    [ "$sub" = help ] || collect "$@" "$sub"
  done < <(awk '/^Commands:/ { listing = 1; next } /^$/ { listing = 0 } listing { print $1 }' <<<"$help")
}

mentions() {
  # A flag or variable counts when it stands alone: `--master` is not found in `--master-port`.
  grep -qE -- "(^|[^A-Za-z0-9_-])$2([^A-Za-z0-9_-]|$)" <<<"$1"
}

missing=0
for binary in "${binaries[@]}"; do
  [ -x "$bin_dir/$binary" ] || { echo "error: $bin_dir/$binary is missing (cargo build --workspace --bins)" >&2; exit 2; }
  section=$(section_of "$binary")
  if [ -z "$section" ]; then
    echo "$readme: no '### \`$binary\`' subsection under '## Configuration reference'"
    missing=$((missing + 1))
    continue
  fi
  # Collected first, not streamed into the loop, so a failing `--help` stops the script.
  found=$(collect "$binary" | sort -u -t $'\t' -k 2,2)
  while IFS=$'\t' read -r command name; do
    if ! mentions "$section" "$name"; then
      echo "$readme, \`$binary\`: $name ($command) is not documented"
      missing=$((missing + 1))
    fi
  done <<<"$found"
done

if [ "$missing" -gt 0 ]; then
  echo "$missing flag(s)/variable(s) missing from the Configuration reference in $readme"
  exit 1
fi
echo "every flag and env var of ${binaries[*]} is in $readme"
