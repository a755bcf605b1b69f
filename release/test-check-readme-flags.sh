#!/usr/bin/env bash
# Tests of check-readme-flags.sh with stand-in binaries (shell scripts printing clap-style help)
# and README fixtures written here, so it needs no cargo build.
# Markdown backticks in single quotes are literal on purpose.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=$here/check-readme-flags.sh
# shellcheck source=release/testlib.sh
. "$here/testlib.sh"

# Stand-ins: cartrack-worker has a subcommand `run` with its own flag and variable; the others
# have one flag each. `$FAIL_HELP` makes `cartrack-worker run --help` fail.
mkdir -p "$work/bin"
for binary in cartrack-scheduler cartrack-executor cartrack cartrack-devcluster cartrack-tenant; do
  printf '#!/bin/sh\ncat <<HELP\nUsage: %s [OPTIONS]\n\nOptions:\n      --%s-flag <X>  Something [env: %s_VAR=] [default: 1]\n  -h, --help         Print help\nHELP\n' \
    "$binary" "$binary" "$(echo "$binary" | tr 'a-z-' 'A-Z_')" >"$work/bin/$binary"
done
cat >"$work/bin/cartrack-worker" <<'SH'
#!/bin/sh
case "$*" in
  --help) cat <<HELP
Usage: cartrack-worker [OPTIONS] <COMMAND>

Commands:
  run   Run it
  help  Print this message or the help of the given subcommand(s)

Options:
      --log <LOG>  Log filter [env: CARTRACK_LOG=] [default: info]
  -V, --version    Print version
HELP
  ;;
  "run --help") [ -z "${FAIL_HELP:-}" ] || exit 3; cat <<HELP
Usage: cartrack-worker run [OPTIONS]

Options:
      --master <M>
          A master

          [env: WORKER_SECRET]
  -k, --kafka <KAFKA>  Brokers
HELP
  ;;
  *) exit 3 ;;
esac
SH
chmod +x "$work/bin"/*

# write_readme <lines of the cartrack-worker section>: the other binaries documented in full.
write_readme() {
  {
    echo "# x"; echo "## Configuration reference"
    for binary in cartrack-scheduler cartrack-executor cartrack cartrack-devcluster cartrack-tenant; do
      printf '### `%s`\n| `--%s-flag` | `%s_VAR` |\n' "$binary" "$binary" "$(echo "$binary" | tr 'a-z-' 'A-Z_')"
    done
    echo '### `cartrack-worker`'
    printf '%s\n' "$@"
    echo "## Dependencies"; printf '### `cartrack-worker` outside the reference\n--kafka\n'
  } >"$work/README.md"
}

write_readme '`--log` `CARTRACK_LOG`' '`run --master` (`WORKER_SECRET`), `--kafka`'
run 0 "everything documented" "$work/bin" "$work/README.md"

write_readme '`--log` `CARTRACK_LOG`' '`run --master` (`WORKER_SECRET`)'
run 1 "a subcommand's flag missing (mentioned only outside the reference)" "$work/bin" "$work/README.md"
mentions "--kafka (cartrack-worker run) is not documented"

write_readme '`--log` `CARTRACK_LOG`' '`run --master-port` (`WORKER_SECRET`), `--kafka`'
run 1 "--master-port does not document --master" "$work/bin" "$work/README.md"
mentions "--master (cartrack-worker run)"

write_readme '`--log`' '`run --master` (`WORKER_SECRET`), `--kafka`'
run 1 "a variable missing" "$work/bin" "$work/README.md"
mentions "CARTRACK_LOG (cartrack-worker)"

write_readme '`--log` `CARTRACK_LOG` `--master` `WORKER_SECRET`'
sed -i 's/| `--cartrack-flag` | `CARTRACK_VAR` |/| `--kafka` |/' "$work/README.md"
run 1 "documented under another binary only" "$work/bin" "$work/README.md"
mentions "--kafka (cartrack-worker run)"
mentions "--cartrack-flag (cartrack)"

write_readme '`--log` `CARTRACK_LOG`' '`run --master` (`WORKER_SECRET`), `--kafka`'
FAIL_HELP=1 run 2 "a failing --help" "$work/bin" "$work/README.md"
rm "$work/bin/cartrack-devcluster"
run 2 "a missing binary" "$work/bin" "$work/README.md"

finish
