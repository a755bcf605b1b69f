# shellcheck shell=bash
# Shared by the release scripts' tests (sourced, not run): a scratch dir, pass/fail counting,
# and assertions on the checked script's exit code and output. Set $check before `run`.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
fail() { echo "not ok: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# run <expected exit code> <name> <$check args...>: output lands in $work/out.
run() {
  local want=$1 name=$2; shift 2
  "${check:?set check before sourcing testlib.sh}" "$@" >"$work/out" 2>&1
  local got=$?
  if [ "$got" -eq "$want" ]; then pass "$name (exit $got)"; else fail "$name: exit $got, wanted $want"; cat "$work/out"; fi
}
mentions() {
  if grep -qF -- "$1" "$work/out"; then pass "names $1"; else fail "output lacks '$1'"; cat "$work/out"; fi
}
omits() {
  if grep -qF -- "$1" "$work/out"; then fail "output names '$1' but should not"; cat "$work/out"; else pass "does not name $1"; fi
}

# The summary line and exit status of the test script.
finish() {
  if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
  echo "all checks passed"
}
