#!/bin/bash
# A worker that crashes, hangs past the job timeout, is killed for memory or
# talks nonsense fails only its own job, with the reason in words; the daemon
# goes on and replaces the worker.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (runs the misbehaving test worker)"

export PDFSPOOL_WORKER=$top_srcdir/tests/system/fake-worker.py
JOB_TIMEOUT=2s WORKERS=2 write_config 0.3s
start_daemon || bail "daemon did not start"
mkdir -p "$T/src/mixed"
mkpdf "$T/a.pdf" 1
for n in crash hang oom garble ok1 ok2 ok3; do cp "$T/a.pdf" "$T/src/mixed/$n.pdf"; done
mv "$T/src/mixed" "$INBOX/"
check "batch with failing workers finishes" wait_batch_done mixed 60
e() { jq -r .error "$OUTBOX/mixed/$1/status.json"; }
check "crash: failed with 'worker killed by SIGSEGV'" sh -c "jq -r .error '$OUTBOX/mixed/crash/status.json' | grep -q '^worker killed by SIGSEGV'"
check "hang: failed with a timeout reason ($(e hang))" sh -c "jq -r .error '$OUTBOX/mixed/hang/status.json' | grep -q '^timed out: still running after 2 s'"
check "oom: failed, reason mentions memory ($(e oom))" sh -c "jq -r .error '$OUTBOX/mixed/oom/status.json' | grep -q 'out of memory'"
check "garbled answer: failed with a reason ($(e garble))" test "$(e garble)" != null
for n in ok1 ok2 ok3; do
        check "$n: done despite the others" test "$(jq -r .state "$OUTBOX/mixed/$n/status.json")" = done
done
check "counts: 3 done, 4 failed" jq -e '.jobs.done == 3 and .jobs.failed == 4' "$OUTBOX/mixed/status.json"
check "failed jobs keep their original" test -s "$OUTBOX/mixed/crash/crash.pdf"
check "failed jobs leave no partial results" test ! -e "$OUTBOX/mixed/crash/meta.json"
check "daemon still running" kill -0 "$DAEMON_PID"
# The pool was refilled: a new drop is still processed.
mkdir -p "$T/src/after"; cp "$T/a.pdf" "$T/src/after/x.pdf"; mv "$T/src/after" "$INBOX/"
check "workers replaced: a later batch is processed" wait_batch_done after 30
check "worker deaths logged" grep -q 'worker .* ended: worker killed by SIGSEGV' "$LOG"

# A flood of identical failures is rate-limited, with a summary line.
mkdir -p "$T/src/flood"
for i in $(seq -w 1 40); do cp "$T/a.pdf" "$T/src/flood/crash$i.pdf"; done
mv "$T/src/flood" "$INBOX/"
check "flood batch finishes, every job failed with its reason" wait_batch_done flood 60
check "flood: all 40 failures in the batch status" jq -e '.jobs.failed == 40 and ([.failures[] | select(.error | startswith("worker killed by SIGSEGV"))] | length) == 40' "$OUTBOX/flood/status.json"
check "flood: the log holds back identical failures" test "$(grep -c 'batch=flood job=crash[0-9]*: job failed' "$LOG")" -lt 40
check "flood: a summary line says how many were held back" wait_for 20 grep -q 'similar messages suppressed in the last 10 s' "$LOG"

# A worker executable that cannot start: no fork storm, the daemon says why.
stop_daemon
export PDFSPOOL_WORKER=/bin/false
start_daemon || bail "daemon did not start"
check "a worker that never starts is reported" wait_for 10 grep -q 'did not start' "$LOG"
check "and restarted with a growing delay, not in a tight loop" wait_for 20 grep -q 'trying again in 3 s' "$LOG"
check "daemon keeps running" kill -0 "$DAEMON_PID"
done_testing
