#!/usr/bin/env bash
# Runs the criterion `planner` bench of two git revisions alternately in one invocation and
# prints one table: benchmark, time at BASE, time at HEAD, HEAD / BASE.
#
#   framework/benches/compare.sh BASE [HEAD] [-- criterion arguments...]
#   framework/benches/compare.sh fe608a0 HEAD
#   ROUNDS=9 framework/benches/compare.sh fe608a0 HEAD -- place_10k --measurement-time 5
#
# Each revision is checked out with `git worktree add` under target/compare/ and built in its
# own CARGO_TARGET_DIR there (target/compare/base-target, target/compare/head-target), so the
# main tree is neither touched nor rebuilt, and a second run only rebuilds what changed. The
# worktrees are removed at the end, also when a step fails. The benches run A B A B ...
# (ROUNDS pairs, default 5; criterion arguments default to a 1 s warm-up and 2 s of
# measurement per benchmark), so load from other work on the machine hits both sides alike; a
# side's time is the fastest of its rounds' criterion estimates, the one least disturbed.
# Two invocations at once would share those directories: run one at a time.
set -euo pipefail

usage() {
    echo "usage: $0 BASE [HEAD] [-- criterion arguments...]" >&2
    exit 2
}

[[ $# -ge 1 && $1 != -- ]] || usage
base_rev=$1
shift
head_rev=HEAD
if [[ $# -ge 1 && $1 != -- ]]; then
    head_rev=$1
    shift
fi
if [[ $# -ge 1 ]]; then
    [[ $1 == -- ]] || usage
    shift
fi
bench_args=("$@")
[[ ${#bench_args[@]} -gt 0 ]] || bench_args=(--warm-up-time 1 --measurement-time 2)
rounds=${ROUNDS:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || {
    echo "ROUNDS=$rounds: expected a positive number" >&2
    exit 2
}

root=$(git rev-parse --show-toplevel)
work=$root/target/compare
# Resolve both before anything is made, so a typo fails fast.
base_sha=$(git -C "$root" rev-parse --verify "$base_rev^{commit}")
head_sha=$(git -C "$root" rev-parse --verify "$head_rev^{commit}")
mkdir -p "$work"

worktrees=()
cleanup() {
    for tree in "${worktrees[@]}"; do
        git -C "$root" worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
    done
    git -C "$root" worktree prune
}
trap cleanup EXIT

# build SIDE SHA: checks SHA out into target/compare/SIDE, builds the bench there and sets
# `bin` to its path (not printed: a command substitution would lose the worktree list).
build() {
    local side=$1 sha=$2 tree=$work/$1
    # A worktree left by a killed run would make `worktree add` fail.
    git -C "$root" worktree remove --force "$tree" 2>/dev/null || true
    rm -rf "$tree"
    git -C "$root" worktree prune
    git -C "$root" worktree add --quiet --detach "$tree" "$sha" >&2
    worktrees+=("$tree")
    echo "building the planner bench at $side ${sha:0:10} ..." >&2
    (cd "$tree" && CARGO_TARGET_DIR=$work/$side-target cargo bench --quiet \
        -p cartrack-framework --bench planner --features cartrack-framework/failpoints \
        --no-run --message-format=json) >"$work/$side.build.json"
    bin=$(jq -r 'select(.reason == "compiler-artifact" and .target.name == "planner"
                        and .executable != null) | .executable' "$work/$side.build.json" |
        tail -n 1)
}

build base "$base_sha"
base_bin=$bin
build head "$head_sha"
head_bin=$bin
[[ -x $base_bin && -x $head_bin ]] || {
    echo "no planner bench binary was built" >&2
    exit 1
}

# run SIDE BIN ROUND: one criterion run; appends "name<TAB>nanoseconds" lines to SIDE.times.
run() {
    local side=$1 bin=$2 round=$3 out=$work/$1.round$3.txt
    echo "round $round: $side" >&2
    (cd "$work" && CARGO_TARGET_DIR=$work/$side-target "$bin" --bench --noplot \
        "${bench_args[@]}") >"$out"
    # criterion prints "name  time:   [low estimate high]", the name on its own line when long,
    # and after a previous run "change:" with a second "time:" line of percentages (skipped).
    awk '
        function ns(v, unit) {
            return v * (unit == "s" ? 1e9 : unit == "ms" ? 1e6 : unit ~ /^(µs|us)$/ ? 1e3 : 1)
        }
        /time:[ \t]+\[/ {
            name = ($1 == "time:") ? last : $1
            split($0, parts, "[")
            split(parts[2], v, " ")
            if (v[4] ~ /^(s|ms|µs|us|ns)$/) printf "%s\t%.1f\n", name, ns(v[3], v[4])
            next
        }
        NF == 1 && $1 !~ /:$/ { last = $1 }
    ' "$out" >>"$work/$side.times"
}

rm -f "$work/base.times" "$work/head.times"
for ((round = 1; round <= rounds; round++)); do
    run base "$base_bin" "$round"
    run head "$head_bin" "$round"
done

# The fastest of the rounds per benchmark and side, then one row per benchmark.
awk -F '\t' -v base="BASE ${base_sha:0:10}" -v head="HEAD ${head_sha:0:10}" '
    function show(t) {
        if (t == "") return "-"
        return t >= 1e6 ? sprintf("%.2f ms", t / 1e6) : t >= 1e3 ? sprintf("%.1f us", t / 1e3) : sprintf("%.0f ns", t)
    }
    FNR == 1 { side = (FILENAME ~ /base\.times$/) ? "b" : "h" }
    {
        if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
        key = side SUBSEP $1
        if (!(key in best) || $2 < best[key]) best[key] = $2
    }
    END {
        printf "| %-40s | %16s | %16s | %10s |\n", "benchmark", base, head, "HEAD/BASE"
        printf "|%s|%s|%s|%s|\n", "------------------------------------------", "------------------", "------------------", "------------"
        for (i = 1; i <= n; i++) {
            name = order[i]
            b = best["b" SUBSEP name]; h = best["h" SUBSEP name]
            ratio = (b != "" && h != "" && b > 0) ? sprintf("%.2f", h / b) : "-"
            printf "| %-40s | %16s | %16s | %10s |\n", name, show(b), show(h), ratio
        }
    }
' "$work/base.times" "$work/head.times"
