#!/usr/bin/env bash
# Tests of check-glibc.sh that need no zig build: saved `objdump -T` outputs (testdata/), and a
# tiny C program compiled with the host gcc against memcpy, whose x86-64 version is GLIBC_2.14.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=$here/check-glibc.sh
# shellcheck source=release/testlib.sh
. "$here/testlib.sh"

# A binary whose newest need is 2.17 passes; 2.2.5 must not count as newer than 2.17.
run 0 "needs 2.17, max 2.17" --objdump-text "$here/testdata/needs-2.17.objdump"
mentions "highest GLIBC_2.17"

# A binary built against a new glibc fails and names exactly the symbols above 2.17.
run 1 "needs 2.34, max 2.17" --objdump-text "$here/testdata/needs-2.34.objdump"
mentions "__libc_start_main (GLIBC_2.34)"
mentions "fcntl64 (GLIBC_2.28)"
mentions "__cxa_thread_atexit_impl (GLIBC_2.18)"
mentions "__nss_database_lookup (GLIBC_PRIVATE)"
omits "clock_gettime"
omits "__cxa_finalize"

# The maximum is a parameter: at 2.18 the 2.18 symbol is fine.
run 1 "needs 2.34, max 2.18" --max-version 2.18 --objdump-text "$here/testdata/needs-2.34.objdump"
omits "__cxa_thread_atexit_impl"
mentions "fcntl64 (GLIBC_2.28)"

# One failing file among passing ones fails the whole run, and every file gets its line.
run 1 "mixed files" --objdump-text "$here/testdata/needs-2.17.objdump" "$here/testdata/needs-2.34.objdump"
mentions "ok   $here/testdata/needs-2.17.objdump"
mentions "FAIL $here/testdata/needs-2.34.objdump"

# A real ELF file read through objdump -T.
if command -v gcc >/dev/null; then
  cat >"$work/uses-memcpy.c" <<'C'
#include <string.h>
/* Taking memcpy's address keeps the call out of line, so the binary imports memcpy@GLIBC_2.14. */
void *(*volatile copy)(void *, const void *, size_t) = memcpy;
int main(void) { char a[4] = "abc", b[4]; copy(b, a, sizeof a); return b[0] == 'a' ? 0 : 1; }
C
  gcc -O1 -o "$work/uses-memcpy" "$work/uses-memcpy.c" || fail "gcc could not build the fixture"
  host_glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
  run 1 "gcc binary, max 2.13" --max-version 2.13 "$work/uses-memcpy"
  mentions "memcpy (GLIBC_2.14)"
  run 0 "gcc binary, max = host glibc $host_glibc" --max-version "$host_glibc" "$work/uses-memcpy"
else
  fail "gcc is missing: the real-binary half of this test needs it"
fi

# Bad usage and unreadable input are exit 2, not a pass.
run 2 "no arguments"
run 2 "missing file" "$work/does-not-exist"
run 2 "bad --max-version" --max-version two "$work/uses-memcpy"
run 2 "not an ELF file" "$here/testdata/needs-2.17.objdump"

finish
