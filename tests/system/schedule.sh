#!/bin/bash
# Which batch's jobs run first: batches of the same priority share the
# workers fairly (a big batch does not starve a small one dropped after it);
# a manifest's priority goes first; a manifest's not_before and a queue's
# hours hold jobs back until their time, and the batch status says until when.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (runs the test worker)"

export PDFSPOOL_WORKER=$top_srcdir/tests/system/fake-worker.py
WORKERS=1 write_config 0.3s
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 1
# batch NAME N: a folder of N slow PDFs, dropped
batch() {
        mkdir -p "$T/src/$1"
        for i in $(seq -w 1 "$2"); do cp "$T/a.pdf" "$T/src/$1/slow$i.pdf"; done
        mv "$T/src/$1" "$INBOX/"
}
processing() { batch_is "$1" processing; }
finished_at() { jq -r .finished "$OUTBOX/$1/status.json"; }

# Fairness: one worker, a batch of 100 jobs, then a batch of 3.
batch big 100
check "the big batch runs" wait_for 30 processing big
batch small 3
check "the small batch dropped after it finishes" wait_batch_done small 60
check "... while the big one still runs (fair share, not first come first served)" processing big
check "the big batch finishes too" wait_batch_done big 120

# Priority: a plain batch of 30, then a manifest's batch of 30 with priority 10:
# fair sharing alone would finish them together; priority runs the second first.
done_of() { jq -r .jobs.done "$OUTBOX/$1/status.json" 2>/dev/null; }
batch plain 30
check "the plain batch runs" wait_for 30 processing plain
mkdir -p "$INBOX/.upload/urgent"
for i in $(seq -w 1 30); do cp "$T/a.pdf" "$INBOX/.upload/urgent/slow$i.pdf"; done
printf 'batch: urgent\nfiles:\n  - .upload/urgent\noptions:\n  priority: 10\n' > "$T/urgent.batch.yaml"
mv "$T/urgent.batch.yaml" "$INBOX/"
# From the moment the priority batch is there, the plain one gets no new job
# until it is done. The margin: the job it runs, and the batch status lagging
# up to 250 ms behind (five 50 ms jobs); fair sharing would give it 30 more.
check "the priority batch is registered" wait_for 60 test -s "$OUTBOX/urgent/status.json"
n0=$(done_of plain)
check "the priority batch finishes" wait_batch_done urgent 60
n=$(done_of plain)
check "... its status shows the priority" jq -e '.priority == 10' "$OUTBOX/urgent/status.json"
check "... while the plain batch dropped earlier started no new job ($n0 done when it came, $n when it was done)" \
        test "$n" -le $((n0 + 8))
check "the plain batch finishes too" wait_batch_done plain 120

# pdfspoolctl priority: the same for a batch already running.
batch first 30
check "a first batch runs" wait_for 30 processing first
batch second 30
check "a second batch is registered" wait_for 30 test -s "$OUTBOX/second/status.json"
out=$("$PDFSPOOLCTL" -c "$CFG" priority second 20 2>&1)
n0=$(done_of first)
check "pdfspoolctl priority second 20 ($out)" grep -q "priority 20" <<<"$out"
check "the second batch finishes first" wait_batch_done second 60
n=$(done_of first)
check "... while the first started no new job ($n0 done at the request, $n when the second was done)" \
        test "$n" -le $((n0 + 8))
check "... its status shows the priority" jq -e '.priority == 20' "$OUTBOX/second/status.json"
check "the first batch finishes too" wait_batch_done first 120

# not_before: 4 s from now.
nb=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%SZ)
nb_epoch=$(date -d "$nb" +%s)
mkdir -p "$INBOX/.upload/later"
cp "$T/a.pdf" "$INBOX/.upload/later/x.pdf"
printf 'batch: later\nfiles:\n  - .upload/later\noptions:\n  not_before: %s\n' "$nb" > "$T/later.batch.yaml"
mv "$T/later.batch.yaml" "$INBOX/"
check "a batch with not_before is registered" wait_for 20 test -s "$OUTBOX/later/status.json"
check "... its status says it waits for not_before ($(jq -c .waits "$OUTBOX/later/status.json" 2>/dev/null))" \
        jq -e '.waits.reason == "not_before" and (.waits.text | test("not before"))' "$OUTBOX/later/status.json"
check "... and its job has not started" test "$(job_state later .upload/later/x)" = queued
check "it is done once its time has come" wait_batch_done later 30
started=$(jq -r .started "$OUTBOX/later/.upload/later/x/status.json")
check "... and its job started no earlier than not_before ($started, not before $nb)" \
        test "$(date -d "$started" +%s)" -ge "$nb_epoch"
check "... the status no longer says it waits" jq -e 'has("waits") | not' "$OUTBOX/later/status.json"

# hours: a window that is closed now, then a reload that opens it.
closed_from=$(date -d '+2 hours' +%H:%M) closed_to=$(date -d '+3 hours' +%H:%M)
WORKERS=1 write_config 0.3s "" "    hours: $closed_from-$closed_to"
kill -HUP "$DAEMON_PID"
check "reload with hours $closed_from-$closed_to" wait_for 20 grep -q "configuration reloaded" "$LOG"
batch night 2
check "outside the queue's hours the batch is registered" wait_for 20 test -s "$OUTBOX/night/status.json"
check "... and says it waits for the queue's hours ($(jq -c .waits.text "$OUTBOX/night/status.json" 2>/dev/null))" \
        jq -e '.waits.reason == "hours"' "$OUTBOX/night/status.json"
check "... with no job started" jq -e '.jobs.queued == 2 and .started == null' "$OUTBOX/night/status.json"
n=$(grep -c "configuration reloaded" "$LOG")
open_from=$(date -d '-1 hour' +%H:%M) open_to=$(date -d '+1 hour' +%H:%M)
WORKERS=1 write_config 0.3s "" "    hours: $open_from-$open_to"
kill -HUP "$DAEMON_PID"
check "reload with hours $open_from-$open_to" wait_for 20 sh -c "[ \$(grep -c 'configuration reloaded' '$LOG') -gt $n ]"
check "inside the queue's hours the batch runs and is done" wait_batch_done night 30
check "the daemon still runs" kill -0 "$DAEMON_PID"
done_testing
