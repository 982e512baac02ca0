#!/bin/bash
# A file still being written is never taken: a slow writer, a folder copied in
# file by file with pauses shorter than the settle period, a writer that keeps
# the file open without writing. Drops already there at start are picked up.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"

write_config 2s
mkpdf "$T/big.pdf" 40 "Slowly written"
# Present before the daemon starts.
mkdir -p "$INBOX/early"
mkpdf "$INBOX/early/e.pdf" 1
start_daemon || bail "daemon did not start"
check "a drop present at start is picked up" wait_batch_done early 30

# Slow writer: 8 chunks, 0.6 s apart (longer in total than the settle time).
size=$(stat -c %s "$T/big.pdf")
chunk=$(( (size + 7) / 8 ))
(
        for i in 0 1 2 3 4 5 6 7; do
                dd if="$T/big.pdf" bs="$chunk" skip=$i count=1 2>/dev/null >> "$INBOX/slow.pdf"
                date +%s%3N > "$T/last-write"
                sleep 0.6
        done
) &
writer=$!
check "slow writer's file becomes a batch" wait_batch_done slow 60
wait $writer
created_ms=$(date -u -d "$(jq -r .created "$OUTBOX/slow/status.json")" +%s%3N)
check "slow file processed whole: 40 pages" test "$(jq_file "$OUTBOX/slow/slow/status.json" .pages)" = 40
check "slow file was taken only after its last write" test "$created_ms" -gt "$(cat "$T/last-write")"
check "no failed job" test "$(jq_file "$OUTBOX/slow/status.json" .jobs.failed)" = 0

# A folder copied in file by file, pauses (1 s) shorter than settle (2 s).
mkdir -p "$INBOX/paced"
for i in 1 2 3 4 5; do
        mkpdf "$T/p$i.pdf" 1 "paced $i"
        cp "$T/p$i.pdf" "$INBOX/paced/"
        sleep 1
done
check "paced copy becomes ONE batch" wait_batch_done paced 30
check "paced batch has all 5 files" test "$(jq_file "$OUTBOX/paced/status.json" .jobs.done)" = 5
check "no second batch from the paced copy" test ! -e "$OUTBOX/paced-2"

# A writer that holds the file open (like smbd while a client uploads): not taken.
mkpdf "$T/held.pdf" 1
exec 7>"$INBOX/held.pdf"
cat "$T/held.pdf" >&7
wait_for 5 test -e "$OUTBOX/held"; taken_early=$?
check "a file held open for writing is not taken, even when quiet past settle" test $taken_early -ne 0
check "it is still in the inbox" test -e "$INBOX/held.pdf"
exec 7>&-
check "once closed it is taken" wait_batch_done held 30

# Metadata touched while settling: still one batch.
mkdir -p "$INBOX/touched"
mkpdf "$INBOX/touched/t.pdf" 1
touch "$INBOX/touched/t.pdf"; chmod 600 "$INBOX/touched/t.pdf"
check "touched drop becomes one batch" wait_batch_done touched 30
check "touched drop processed once" test "$(grep -c 'batch=touched job=t: job done' "$LOG")" -eq 1
# Renamed inside the inbox while settling: claimed once, under its new name.
mkdir -p "$INBOX/first-name"
mkpdf "$INBOX/first-name/r.pdf" 1
mv "$INBOX/first-name" "$INBOX/second-name"
check "renamed while settling: one batch under the new name" wait_batch_done second-name 30
check "renamed while settling: nothing under the old name" test ! -e "$OUTBOX/first-name"
check "renamed while settling: processed once" test "$(grep -c 'job=r: job done' "$LOG")" -eq 1
done_testing
