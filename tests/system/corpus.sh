#!/bin/bash
# Real datasheets: every PDF gets meta.json, text.txt, thumb.png, its original
# and a status that says done (or failed with a reason); counts add up. Hostile
# PDFs: every job ends with a reason and the daemon keeps running.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip_all "jq not installed"
corpus=$(corpus_dir) || skip_all "no third-party corpus (set PDFSPOOL_CORPUS or put it at ../shared/corpus)"
[ -d "$corpus/datasheets" ] || skip_all "no datasheets folder in $corpus"

JOB_TIMEOUT=60s write_config 0.5s
start_daemon || bail "daemon did not start"
n=$(ls "$corpus/datasheets"/*.pdf | wc -l)
cp -r "$corpus/datasheets" "$INBOX/datasheets"
check "datasheets batch finishes" wait_batch_done datasheets 600
s=$OUTBOX/datasheets/status.json
check "datasheets: counts add up" counts_add_up datasheets
check "datasheets: all $n PDFs ended" jq -e --argjson n "$n" '.jobs.done + .jobs.failed == $n' "$s"
missing=0
for st in "$OUTBOX"/datasheets/*/status.json; do
        dir=$(dirname "$st")
        case $(jq -r .state "$st") in
        done) [ -s "$dir/meta.json" ] && [ -f "$dir/text.txt" ] && [ -s "$dir/thumb.png" ] && [ -s "$dir/$(jq -r .original "$st")" ] || missing=$((missing + 1)) ;;
        failed) [ -n "$(jq -r '.error // empty' "$st")" ] || missing=$((missing + 1)) ;;
        *) missing=$((missing + 1)) ;;
        esac
done
check "datasheets: every done job has all outputs, every failed one a reason ($missing bad)" test $missing -eq 0
check "datasheets: most have text" test "$(find "$OUTBOX/datasheets" -name text.txt -size +1k | wc -l)" -ge $(( n * 3 / 4 ))
diag "datasheets: $(jq -c '{jobs, pages_done, throughput}' "$s")"

if [ -d "$corpus/hostile" ]; then
        h=$(find "$corpus/hostile" -maxdepth 1 -type f -name '*.pdf' | wc -l)
        mkdir -p "$T/hostile"
        find "$corpus/hostile" -maxdepth 1 -type f -name '*.pdf' -exec cp {} "$T/hostile/" \;
        mv "$T/hostile" "$INBOX/"
        check "hostile batch finishes" wait_batch_done hostile 900
        hs=$OUTBOX/hostile/status.json
        check "hostile: counts add up" counts_add_up hostile
        check "hostile: every PDF ended or was skipped ($h)" jq -e --argjson n "$h" '.jobs.done + .jobs.failed + .jobs.skipped == $n' "$hs"
        check "hostile: every failure has a reason" jq -e '[.failures[] | select((.error // "") == "")] | length == 0' "$hs"
        check "hostile: daemon still running" kill -0 "$DAEMON_PID"
        diag "hostile: $(jq -c '.jobs' "$hs")"
        jq -r '.failures[] | "\(.job): \(.error)"' "$hs" | sort | uniq -c -f1 | head -20 | sed 's/^/# /'
fi
done_testing
