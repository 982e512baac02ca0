#!/bin/bash
# Passwords for encrypted PDFs from a manifest, per file or for the batch:
# the right one opens the PDF (done, text extracted), a wrong one fails the
# job with a reason that does not repeat it, none fails as before; and the
# password is nowhere afterwards: not in a status file or anything else of
# the outbox, not in the daemon's log (journal/stderr), not in any process's
# argv while jobs run.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed (apt-get install mupdf-tools)"
command -v jq >/dev/null || skip_all "jq not installed"

PW_FILE=Xq7-file-secret-93
PW_BATCH=Zt4-batch-secret-51
PW_WRONG=Wr0ng-guess-77

write_config 1s
start_daemon || bail "daemon did not start"

mkdir -p "$T/m/enc/sub"
mkpdf "$T/plain.pdf" 2 "LM317 locked"
mutool clean -E aes-256 -U "$PW_FILE" -O "owner-$PW_FILE" "$T/plain.pdf" "$T/m/enc/own.pdf" >/dev/null 2>&1
mutool clean -E aes-128 -U "$PW_BATCH" -O "owner-$PW_BATCH" "$T/plain.pdf" "$T/m/enc/sub/batchwide.pdf" >/dev/null 2>&1
mutool clean -E aes-128 -U "$PW_FILE" -O "owner-$PW_FILE" "$T/plain.pdf" "$T/m/enc/sub/wrong.pdf" >/dev/null 2>&1
check "the test PDFs are encrypted" sh -c "! mutool draw -F txt -o /dev/null '$T/m/enc/own.pdf' 2>/dev/null"
cat > "$T/m/enc.batch.yaml" <<EOM
files:
  - path: enc/own.pdf
    password: $PW_FILE
  - enc/sub/batchwide.pdf
  - path: enc/sub/wrong.pdf
    password: $PW_WRONG
password: $PW_BATCH
EOM

# Watch every process's argv while the batch runs (the patterns from a file:
# the watcher's own argv must not hold them). First proven on a probe that
# carries one.
printf '%s\n' "$PW_FILE" "$PW_BATCH" "$PW_WRONG" > "$T/patterns"
argv_hits() { cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' | grep -F -f "$T/patterns"; }
bash -c 'sleep 3; :' "probe-$PW_WRONG" &
probe=$!
check "the argv watch sees a process with a password in its argv (probe)" wait_for 5 argv_hits
kill "$probe"; wait "$probe" 2>/dev/null
( end=$(( $(date +%s) + 60 )); while [ "$(date +%s)" -lt $end ]; do argv_hits; sleep 0.05; done > "$T/argv-hits" ) &
watcher=$!
mv "$T/m/enc" "$INBOX/enc" && mv "$T/m/enc.batch.yaml" "$INBOX/"
check "batch finishes" wait_batch_done enc
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null

b=$OUTBOX/enc
check "own password: done, text extracted" \
        sh -c "test '$(job_state enc enc/own)' = done && grep -q 'LM317 locked page 2' '$b/enc/own/text.txt'"
check "batch password: done" test "$(job_state enc enc/sub/batchwide)" = done
check "a wrong password fails, without repeating it" \
        jq -e '.state == "failed" and .error == "encrypted PDF: the password given does not open it"' "$b/enc/sub/wrong/status.json"
check "no password anywhere in the outbox (status files, outputs; the manifest is not kept)" \
        sh -c "! grep -rqa -F -f '$T/patterns' '$OUTBOX' && test ! -e '$OUTBOX/enc/enc.batch.yaml'"
check "no password in the daemon's log" sh -c "! grep -qa -F -f '$T/patterns' '$LOG'"
check "no password in any process's argv while it ran" test ! -s "$T/argv-hits"

stop_daemon
done_testing
