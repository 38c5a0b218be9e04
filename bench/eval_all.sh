#!/usr/bin/env bash
# Replay every public suite in ../shared/eval/public, the sample suite, sample-plain (the sample KB without its
# alternate questions) and our own plain KBs (data/plain/*) through `tier0 eval`, two suites at a time (one per core;
# each process runs torch on one thread). Suite names are resolved by bench/suites.py. JSON reports go to
# bench/out/eval-<suite>.json. A suite the day-one prior (retrieval/prior.json) learnt from is graded with the prior
# learnt without it (bench/priors/prior-without-<suite>.json): no suite grades a prior that saw it.
# Usage (from the repository root, after `make install`):  bash bench/eval_all.sh [SUITE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${TIER0_EVAL_DIR:-../shared/eval/public}
jobs=${TIER0_EVAL_JOBS:-2}
mkdir -p bench/out
suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
  # largest first, so the two workers finish together
  for d in $(wc -l "$shared"/*/cases.jsonl | sort -rn | awk '$2 != "total" {print $2}'); do
    suites+=("$(basename "$(dirname "$d")")")
  done
  suites+=(sample sample-plain)
  for d in data/plain/*/; do suites+=("$(basename "$d")"); done
fi
run_one() {
  s=$1; shared=$2
  read -r kb cases < <(TIER0_EVAL_DIR="$shared" .venv/bin/python bench/suites.py "$s")
  # a suite the day-one prior learnt from is graded by the prior learnt without it (bench/prior_lab.py)
  if [ -f "bench/priors/prior-without-$s.json" ]; then export TIER0_PRIOR_FILE="$PWD/bench/priors/prior-without-$s.json"
  else unset TIER0_PRIOR_FILE; fi
  .venv/bin/tier0 eval --kb "$kb" --cases "$cases" --json "bench/out/eval-$s.json" 2>"bench/out/eval-$s.log" \
    | grep -v '^report:' | sed "s/^[^:]*:/$s:/"
}
export -f run_one
start=$(date +%s)
printf '%s\n' "${suites[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$shared"
echo "total: $(( $(date +%s) - start ))s wall for ${#suites[@]} suites, $jobs at a time"
