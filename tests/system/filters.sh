#!/bin/bash
# External filters: a profile's commands run per job after the built-in
# outputs, argv without a shell, with PDFSPOOL_* in the environment, in the
# job's temp output folder; output into log.txt (bounded); result.json merged
# into the status under "filter"; "when: text_layer != full" runs only on
# scanned PDFs; a failing filter fails the job with its exit code and last
# line; the job timeout and a cancel stop a filter that hangs.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed (apt-get install mupdf-tools)"
command -v jq >/dev/null || skip_all "jq not installed"

F=$T/filters
mkdir -p "$F"
cat > "$F/ocr" <<'EOS'
#!/bin/sh
echo "ocr: job $PDFSPOOL_JOB of $PDFSPOOL_BATCH in $PDFSPOOL_QUEUE, text layer $PDFSPOOL_TEXT_LAYER, arg $1"
test -s "$PDFSPOOL_INPUT" || { echo "no input at $PDFSPOOL_INPUT" >&2; exit 3; }
test "$(pwd)" = "$PDFSPOOL_OUTDIR" || { echo "cwd $(pwd) is not $PDFSPOOL_OUTDIR" >&2; exit 4; }
test -s meta.json || { echo "meta.json not there yet" >&2; exit 5; }
echo "ocr text" > ocr.txt
printf '{"ocr": {"engine": "fake", "input_bytes": %s}}\n' "$(wc -c < "$PDFSPOOL_INPUT")" > result.json
EOS
cat > "$F/fail" <<'EOS'
#!/bin/sh
echo "starting"
echo "tesseract: no language data for xyz" >&2
exit 7
EOS
cat > "$F/hang" <<'EOS'
#!/bin/sh
echo "hanging" ; echo $$ > "$PDFSPOOL_OUTDIR/../hang.pid"
sleep 300 &
wait
EOS
cat > "$F/chatty" <<'EOS'
#!/bin/sh
head -c 2000000 /dev/zero | tr '\0' 'x'
echo
echo "last words"
EOS
chmod +x "$F"/*

JOB_TIMEOUT=4s write_config 1s "profiles:
  default:
    filters:
      - command: [$F/ocr, \"--lang=eng\"]
        when: text_layer != full
  failing:
    filters:
      - name: ocr-broken
        command: [$F/fail]
  hanging:
    filters:
      - command: [$F/hang]
  chatty:
    filters:
      - command: [$F/chatty]" ""
start_daemon || bail "daemon did not start"

# A scanned page (no text) and a text PDF: the filter runs on the first only.
mkdir -p "$T/mk" "$T/src/scans"
printf '%%%%MediaBox 0 0 595 842\n0 0 1 rg 100 100 200 200 re f\n' > "$T/mk/p.txt"
mutool create -o "$T/src/scans/scan.pdf" "$T/mk/p.txt" >/dev/null 2>&1
mkpdf "$T/src/scans/text.pdf" 1 "LM317"
cp -r "$T/src/scans" "$INBOX/"
check "scans batch finishes" wait_batch_done scans
s=$OUTBOX/scans/scan
check "scan: done" test "$(job_state scans scan)" = done
check "scan: result.json merged under filter" jq -e '.filter.ocr.engine == "fake" and .filter.ocr.input_bytes > 0' "$s/status.json"
check "scan: the filter's own output kept" test -s "$s/ocr.txt"
check "scan: log.txt has the filter's output and environment" \
        grep -q "ocr: job scan of scans in test, text layer none, arg --lang=eng" "$s/log.txt"
check "text: filter skipped (text_layer full): no log.txt, no filter" \
        sh -c "test ! -e '$OUTBOX/scans/text/log.txt' && jq -e 'has(\"filter\") | not' '$OUTBOX/scans/text/status.json'"

# A manifest may switch the filters off.
mkdir -p "$T/o/quiet"
cp "$T/src/scans/scan.pdf" "$T/o/quiet/"
printf 'files: [quiet/]\noptions: {filters: off}\n' > "$T/o/quiet.batch.yaml"
mv "$T/o/quiet" "$INBOX/quiet" && mv "$T/o/quiet.batch.yaml" "$INBOX/"
check "filters: off: batch finishes" wait_batch_done quiet
check "filters: off: a scan done without its filter (no log.txt, no filter)" \
        sh -c "test '$(job_state quiet quiet/scan)' = done && test ! -e '$OUTBOX/quiet/quiet/scan/log.txt' && jq -e 'has(\"filter\") | not' '$OUTBOX/quiet/quiet/scan/status.json'"

# A failing filter fails the job with its exit code and last line.
manifest() { # manifest NAME PROFILE: a batch of one PDF with PROFILE
        mkdir -p "$T/m/$1"
        mkpdf "$T/m/$1/$1.pdf" 1 "$1"
        printf 'files: [%s/]\nprofile: %s\n' "$1" "$2" > "$T/m/$1.batch.yaml"
        mv "$T/m/$1" "$INBOX/$1" && mv "$T/m/$1.batch.yaml" "$INBOX/"
}
manifest bad failing
check "failing: batch finishes" wait_batch_done bad
check "failing: job failed with the exit status and last line" \
        jq -e '.state == "failed" and .error == "filter ocr-broken failed with exit status 7: tesseract: no language data for xyz"' \
        "$OUTBOX/bad/bad/bad/status.json"
check "failing: log.txt kept with the output" grep -q "starting" "$OUTBOX/bad/bad/bad/log.txt"

# A filter that hangs: stopped at the job timeout (4 s), no more than a second late.
t0=$(date +%s%N)
manifest slow hanging
check "hanging: batch finishes" wait_batch_done slow 30
t1=$(date +%s%N)
check "hanging: failed as timed out" jq -e '.state == "failed" and (.error | test("^timed out: still running after 4 s"))' \
        "$OUTBOX/slow/slow/slow/status.json"
secs=$(jq -r .seconds "$OUTBOX/slow/slow/slow/status.json")
check "hanging: ended within the timeout plus a second ($secs s)" awk -v s="$secs" 'BEGIN { exit !(s < 5.0) }'
diag "batch took $(( (t1 - t0) / 1000000 )) ms from drop"
check "hanging: no process of the filter left" sh -c '! pgrep -f "$1/hang" >/dev/null' sh "$F"

# Cancel while a filter runs.
JOB_TIMEOUT=60s
manifest stop hanging
wait_for 20 sh -c "ls '$OUTBOX/stop/stop'/.pdfspool-tmp.*/log.txt" >/dev/null 2>&1
check "cancel: the filter is running" wait_for 20 sh -c "grep -q hanging '$OUTBOX'/stop/stop/.pdfspool-tmp.*/log.txt"
"$PDFSPOOLCTL" -c "$CFG" cancel stop >/dev/null 2>&1
check "cancel: the batch ends canceled" wait_for 10 batch_is stop canceled
check "cancel: the job says canceled" test "$(jq_file "$OUTBOX/stop/stop/stop/status.json" .state)" = canceled

# Output is bounded.
manifest loud chatty
check "chatty: done" wait_batch_done loud
size=$(stat -c %s "$OUTBOX/loud/loud/loud/log.txt")
check "chatty: log.txt bounded ($size bytes)" test "$size" -le $((256 * 1024 + 100))
check "chatty: the cut is said" grep -q "more output, not kept" "$OUTBOX/loud/loud/loud/log.txt"

stop_daemon
done_testing
