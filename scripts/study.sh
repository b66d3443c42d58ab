#!/usr/bin/env bash
# Multi-seed study: trains and scores several systems on one dataset and tabulates the official
# score (mean and standard deviation over seeds).
#
#   scripts/study.sh DATA OUT 'label=system [flags...] [:: train-only flags]' ...
#                             [ 'label=ensemble member-label ...' ]
#
# Flags before `::` go to both `hark train` and `hark score`, those after it (--epochs,
# --batch-size, --lr, ...) to `hark train` only.
# Each run is `hark train` + `hark score` with `--seed S` for S in $SEEDS (default "0 1 2"); the
# models and CSVs go to OUT/<label>/seed<S>/, the log to OUT/<label>/seed<S>.log, and one line per
# run to OUT/scores.tsv. A spec whose system is `ensemble` sums the standardised scores of earlier
# labels of the same seed (`hark ensemble`, weight 1 each; flags after `::` go to it). HARK (default target/release/hark)
# names the binary. Finishes with OUT/summary.tsv and prints it.
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n 2,16p "$0"
  exit 2
fi
data=$1
out=$2
shift 2
hark=${HARK:-target/release/hark}
seeds=${SEEDS:-0 1 2}
mkdir -p "$out"
touch "$out/scores.tsv"

official() { grep -o 'official score: [0-9.]*' "$1" | tail -1 | awk '{print $3}'; }

for spec in "$@"; do
  label=${spec%%=*}
  rest=${spec#*=}
  train_only=""
  if [[ $rest == *"::"* ]]; then
    train_only=${rest#*::}
    rest=${rest%%::*}
  fi
  read -r system flags <<<"$rest"
  for seed in $seeds; do
    run="$out/$label/seed$seed"
    log="$run.log"
    if grep -q "^$label	$seed	" "$out/scores.tsv"; then
      continue
    fi
    mkdir -p "$run"
    start=$(date +%s)
    if [ "$system" = ensemble ]; then
      : >"$run/members.txt"
      for member in $flags; do
        echo "1 $out/$member/seed$seed/csv" >>"$run/members.txt"
      done
      # shellcheck disable=SC2086 # flags after :: (e.g. --standardize test) go to hark ensemble
      "$hark" ensemble --config "$run/members.txt" --out "$run/csv" --data "$data" \
        $train_only >"$log" 2>&1
    else
      # shellcheck disable=SC2086 # flags are words on purpose
      "$hark" train --system "$system" --data "$data" --models "$run/models" --seed "$seed" \
        $flags $train_only >"$log" 2>&1
      # shellcheck disable=SC2086
      "$hark" score --system "$system" --data "$data" --models "$run/models" --out "$run/csv" \
        $flags >>"$log" 2>&1
    fi
    seconds=$(($(date +%s) - start))
    score=$(official "$log")
    printf '%s\t%s\t%s\t%s\n' "$label" "$seed" "$score" "$seconds" | tee -a "$out/scores.tsv"
  done
done

awk -F'\t' '{ n[$1]++; s[$1] += $3; q[$1] += $3 * $3; t[$1] += $4; if (!($1 in order)) { order[$1] = ++k; name[k] = $1 } }
  END { print "system\tseeds\tmean\tstd\tseconds_per_run";
        for (i = 1; i <= k; i++) { l = name[i]; m = s[l] / n[l]; v = q[l] / n[l] - m * m; if (v < 0) v = 0;
          printf "%s\t%d\t%.4f\t%.4f\t%.0f\n", l, n[l], m, sqrt(v), t[l] / n[l] } }' \
  "$out/scores.tsv" | tee "$out/summary.tsv"
