#!/bin/bash
# A folder dropped with cp -r, one moved in with mv, and a single PDF become
# batches; each PDF gets meta.json, text.txt, thumb.png, its original and a
# status.json that says done; batch status counts add up; pdfspoolctl shows them.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed (apt-get install mupdf-tools)"
command -v jq >/dev/null || skip_all "jq not installed"

write_config 1s
start_daemon || bail "daemon did not start"

# A folder with a sub-folder and a file that is not a PDF, copied in with cp -r.
src=$T/src/Vendor\ A
mkdir -p "$src/sub"
mkpdf "$src/LM317.pdf" 3 "LM317 regulator"
mkpdf "$src/sub/NE555.pdf" 2 "NE555 timer"
echo "just notes" > "$src/readme.txt"
cp -r "$src" "$INBOX/"
check "cp -r folder becomes a batch that finishes" wait_batch_done "Vendor A"
b="$OUTBOX/Vendor A"
for job in LM317 sub/NE555; do
        check "$job: meta.json, text.txt, thumb.png and the original" \
                test -s "$b/$job/meta.json" -a -s "$b/$job/text.txt" -a -s "$b/$job/thumb.png" -a -s "$b/$job/$(basename $job).pdf"
        check "$job: status says done" test "$(job_state "Vendor A" "$job")" = done
done
check "original is preserved byte for byte" cmp -s "$src/LM317.pdf" "$b/LM317/LM317.pdf"
check "thumbnail is a PNG" sh -c "head -c 8 '$b/LM317/thumb.png' | od -An -c | grep -q 'P   N   G'"
check "text has one form feed between 3 pages" test "$(tr -cd '\f' < "$b/LM317/text.txt" | wc -c)" -eq 2
check "text contains the page text" grep -q "LM317 regulator page 3" "$b/LM317/text.txt"
check "meta.json has page count and version" test "$(jq_file "$b/LM317/meta.json" '.pages')" = 3
check "job status has source, attempts and null error" \
        jq -e '.source == "sub/NE555.pdf" and .attempts == 1 and .error == null and .pages == 2' "$b/sub/NE555/status.json"
check "batch counts add up" counts_add_up "Vendor A"
check "batch counts: 2 done, 1 skipped, total 3" \
        jq -e '.jobs.done == 2 and .jobs.skipped == 1 and .jobs.total == 3 and .pages_done == 5' "$b/status.json"
check "skipped file listed with its reason and kept" \
        sh -c "jq -e '.skipped[0].source == \"readme.txt\" and .skipped[0].reason == \"not a PDF\"' '$b/status.json' >/dev/null && test -f '$b/readme.txt'"
check "batch timestamps are RFC 3339" \
        jq -e '[.created, .started, .finished, .updated] | all(test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$"))' "$b/status.json"
check "inbox is empty once claimed" test -z "$(ls -A "$INBOX")"

# mv of a finished folder, and a single PDF at the top.
mkdir -p "$T/src2/moved"
mkpdf "$T/src2/moved/one.pdf" 1
mv "$T/src2/moved" "$INBOX/"
mkpdf "$T/single.pdf" 2
cp "$T/single.pdf" "$INBOX/"
check "mv'd folder becomes a batch" wait_batch_done moved
check "single PDF becomes a batch of one" wait_batch_done single
check "single PDF job lives at single/single" test "$(job_state single single)" = done

# The same name again: a new batch with a suffix, never mixed with the first.
mkdir -p "$T/src3/moved"
mkpdf "$T/src3/moved/two.pdf" 1
mv "$T/src3/moved" "$INBOX/"
check "a taken batch name gets a suffix" wait_batch_done moved-2
check "first batch untouched" test ! -e "$OUTBOX/moved/two"

# pdfspoolctl
out=$("$PDFSPOOLCTL" -c "$CFG" list)
check "pdfspoolctl list shows every batch" sh -c "echo '$out' | grep -q '^Vendor A ' && echo '$out' | grep -q '^moved-2 '"
check "pdfspoolctl list shows done/total" sh -c "echo '$out' | grep '^Vendor A ' | grep -q ' 2/2 '"
check "pdfspoolctl list --json is JSON" sh -c "'$PDFSPOOLCTL' -c '$CFG' list --json | jq -e 'length == 4' >/dev/null"
check "pdfspoolctl status shows jobs" sh -c "'$PDFSPOOLCTL' -c '$CFG' status 'Vendor A' | grep -q '^sub/NE555 .*done'"
check "pdfspoolctl status --json" sh -c "'$PDFSPOOLCTL' -c '$CFG' status --json 'Vendor A' | jq -e '.batch.state == \"done\" and (.jobs | length) == 2' >/dev/null"
"$PDFSPOOLCTL" -c "$CFG" status nosuchbatch >/dev/null 2>"$T/err"; rc=$?
check "unknown batch: exit code 1" test "$rc" -eq 1
check "unknown batch: clear error" grep -q 'no batch "nosuchbatch"' "$T/err"
check "state keeps finished batches out of claims" test -z "$(ls -A "$STATE/test/claims/"*)"

stop_daemon
check "daemon stops cleanly on SIGTERM" grep -q "stopped" "$LOG"
done_testing
