#!/bin/bash
# A queue's limits: a drop over max_files or max_bytes is rejected as a whole,
# with a status in outbox/rejected/ that names the limit, and its files are
# kept untouched in the state directory; beyond max_batches unfinished
# batches, drops wait in the inbox until one finishes; a batch past max_pages
# (pages are known only as its PDFs are read) is held, saying why, and goes on
# when a person releases it.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (runs the test worker)"

export PDFSPOOL_WORKER=$top_srcdir/tests/system/fake-worker.py
export FAKE_WORKER_GATE=$T/gate
WORKERS=2 write_config 0.3s "" "    max_files: 3
    max_bytes: 100k
    max_batches: 1"
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 1

# max_files: 5 files in a folder.
mkdir -p "$T/src/many"
for i in 1 2 3 4 5; do cp "$T/a.pdf" "$T/src/many/d$i.pdf"; done
sums_before=$(cd "$T/src/many" && sha256sum d*.pdf)
mv "$T/src/many" "$INBOX/"
st=$OUTBOX/rejected/many.status.json
check "a drop of 5 files is rejected (max_files 3)" wait_for 30 test -s "$st"
check "... its status names the limit ($(jq -r .reason "$st" 2>/dev/null | cut -c1-90))" \
        jq -e '.state == "rejected" and (.reason | test("5 files, more than this queue.s max_files \\(3\\)"))' "$st"
check "... no batch was made of it" test ! -e "$OUTBOX/many"
check "... it left the inbox" test ! -e "$INBOX/many"
kept=$(ls -d "$STATE"/test/rejected/*/src/many 2>/dev/null | head -1)
check "... its files are kept in the state directory, unchanged" \
        sh -c "[ -n '$kept' ] && cd '$kept' && [ \"\$(sha256sum d*.pdf)\" = '$sums_before' ]"
check "... the status says where" jq -e --arg k "$(dirname "$(dirname "$kept")")" '.reason | contains($k)' "$st"

# max_bytes: one PDF over 100 KiB.
mkdir -p "$T/src/big"
cp "$T/a.pdf" "$T/src/big/big.pdf"
head -c 200000 /dev/zero >> "$T/src/big/big.pdf"
mv "$T/src/big" "$INBOX/"
check "a drop of 200 KB is rejected (max_bytes 100k)" wait_for 30 test -s "$OUTBOX/rejected/big.status.json"
check "... its status names the limit" jq -e '.reason | test("more than this queue.s max_bytes \\(102400\\)")' \
        "$OUTBOX/rejected/big.status.json"

# max_batches 1: a running batch, then a second drop waits in the inbox.
mkdir -p "$T/src/first" "$T/src/second"
cp "$T/a.pdf" "$T/src/first/gate1.pdf"
cp "$T/a.pdf" "$T/src/second/x.pdf"
mv "$T/src/first" "$INBOX/"
check "the first batch runs" wait_for 30 batch_is first processing
mv "$T/src/second" "$INBOX/"
check "the second drop waits in the inbox while the first is unfinished (said in the log)" \
        wait_for 20 grep -q "(max_batches is 1): second and later drops wait in the inbox" "$LOG"
check "... still in the inbox, no batch" sh -c "test -e '$INBOX/second' && test ! -e '$OUTBOX/second'"
touch "$FAKE_WORKER_GATE"
check "the first batch finishes" wait_batch_done first 30
check "then the second drop is taken and done" wait_batch_done second 60
check "the daemon still runs" kill -0 "$DAEMON_PID"
stop_daemon

# max_pages 3, the real worker, one at a time: 4 PDFs of 2 pages.
unset PDFSPOOL_WORKER
WORKERS=1 write_config 0.3s "" "    max_pages: 3"
start_daemon || bail "daemon did not start with max_pages"
mkdir -p "$T/src/pages"
for i in 1 2 3 4; do mkpdf "$T/src/pages/p$i.pdf" 2 "two pages $i"; done
mv "$T/src/pages" "$INBOX/"
st=$OUTBOX/pages/status.json
check "a batch past max_pages is held, its status says why" \
        wait_for 60 jq -e '.held == true and (.held_why | test("pages done, more than this queue.s max_pages \\(3\\)"))' "$st"
check "... jobs still queued wait, none failed" jq -e '.jobs.queued >= 1 and .jobs.failed == 0' "$st"
check "... pdfspoolctl status shows the reason" sh -c "'$PDFSPOOLCTL' -c '$CFG' status pages | grep -q '^Held: .*max_pages (3)'"
check "... and the log" grep -q "batch=pages: batch held: .*max_pages (3)" "$LOG"
queued=$(jq -r .jobs.queued "$st")
starts_none() { ! wait_for 2 jq -e ".jobs.queued < $queued" "$st"; }
check "... no job of it starts while it is held ($queued queued, 2 s)" starts_none
"$PDFSPOOLCTL" -c "$CFG" release pages >/dev/null
check "released: the limit is lifted for it, every job done" wait_batch_done pages 60
check "... all 4 jobs, 8 pages" jq -e '.jobs.done == 4 and .pages_done == 8 and .held == false' "$st"
stop_daemon
done_testing
