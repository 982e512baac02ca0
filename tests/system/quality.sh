#!/bin/bash
# Measured quality of datasheet facts and tables (issue 9): the real daemon
# processes a copy of the shared datasheets, bench/quality scores the batch
# against tests/data/labels.yaml, and the test fails when any score falls more
# than 5 points below the number recorded in README.md ("Datasheet facts:
# measured quality"). Cells there that are not numbers are placeholders.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip_all "jq not installed"
python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml not installed (./dev.sh deps)"
corpus=$(corpus_dir) || skip_all "no third-party corpus (set PDFSPOOL_CORPUS or put it at ../shared/corpus)"
[ -d "$corpus/datasheets" ] || skip_all "no datasheets folder in $corpus"
Q() { python3 "$top_srcdir/bench/quality" "$@"; }
LABELS=$top_srcdir/tests/data/labels.yaml

JOB_TIMEOUT=120s write_config 0.5s
start_daemon || bail "daemon did not start"
n=$(ls "$corpus/datasheets"/*.pdf | wc -l)
mkdir -p "$T/drop"
cp "$corpus/datasheets"/*.pdf "$T/drop/"
mv "$T/drop" "$INBOX/datasheets"
wait_batch_done datasheets 900 || bail "the datasheets batch did not finish in 900 s"
done_jobs=$(jq -r '.jobs.done' "$OUTBOX/datasheets/status.json")
diag "datasheets: $(jq -c '{jobs, pages_done}' "$OUTBOX/datasheets/status.json")"
if [ -z "$(find "$OUTBOX/datasheets" -name facts.json -print -quit)" ]; then
        skip_all "the worker wrote no facts.json for any of the $done_jobs done jobs (datasheet extraction not built in yet)"
fi

plan 4
check "all $n PDFs ended (done: $done_jobs)" jq -e --argjson n "$n" '.jobs.done + .jobs.failed == $n' "$OUTBOX/datasheets/status.json"
Q --labels "$LABELS" --json "$OUTBOX/datasheets" > "$T/score.json"
ok $? "bench/quality scored the batch"
check "every labelled datasheet has a job" jq -e '.jobs_found == .documents' "$T/score.json"
Q --labels "$LABELS" --check "$top_srcdir/README.md" "$OUTBOX/datasheets" > "$T/score.txt"
rc=$?
sed 's/^/# /' "$T/score.txt"
ok $rc "no score more than 5 points below README.md's"
done_testing
