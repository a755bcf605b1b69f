#!/usr/bin/env bash
# Runs the READMEs' shell commands as written, so a quick start that fails for a newcomer fails
# here first. Every command of every ```sh block in the READMEs must be listed below: run by a
# scenario (taken from the README text itself, so an edited command is the one that runs),
# covered by a named test or by test.sh, or skipped with the reason it cannot run here. A
# command nobody classified, or a classified one no README has any more, is an error.
#
# Usage: release/check-readme-commands.sh
#   Run from anywhere in the checkout, after the tests (it rebuilds target/debug without the test
#   features, as the READMEs do). Uses ports 5050 and 8080, and /tmp/cartrack-state (the
#   framework README's), which it removes before and after. Exit codes: 0 every command passed or
#   is accounted for, 1 a command failed or is unaccounted for.
set -euo pipefail
cd "$(dirname "$0")/.."

readmes=(README.md */README.md)
work=$(mktemp -d "${TMPDIR:-/tmp}/cartrack-readme-commands.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf /tmp/cartrack-state "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
fail() { echo "README command check FAILED: $*" >&2; exit 1; }

# The commands of one README's ```sh blocks, one per line: continuation lines joined, comments and
# blank lines dropped, trailing comments and spaces removed.
commands_of() {
  awk '
    /^```sh/ { inside = 1; next }
    /^```/ { inside = 0; next }
    !inside { next }
    { line = $0 }
    joined != "" { line = joined " " line; joined = "" }
    line ~ /\\[[:space:]]*$/ { sub(/[[:space:]]*\\[[:space:]]*$/, "", line); joined = line; next }
    { sub(/[[:space:]]+#.*$/, "", line); sub(/^[[:space:]]+/, "", line); gsub(/[[:space:]]+/, " ", line) }
    line == "" || line ~ /^#/ { next }
    { print line }
  ' "$1"
}

# How each command is accounted for. The key is "<readme>: <command>" as commands_of prints it.
declare -A verdict=(
  ["README.md: cargo build --release --workspace && ./target/release/cartrack local"]="covered: cli/tests/local.rs runs \`cartrack local\` from the test build (page, vehicles, scale, clean stop); a second full release build would add 7 minutes to CI"
  ["README.md: ./test.sh"]="covered: .ci/run runs it"
  ["README.md: ./target/release/cartrack status"]="covered: cli/tests/local.rs and cli/tests/operator_api.rs run \`cartrack status\`"
  ["README.md: ./target/release/cartrack scale processor 3 --wait"]="covered: cli/tests/local.rs runs it against \`cartrack local\`"
  ["README.md: docker compose -f deploy/docker-compose.yml up -d"]="skip: no Docker daemon here; test.sh validates the file with \`docker-compose config\`, framework/tests/real_mesos_compose.rs runs the same cluster shape on real Mesos"
  ["README.md: CARTRACK_ELASTICSEARCH=http://127.0.0.1:9200 ./dist/cartrack-scheduler --master http://127.0.0.1:5050 --spec examples/cartrack.toml --state-dir /tmp/cartrack-state --executor-uri /opt/cartrack/cartrack-executor --worker-uri /opt/cartrack/cartrack-worker"]="skip: needs the Docker Compose cluster above"
  ["README.md: ./dist/cartrack-scheduler --master zk://127.0.0.1:2181/mesos --zk zk://127.0.0.1:2181/cartrack --spec examples/cartrack.toml --executor-uri /opt/cartrack/cartrack-executor --worker-uri /opt/cartrack/cartrack-worker"]="skip: needs the Docker Compose cluster above; framework/tests/real_mesos_ha.rs runs the scheduler on zk:// masters"
  ["README.md: dcos package install cartrack --options=cartrack-options.json"]="skip: needs a DC/OS cluster; universe/ tests check the package against the official schemas"
  ["README.md: dcos package install cartrack --cli"]="skip: needs a DC/OS cluster"
  ["README.md: dcos package uninstall cartrack"]="skip: needs a DC/OS cluster; framework/tests/uninstall.rs runs the SDK_UNINSTALL contract it drives"
  ["README.md: dcos cartrack status"]="skip: needs a DC/OS cluster; cli/tests/operator_api.rs runs the plugin against a stand-in service path"
  ["README.md: dcos cartrack scale ingester 5 --wait"]="skip: needs a DC/OS cluster"
  ["README.md: CARTRACK_MESOS_HOME=/path/to/mesos-1.12.0 cargo nextest run --workspace --features cartrack-framework/failpoints --test 'real_mesos*' --run-ignored only"]="covered: test.sh runs it with CARTRACK_MESOS_HOME set"
  ["README.md: cargo +nightly fuzz run --fuzz-dir proto/fuzz recordio_decode proto/fuzz/corpus/recordio_decode -- -runs=1000000"]="skip: needs a nightly toolchain and cargo-fuzz; the property tests of proto/ run in CI"
  ["README.md: cargo +nightly fuzz run --fuzz-dir fuzz -s none ingest_body fuzz/corpus/ingest_body -- -runs=1000000 -max_len=65537"]="skip: needs a nightly toolchain and cargo-fuzz; the parsers' unit tests run in CI"
  ["README.md: cargo +nightly fuzz run --fuzz-dir fuzz -s none api_count_body fuzz/corpus/api_count_body -- -runs=1000000 -max_len=65536"]="skip: needs a nightly toolchain and cargo-fuzz; the parsers' unit tests run in CI"
  ["README.md: cargo +nightly fuzz run --fuzz-dir fuzz -s none position_record fuzz/corpus/position_record -- -runs=1000000 -max_len=65537"]="skip: needs a nightly toolchain and cargo-fuzz; the parsers' unit tests run in CI"
  ["README.md: cargo +nightly fuzz run --fuzz-dir fuzz -s none spec fuzz/corpus/spec -- -runs=1000000 -max_len=16384"]="skip: needs a nightly toolchain and cargo-fuzz; the parsers' unit tests run in CI"
  ["README.md: release/build.sh"]="covered: test.sh runs release/ci.sh, which runs it"
  ["README.md: release/check-glibc.sh dist/cartrack dist/cartrack-worker"]="covered: release/build.sh runs it on every binary"
  ["README.md: release/test-check-glibc.sh"]="covered: test.sh runs it"
  ["README.md: release/check-readme-flags.sh target/debug"]="covered: test.sh runs it"
  ["README.md: release/test-check-readme-flags.sh"]="covered: test.sh runs it"
  ["README.md: release/ci.sh"]="covered: test.sh runs it"
  ["devcluster/README.md: cargo run -p cartrack-devcluster -- --agents 3 --resources 'cpus:4;mem:8192;disk:20000;ports:[31000-32999]' --port 5050 --tenant-load 'cpus:1;mem:2048'"]="run: devcluster_start"
  ["framework/README.md: cargo build --workspace --bins"]="run: framework_quick_start"
  ["framework/README.md: target/debug/cartrack-devcluster &"]="run: framework_quick_start"
  ["framework/README.md: target/debug/cartrack-worker broker &"]="run: framework_quick_start"
  ["framework/README.md: CARTRACK_KAFKA=<the addresses it printed> target/debug/cartrack-scheduler --master http://127.0.0.1:5050 --spec examples/cartrack.toml --state-dir /tmp/cartrack-state"]="run: framework_quick_start"
  ["framework/README.md: curl -s 127.0.0.1:8080/v1/state"]="run: framework_quick_start"
  ["pipeline/README.md: cargo build --release -p cartrack-pipeline"]="run: pipeline_quick_start"
  ["pipeline/README.md: B=target/release/cartrack-worker"]="run: pipeline_quick_start"
  ["pipeline/README.md: \$B broker"]="run: pipeline_quick_start"
  ["pipeline/README.md: export CARTRACK_KAFKA=127.0.0.1:PORT"]="run: pipeline_quick_start"
  ["pipeline/README.md: \$B ingest &"]="run: pipeline_quick_start"
  ["pipeline/README.md: \$B process --http-port 8080 &"]="run: pipeline_quick_start"
  ["pipeline/README.md: \$B index --ndjson-dir ./cartrack-data &"]="run: pipeline_quick_start"
  ["pipeline/README.md: \$B keys new --name fleet-north --vehicle-prefix north- --rate-per-second 2000 >> keys.toml"]="covered: pipeline/tests/ingest_keys.rs runs \`keys new\` with these flags and loads the entry it prints"
  ["pipeline/README.md: \$B ingest --ingest-keys keys.toml http &"]="covered: pipeline/tests/ingest_keys.rs runs \`ingest --ingest-keys FILE http\` and posts with its keys"
  ["pipeline/README.md: \$B ingest --ingest-keys keys.toml --tls-cert intake.crt --tls-key intake.key http &"]="covered: pipeline/tests/ingest_tls.rs runs \`ingest --ingest-keys FILE --tls-cert --tls-key http\` with a test CA"
  ["pipeline/README.md: curl --cacert ca.crt -H \"Authorization: Bearer \$KEY\" --data-binary @positions.jsonl https://intake.example:8443/v1/positions"]="skip: needs a host with that name and certificate; pipeline/tests/ingest_tls.rs posts over HTTPS with a device key"
  ["tenant/README.md: cargo build --release -p cartrack-devcluster -p cartrack-tenant"]="skip: a release build of both; tenant/tests/devcluster.rs runs the test build's cartrack-tenant on a dev cluster"
  ["tenant/README.md: ./target/release/cartrack-devcluster --agents 3 --port 5050 &"]="covered: devcluster_start runs the dev cluster's own README command with these flags"
  ["tenant/README.md: ./target/release/cartrack-tenant --master http://127.0.0.1:5050 --curve tenant/examples/day.toml --time-scale 1440"]="covered: tenant/tests/devcluster.rs runs cartrack-tenant with --master, --curve and --time-scale on a dev cluster; the curve module's tests parse examples/day.toml"
  ["tenant/README.md: curl -s http://127.0.0.1:5050/master/state | jq '.frameworks[] | {name, tasks: (.tasks | length)}'"]="covered: tenant/tests/devcluster.rs reads the tenant's tasks from the master's /master/state"
  ["universe/README.md: dcos package install cartrack"]="skip: needs a DC/OS cluster"
  ["universe/README.md: dcos package install cartrack --options=options.json"]="skip: needs a DC/OS cluster"
)

# --- which commands there are, and that each is accounted for ------------------------------------
declare -A seen=()
unaccounted=()
for readme in "${readmes[@]}"; do
  while IFS= read -r command; do
    key="$readme: $command"
    seen["$key"]=1
    [ -n "${verdict[$key]+set}" ] || unaccounted+=("$key")
  done < <(commands_of "$readme")
done
stale=()
for key in "${!verdict[@]}"; do
  [ -n "${seen[$key]+set}" ] || stale+=("$key")
done
if [ ${#unaccounted[@]} -gt 0 ] || [ ${#stale[@]} -gt 0 ]; then
  for key in "${unaccounted[@]}"; do echo "not accounted for (add it to $0): $key" >&2; done
  for key in "${stale[@]}"; do echo "listed in $0 but in no README any more: $key" >&2; done
  fail "the list of README commands is out of date"
fi

# --- helpers for the scenarios --------------------------------------------------------------------
# The n-th command (from 0) of a README, checked to start as the scenario expects: a scenario
# adapts to reworded comments, not to a different command.
nth() {
  local line
  line=$(commands_of "$1" | sed -n "$(($2 + 1))p")
  case "$line" in "$3"*) printf '%s' "$line" ;; *) fail "$1 command $2 is now '$line', expected '$3...'" ;; esac
}

# Starts a README command in the background (in folder $3, default the checkout), output to
# $work/<name>.log, its pid in pid_of[<name>].
declare -A pid_of=()
start() {
  local name=$1 command=${2%&} dir=${3:-$PWD}
  echo "\$ $command   (in the background)"
  # env: a README command may start with VAR=value, which exec alone does not take.
  bash -c "cd '$dir' && exec env $command" >"$work/$name.log" 2>&1 &
  pids+=($!)
  pid_of[$name]=$!
}

# Waits up to $2 seconds for a line of $work/<name>.log to match $3; prints it. Fails at once
# when the command exits first.
wait_for_line() {
  local name=$1 seconds=$2 pattern=$3 line
  for _ in $(seq $((seconds * 10))); do
    line=$(grep -m1 -E "$pattern" "$work/$name.log" 2>/dev/null || true)
    [ -n "$line" ] && { printf '%s' "$line"; return 0; }
    if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
      cat "$work/$name.log" >&2
      fail "$name exited before printing a line matching /$pattern/"
    fi
    sleep 0.1
  done
  cat "$work/$name.log" >&2
  fail "$name printed no line matching /$pattern/ within ${seconds}s"
}

# Runs $2 (a README command printing JSON) until jq filter $3 holds, for up to $1 seconds.
poll_json() {
  local seconds=$1 command=$2 filter=$3
  echo "\$ $command   (until $filter)"
  for _ in $(seq $((seconds * 2))); do
    if bash -c "$command" 2>/dev/null | jq -e "$filter" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  bash -c "$command" >&2 || true
  for log in "$work"/*.log; do
    [ -e "$log" ] && { echo "--- end of $(basename "$log")" >&2; tail -n 20 "$log" >&2; }
  done
  fail "'$command' never satisfied $filter within ${seconds}s"
}

stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}

# --- the scenarios ---------------------------------------------------------------------------------
devcluster_start() {
  say "devcluster/README.md: start a dev cluster"
  start devcluster "$(nth devcluster/README.md 0 'cargo run -p cartrack-devcluster')"
  # `cargo run` may compile first: the "master:" line comes once it listens.
  wait_for_line devcluster 600 '^master: ' >/dev/null
  poll_json 30 'curl -s 127.0.0.1:5050/master/state' '.slaves | length == 3'
  stop_all
}

framework_quick_start() {
  say "framework/README.md: Quick start"
  local readme=framework/README.md addresses scheduler
  rm -rf /tmp/cartrack-state
  echo "\$ $(nth $readme 0 'cargo build --workspace --bins')"
  bash -c "$(nth $readme 0 'cargo build --workspace --bins')"
  start devcluster "$(nth $readme 1 'target/debug/cartrack-devcluster')"
  start broker "$(nth $readme 2 'target/debug/cartrack-worker broker')"
  addresses=$(wait_for_line broker 60 '^kafka: ' | sed 's/^kafka: //')
  scheduler=$(nth $readme 3 'CARTRACK_KAFKA=<the addresses it printed>')
  start scheduler "${scheduler/<the addresses it printed>/$addresses}"
  # The README's comment says every pod runs: each group's count reached, every task RUNNING.
  poll_json 120 "$(nth $readme 4 'curl -s 127.0.0.1:8080/v1/state')" \
    '(.groups | length > 0) and all(.groups[]; .running == .count and .count > 0) and all(.tasks[]; .state == "TASK_RUNNING")'
  stop_all
  rm -rf /tmp/cartrack-state
}

pipeline_quick_start() {
  say "pipeline/README.md: Quick start"
  local readme=pipeline/README.md bin broker kafka
  echo "\$ $(nth $readme 0 'cargo build --release -p cartrack-pipeline')"
  bash -c "$(nth $readme 0 'cargo build --release -p cartrack-pipeline')"
  bin=$(nth $readme 1 'B=')
  bin=${bin#B=}
  broker=$(nth $readme 2 '$B broker')
  start broker "${broker/\$B/$PWD/$bin}"
  kafka=$(wait_for_line broker 60 '^kafka: ' | sed 's/^kafka: //')
  nth $readme 3 'export CARTRACK_KAFKA=127.0.0.1:PORT' >/dev/null
  export CARTRACK_KAFKA=$kafka
  local ingest process index
  ingest=$(nth $readme 4 '$B ingest')
  process=$(nth $readme 5 '$B process')
  index=$(nth $readme 6 '$B index')
  start ingest "${ingest/\$B/$PWD/$bin}"
  start process "${process/\$B/$PWD/$bin}"
  # index writes to ./cartrack-data: run it from the scratch folder, not the checkout.
  start index "${index/\$B/$PWD/$bin}" "$work"
  # The README's comments: the snapshot at :8080 shows vehicles, the NDJSON files fill up.
  poll_json 120 'curl -s 127.0.0.1:8080/v1/snapshot' '(.vehicles | length) > 0'
  for _ in $(seq 240); do
    [ -s "$work/cartrack-data/cartrack-vehicles.ndjson" ] && break
    sleep 0.5
  done
  [ -s "$work/cartrack-data/cartrack-vehicles.ndjson" ] ||
    { cat "$work/index.log" >&2; fail "index wrote no cartrack-data/cartrack-vehicles.ndjson"; }
  unset CARTRACK_KAFKA
  stop_all
}

command -v jq >/dev/null || fail "jq is needed (apt-get install jq)"
devcluster_start
framework_quick_start
pipeline_quick_start

say "README commands: every one ran as written or is accounted for"
for key in "${!verdict[@]}"; do
  case "${verdict[$key]}" in run:*) ;; *) printf '  - %s  => %s\n' "$key" "${verdict[$key]}" ;; esac
done | sort
