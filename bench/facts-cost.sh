#!/bin/bash
# What facts.json and tables cost: the worker over a folder of PDFs with them
# and without them (PDFSPOOL_WORKER_NO_FACTS=1), ROUNDS times each, alternating;
# prints the best CPU seconds (user + system, of the worker and the python
# driver, whose share is small and the same in both) per page of each and the
# extra time in percent (goal: under 25%). CPU time, not wall time: the machine
# may be shared.
#   bench/facts-cost.sh [DIR] [ROUNDS]      DIR defaults to ../shared/corpus/datasheets
# Not part of make check: the corpus is not in the repository.
set -e
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${PDFSPOOL_CORPUS:-$here/../../shared/corpus}/datasheets}
[ -d "$1" ] && dir=$1
rounds=${2:-3}
[ -d "$dir" ] || { echo "no corpus at $dir (give a folder of PDFs)" >&2; exit 2; }

run() { # prints CPU seconds per page
        local pages cpu
        env "$@" /usr/bin/time -o "$tmp.time" -f "cpu %U %S" python3 "$here/worker-bench.py" "$dir" >"$tmp" 2>/dev/null
        pages=$(awk '/pages extracted in/ { print $1 }' "$tmp")
        cpu=$(awk '/^cpu / { print $2 + $3 }' "$tmp.time")
        awk -v c="$cpu" -v p="$pages" 'BEGIN { printf "%.6f\n", c / p }'
}
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.time"' EXIT
best_with=999 best_without=999
for i in $(seq "$rounds"); do
        w=$(run PDFSPOOL_FACTS_BENCH=1)
        wo=$(run PDFSPOOL_WORKER_NO_FACTS=1)
        echo "round $i: with facts $w s/page, without $wo s/page"
        best_with=$(awk -v a="$best_with" -v b="$w" 'BEGIN { print (b < a ? b : a) }')
        best_without=$(awk -v a="$best_without" -v b="$wo" 'BEGIN { print (b < a ? b : a) }')
done
awk -v w="$best_with" -v wo="$best_without" 'BEGIN {
        printf "best: with facts and tables %.2f ms/page, without %.2f ms/page: %+.1f%%\n", w * 1000, wo * 1000, (w / wo - 1) * 100 }'
