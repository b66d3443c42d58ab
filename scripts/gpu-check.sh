#!/usr/bin/env bash
# The GPU check: on a machine with a hardware GPU, in one go (under 8 minutes on a data-centre
# GPU), `hark info`, the whole test suite with HARK_REQUIRE_GPU=1, and the benches at GPU shapes
# (4096^3 matmul with every autotuning candidate, 64 x 10 s log-mel, 1,000 x 100,000 x 256 kNN,
# a 10 s Conv-TasNet forward, a training step of every system). Writes one Markdown report: a
# summary table (step, status, seconds, headline figure) and every step's output below it.
#
# usage: scripts/gpu-check.sh [REPORT.md]      (default: gpu-check.md)
#
# Builds with cargo when it can. On a machine without a Rust toolchain, build here first
# (`cargo build --release && cargo test --release --no-run`) and point it at the binaries:
#   HARK_BIN=path/to/hark HARK_SUITE=path/to/suite-<hash> scripts/gpu-check.sh report.md
# Each step has its own time limit (GPU_CHECK_SCALE multiplies them); a failing step is
# reported and the check goes on.
set -uo pipefail
cd "$(dirname "$0")/.."

report=${1:-gpu-check.md}
scale=${GPU_CHECK_SCALE:-1}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
export HARK_CACHE_DIR=${HARK_CACHE_DIR:-$(mktemp -d)}
work=$(mktemp -d)

hark=${HARK_BIN:-}
suite=${HARK_SUITE:-}
if [ -z "$hark" ]; then
    cargo build --release || exit 1
    hark=target/release/hark
fi
if [ -z "$suite" ]; then
    suite=$(cargo test --release --no-run 2>&1 | grep -o 'target/release/deps/suite-[0-9a-f]*' | head -1)
fi

rows=()
details=()

# step NAME LIMIT_SECONDS HEADLINE_REGEX COMMAND...: runs COMMAND with a time limit, keeps its
# output, and adds a summary row with the last line matching HEADLINE_REGEX.
step() {
    local name=$1 limit=$2 pattern=$3
    shift 3
    local log="$work/$(echo "$name" | tr -c 'a-zA-Z0-9' '_').log"
    local start end status headline
    start=$(date +%s%N)
    timeout "$(awk -v l="$limit" -v s="$scale" 'BEGIN { print l * s }')" "$@" >"$log" 2>&1
    local rc=$?
    end=$(date +%s%N)
    case $rc in
        0) status=ok ;;
        124) status="TIMEOUT (${limit}s)" ;;
        *) status="FAILED (exit $rc)" ;;
    esac
    headline=$(grep -E "$pattern" "$log" | tail -1 | sed 's/|/\\|/g; s/  */ /g' | cut -c1-160)
    rows+=("| $name | $status | $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') | ${headline:-} |")
    details+=("### $name ($status)" "" '```' "$(tail -c 12000 "$log")" '```' "")
    echo "== $name: $status" >&2
    write_report
}

# The report so far (rewritten after every step, so a check cut short still leaves one).
write_report() {
    {
        echo "# hark GPU check"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm)"
        if command -v nvidia-smi >/dev/null; then
            nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader |
                sed 's/^/GPU: /'
        fi
        echo
        echo "| step | status | seconds | headline |"
        echo "|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
        echo
        printf '%s\n' "${details[@]}"
    } >"$report"
}

step "hark info" 30 'adapter|name' "$hark" info
step "matmul 4096^3 (autotune candidates)" 90 '4096x4096x4096' \
    "$hark" bench matmul --shape 4096 --autotune --wall-clock --iters 10
step "matmul model shapes" 60 'x' \
    "$hark" bench matmul --shape 1024 --shape 4096x128x640 --shape 16x15360x144 \
    --shape 16x63736x49 --shape 32x4096x288 --wall-clock --iters 10
step "log-mel 64 x 10 s" 60 '^ *logmel' "$hark" bench frontend --clips 64 --samples 160000
step "kNN 1000 x 100000 x 256" 60 'GFLOP/s|queries/s' \
    "$hark" bench knn --queries 1000 --rows 100000 --dim 256 --k 16
step "Conv-TasNet 10 s forward + train step" 90 'real-time factor' \
    "$hark" bench separate --seconds 10
for system in ae flow embed oe oe-flow mobilenet ssc; do
    step "train step: $system" 45 'training:' "$hark" bench train --system "$system" --steps 3
done

# Last: the longest step; the benches above are reported even if it runs out of time.
if [ -n "$suite" ] && [ -x "$suite" ]; then
    step "tests (HARK_REQUIRE_GPU=1)" 200 'test result' env HARK_REQUIRE_GPU=1 "$suite"
else
    rows+=("| tests | NOT RUN (no suite binary) | | |")
    write_report
fi

write_report
echo "report: $report" >&2
grep -q 'FAILED\|TIMEOUT\|NOT RUN' "$report" && exit 1
exit 0
