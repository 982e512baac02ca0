#!/bin/bash
# Bad input gets a clear reason, and nothing is lost: not a PDF, zero bytes,
# truncated and damaged PDFs, encrypted PDFs, names with spaces, quotes,
# newlines and bytes that are not UTF-8 (status JSON stays valid JSON).
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"

write_config 0.5s
start_daemon || bail "daemon did not start"
d=$T/src/bad
mkdir -p "$d"
mkpdf "$T/good.pdf" 3 "good"
echo "this is text, not a PDF" > "$d/notapdf.pdf"
: > "$d/empty.pdf"
head -c $(( $(stat -c %s "$T/good.pdf") / 2 )) "$T/good.pdf" > "$d/truncated.pdf"
printf '%%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\nendobj\ngarbage garbage\n%%%%EOF\n' > "$d/damaged.pdf"
mutool clean -E aes-256 -U secret -O owner "$T/good.pdf" "$d/encrypted.pdf" >/dev/null 2>&1
mutool clean -E aes-128 -O owneronly "$T/good.pdf" "$d/owner-only.pdf" >/dev/null 2>&1
cp "$T/good.pdf" "$d/with space.pdf"
cp "$T/good.pdf" "$d/quote\"s'.pdf"
cp "$T/good.pdf" "$d/new
line.pdf"
cp "$T/good.pdf" "$d/$(printf 'bad\xff\xfename.pdf')"
cp "$T/good.pdf" "$d/Ünïcödé.pdf"
cp "$T/good.pdf" "$d/no-extension"
mv "$d" "$INBOX/"
check "batch with bad files finishes" wait_batch_done bad 60
s=$OUTBOX/bad/status.json
check "batch status is valid JSON" jq -e . "$s"
check "batch counts add up" counts_add_up bad
skip_reason() { jq -r --arg f "$1" '.skipped[] | select(.source == $f) | .reason' "$s"; }
check "not a PDF: skipped with reason" test "$(skip_reason notapdf.pdf)" = "not a PDF"
check "zero bytes: skipped with reason" test "$(skip_reason empty.pdf)" = "empty file (0 bytes)"
check "skipped files are kept in the outbox" test -f "$OUTBOX/bad/notapdf.pdf" -a -f "$OUTBOX/bad/empty.pdf"
jst() { jq -r "$2" "$OUTBOX/bad/$1/status.json"; }
check "encrypted: failed" test "$(jst encrypted .state)" = failed
check "encrypted: reason says a password is required" test "$(jst encrypted .error)" = "encrypted PDF: a password is required"
check "encrypted: original kept" cmp -s "$INBOX/../state/test/finished/"*/src/bad/encrypted.pdf "$OUTBOX/bad/encrypted/encrypted.pdf"
check "owner-password-only PDF opens: done" test "$(jst owner-only .state)" = done
check "owner-password-only PDF: meta says encrypted" test "$(jq -r .encrypted "$OUTBOX/bad/owner-only/meta.json")" = true
for j in truncated damaged; do
        st=$(jst $j .state)
        check "$j: ended (state $st)" test "$st" = done -o "$st" = failed
        if [ "$st" = failed ]; then
                check "$j: failure has a reason ($(jst $j .error))" test -n "$(jst $j '.error // empty')"
                check "$j: failed job keeps its original" test -s "$OUTBOX/bad/$j/$j.pdf"
        fi
done
check "damaged: reason names the damage" sh -c "jq -r .error '$OUTBOX/bad/damaged/status.json' | grep -qiE 'damaged|no pages'"
check "name with space: done" test "$(jst 'with space' .state)" = done
check "name with quotes: done" test "$(jst "quote\"s'" .state)" = done
check "name with newline: done" test "$(jst "new
line" .state)" = done
check "name with newline: the status shows it escaped as \\x0a" test "$(jq -r .job "$OUTBOX/bad/new
line/status.json")" = 'new\x0aline'
bad=$(printf 'bad\xff\xfename')
check "non-UTF-8 name: done" test "$(jq -r .state "$OUTBOX/bad/$bad/status.json")" = done
check "non-UTF-8 name: status is valid JSON naming the bytes" \
        test "$(jq -r .job "$OUTBOX/bad/$bad/status.json")" = 'bad\xff\xfename'
check "non-UTF-8 name: output folder keeps the bytes" test -f "$OUTBOX/bad/$bad/meta.json"
check "UTF-8 name kept as is" test "$(jst 'Ünïcödé' .job)" = "Ünïcödé"
check "a PDF without .pdf extension is found by its content" test "$(jst no-extension .state)" = done
check "every status file is valid JSON" sh -c "find '$OUTBOX' -name status.json -print0 | xargs -0 -n1 jq -e . >/dev/null"
check "failures listed in the batch status" jq -e '[.failures[].job] | index("encrypted") != null' "$s"
check "failed job logged with its reason" grep -q 'batch=bad job=encrypted: job failed: encrypted PDF: a password is required' "$LOG"
check "daemon still running" kill -0 "$DAEMON_PID"
done_testing
