#!/usr/bin/env bash
# Replay every public suite in ../shared/eval/public and the sample suite; JSON reports go to bench/out/.
# Usage: bash bench/eval_all.sh [SUITE ...]      (from the repository root, after `make install`)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${TIER0_EVAL_DIR:-../shared/eval/public}
mkdir -p bench/out
suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
  suites=(sample)
  for d in "$shared"/*/; do suites+=("$(basename "$d")"); done
fi
start=$(date +%s)
for s in "${suites[@]}"; do
  if [ "$s" = sample ]; then kb=data/sample_kb; cases=data/sample_cases.jsonl
  else kb="$shared/$s/kb"; cases="$shared/$s/cases.jsonl"; fi
  .venv/bin/tier0 eval --kb "$kb" --cases "$cases" --json "bench/out/eval-$s.json" | grep -v '^report:' | sed "s/^[^:]*:/$s:/"
done
echo "total: $(( $(date +%s) - start ))s"
