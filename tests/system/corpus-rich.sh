#!/bin/bash
# The hostile corpus under the richest profile (stext, page renders, thumbs of
# every page, facts, tables, outline): the daemon stays up, every job ends
# (done, or failed with a reason), and none runs past its timeout by more
# than a second.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip_all "jq not installed"
corpus=$(corpus_dir) || skip_all "no third-party corpus (set PDFSPOOL_CORPUS or put it at ../shared/corpus)"
[ -d "$corpus/hostile" ] || skip_all "no hostile folder in $corpus"

timeout=${RICH_JOB_TIMEOUT:-15}
JOB_TIMEOUT=${timeout}s write_config 0.5s "profiles:
  rich:
    outputs: [meta, text, stext, outline, thumbs, pages, facts, tables]
    thumbs: {pages: all, size: 128, format: jpeg}
    pages: {pages: all, dpi: 100}" "    profile: rich"
start_daemon || bail "daemon did not start"

h=$(find "$corpus/hostile" -maxdepth 1 -type f -name '*.pdf' | wc -l)
mkdir -p "$T/hostile"
find "$corpus/hostile" -maxdepth 1 -type f -name '*.pdf' -exec cp {} "$T/hostile/" \;
mv "$T/hostile" "$INBOX/"
check "hostile (rich profile): batch finishes" wait_batch_done hostile 1800
hs=$OUTBOX/hostile/status.json
check "hostile (rich profile): counts add up" counts_add_up hostile
check "hostile (rich profile): every PDF ended or was skipped ($h)" \
        jq -e --argjson n "$h" '.jobs.done + .jobs.failed + .jobs.skipped == $n' "$hs"
check "hostile (rich profile): every failure has a reason" jq -e '[.failures[] | select((.error // "") == "")] | length == 0' "$hs"
check "hostile (rich profile): daemon still running" kill -0 "$DAEMON_PID"
late=$(jq -s --argjson t "$timeout" '[.[] | select(.seconds > $t + 1) | "\(.job): \(.seconds) s"]' \
        "$OUTBOX"/hostile/*/status.json)
check "hostile (rich profile): no job ran past its ${timeout} s timeout by more than 1 s" \
        jq -e 'length == 0' <<<"$late"
[ "$late" = "[]" ] || diag "late: $late"
check "hostile (rich profile): done jobs have stext.json and page renders" \
        sh -c 'for st in "$1"/hostile/*/status.json; do d=$(dirname "$st"); [ "$(jq -r .state "$st")" = done ] || continue
                 [ -s "$d/stext.json" ] && [ -s "$d/pages/0001.png" ] || { echo "$d"; exit 1; }; done' sh "$OUTBOX"
diag "hostile (rich profile): $(jq -c '.jobs' "$hs"), slowest $(jq -s 'map(.seconds) | max' "$OUTBOX"/hostile/*/status.json) s"
jq -r '.failures[] | "\(.job): \(.error)"' "$hs" | sort | uniq -c -f1 | head -20 | sed 's/^/# /'
stop_daemon
done_testing
