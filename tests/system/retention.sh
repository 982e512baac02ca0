#!/bin/bash
# Retention: a finished batch older than its queue's keep_finished is removed
# (outbox folder, automatic ZIP, state) and said in the log; a batch that is
# still processing is never removed, however old.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (runs the test worker)"

export PDFSPOOL_WORKER=$top_srcdir/tests/system/fake-worker.py
export FAKE_WORKER_GATE=$T/gate
WORKERS=2 write_config 0.3s "" "    keep_finished: 2s
    zip: on"
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 1
mkdir -p "$T/src/old" "$T/src/running"
cp "$T/a.pdf" "$T/src/old/x.pdf"
cp "$T/a.pdf" "$T/src/running/gate1.pdf"
mv "$T/src/old" "$INBOX/"
check "a batch finishes" wait_batch_done old 30
check "... with its automatic ZIP" wait_for 30 test -s "$OUTBOX/old.zip"
mv "$T/src/running" "$INBOX/"
check "a second batch runs (held at its gate)" wait_for 30 batch_is running processing
stop_daemon
# keep_finished is 2 s: wait until the first batch is older than that (a condition, not a sleep)
target=$(( $(date +%s) + 3 ))
wait_for 10 sh -c "[ \$(date +%s) -ge $target ]"
start_daemon || bail "daemon did not restart"
check "at start the old finished batch is removed (said in the log)" \
        wait_for 20 grep -q "batch=old: retention: batch finished more than 2 s ago (keep_finished): removed" "$LOG"
check "... its outbox folder is gone" wait_for 20 test ! -e "$OUTBOX/old"
check "... and its ZIP" test ! -e "$OUTBOX/old.zip"
check "... and its state (no claim of it in finished/ nor deleted/)" \
        wait_for 20 sh -c "! grep -rlq '\"old\"' '$STATE'/test/finished/*/final.json 2>/dev/null && [ -z \"\$(ls -A '$STATE/test/deleted' 2>/dev/null)\" ]"
check "the processing batch is kept" sh -c "test -s '$OUTBOX/running/status.json' && ! grep -q 'batch=running: retention' '$LOG'"
touch "$FAKE_WORKER_GATE"
check "and finishes" wait_batch_done running 30
check "the daemon still runs" kill -0 "$DAEMON_PID"
done_testing
