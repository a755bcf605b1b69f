#!/usr/bin/env bash
# Fails when a binary needs a glibc newer than the oldest one we ship to (DC/OS agents run
# CentOS 7: glibc 2.17). A binary "needs" GLIBC_x.y when `objdump -T` lists an undefined dynamic
# symbol with that version: the loader refuses to start it on an older glibc ("version
# `GLIBC_2.28' not found"). GLIBC_PRIVATE counts as a failure too: no stable glibc promises it.
#
# Usage: check-glibc.sh [--max-version 2.17] <binary>...
#        check-glibc.sh [--max-version 2.17] --objdump-text <saved `objdump -T` output>...
# Prints one line per file with the highest GLIBC version it needs; for a failing file, every
# offending symbol. Exit codes: 0 all ok, 1 a file needs a newer glibc, 2 bad usage or a file
# that cannot be read.
set -euo pipefail

usage() {
  echo "usage: $0 [--max-version X.Y] [--objdump-text] <file>..." >&2
  exit 2
}

max_version=2.17
inputs_are_text=false
while [ $# -gt 0 ]; do
  case "$1" in
    --max-version) [ $# -ge 2 ] || usage; max_version=$2; shift 2 ;;
    --objdump-text) inputs_are_text=true; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
[[ $max_version =~ ^[0-9]+(\.[0-9]+)*$ ]] || { echo "--max-version '$max_version' is not like 2.17" >&2; exit 2; }
command -v objdump >/dev/null || { echo "objdump not found: install binutils" >&2; exit 2; }

# Reads `objdump -T` text on stdin. Prints "highest <version>" (or "highest none"), then
# "offending <version> <symbol>" for every needed symbol above the maximum, sorted.
judge() {
  awk -v max="$max_version" '
    # -1, 0, 1 as version a is older than, equal to, newer than version b ("2.2.5" < "2.17").
    function compare(a, b,    i, n, x, y, xa, ya) {
      n = split(a, xa, "."); if (split(b, ya, ".") > n) n = length(ya)
      for (i = 1; i <= n; i++) {
        x = (i in xa) ? xa[i] + 0 : 0; y = (i in ya) ? ya[i] + 0 : 0
        if (x != y) return x < y ? -1 : 1
      }
      return 0
    }
    /\*UND\*/ && match($0, /GLIBC_[0-9A-Z_.]+/) {
      version = substr($0, RSTART + 6, RLENGTH - 6); symbol = $NF
      if (version == "PRIVATE") { offending[++count] = "PRIVATE " symbol; next }
      if (highest == "" || compare(version, highest) > 0) highest = version
      if (compare(version, max) > 0) offending[++count] = version " " symbol
    }
    END {
      print "highest " (highest == "" ? "none" : highest)
      for (i = 1; i <= count; i++) print "offending " offending[i] | "sort -V"
    }'
}

failed=0
for file in "$@"; do
  if [ ! -r "$file" ]; then
    echo "error: $file: cannot read it" >&2
    exit 2
  fi
  if $inputs_are_text; then
    verdict=$(judge <"$file")
  else
    dump=$(objdump -T "$file" 2>&1) || {
      # A static binary has no dynamic symbol table and so needs no glibc at run time.
      if grep -q 'not a dynamic object' <<<"$dump"; then
        echo "ok   $file: static, needs no glibc"
        continue
      fi
      echo "error: objdump -T $file: $dump" >&2
      exit 2
    }
    verdict=$(judge <<<"$dump")
  fi
  highest=$(sed -n 's/^highest //p' <<<"$verdict")
  offending=$(sed -n 's/^offending //p' <<<"$verdict")
  if [ -z "$offending" ]; then
    echo "ok   $file: highest GLIBC_$highest (max $max_version)"
  else
    failed=1
    echo "FAIL $file: highest GLIBC_$highest, needs more than GLIBC_$max_version for:"
    while read -r version symbol; do echo "       $symbol (GLIBC_$version)"; done <<<"$offending"
  fi
done
exit "$failed"
