#!/bin/bash
# What a finished batch gives people and tools: pdfspoolctl export (a ZIP that
# unzip and bsdtar accept, entries in a stable order, originals on request, to
# stdout with -o -), the automatic ZIP, the summary page (rendered in headless
# Chromium when installed), completion hooks (environment, output in the log,
# a failing or hanging hook never fails the batch), the metrics file, and
# pdfspoolctl watch on a pseudo-terminal and with --json.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed (apt-get install mupdf-tools)"
command -v jq >/dev/null || skip_all "jq not installed"
command -v unzip >/dev/null || skip_all "unzip not installed"
command -v bsdtar >/dev/null || skip_all "bsdtar not installed (apt-get install libarchive-tools)"
command -v python3 >/dev/null || skip_all "python3 not installed (parses the metrics, runs a pty)"
here=$top_srcdir/tests/system

# A hook that records its environment; the batch hook then fails, the job hook hangs.
cat > "$T/hook" <<'H'
#!/bin/sh
env | grep '^PDFSPOOL_' | sort > "$HOOK_DIR/$PDFSPOOL_EVENT.$PDFSPOOL_BATCH.env"
echo "hook output for $PDFSPOOL_BATCH"
[ -n "${PDFSPOOL_ZIP:-}" ] && [ -f "$PDFSPOOL_ZIP" ] && echo "zip was there" > "$HOOK_DIR/$PDFSPOOL_EVENT.zip"
[ "$PDFSPOOL_EVENT" = job_failed ] && echo $$ > "$HOOK_DIR/sleeper.pid" && exec sleep 60
exit 3
H
chmod +x "$T/hook"
mkdir -p "$T/hooks" "$T/metrics"
write_config 0.5s "metrics_file: $T/metrics/pdfspool.prom" "    zip: on
    hook_timeout: 2s
    hooks:
      batch_finished: [/usr/bin/env, HOOK_DIR=$T/hooks, $T/hook]
      job_failed: [/usr/bin/env, HOOK_DIR=$T/hooks, $T/hook]"
start_daemon || bail "daemon did not start"

src=$T/src/b1
mkdir -p "$src/sub"
for i in 1 2 3 4; do mkpdf "$src/part$i.pdf" 2 "part $i"; done
mkpdf "$src/sub/deep.pdf" 1
printf '%%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\nendobj\ngarbage garbage\n%%%%EOF\n' > "$src/damaged.pdf"
echo "notes" > "$src/notes.txt"
cp -r "$src" "$INBOX/"
wait_for 30 test -f "$OUTBOX/b1/status.json" || bail "no batch b1"
# Started while the batch runs; jobs already ended are reported as they are.
timeout 90 "$PDFSPOOLCTL" -c "$CFG" watch b1 --json > "$T/watch.json"; watch_rc=$?
check "b1 finishes" wait_batch_done b1

# ---- watch --json ----
check "watch --json exits 4 (finished, a job failed), got $watch_rc" test "$watch_rc" -eq 4
check "watch --json: one JSON object per line" sh -c "jq -c . '$T/watch.json' | wc -l | grep -qx \"$(wc -l < "$T/watch.json")\""
check "watch --json: job_done for each of the 5 good jobs" \
        test "$(jq -r 'select(.event == "job_done") | .job' "$T/watch.json" | sort -u | wc -l)" -eq 5
check "watch --json: job_failed for damaged, with its error" \
        jq -se 'any(.[]; .event == "job_failed" and .job == "damaged" and (.error | length) > 0)' "$T/watch.json"
check "watch --json: batch_finished, then watch_ended failed" \
        jq -se '(map(.event) | index("batch_finished")) != null and .[-1].event == "watch_ended" and .[-1].result == "failed"' "$T/watch.json"
"$PDFSPOOLCTL" -c "$CFG" watch nosuchbatch >/dev/null 2>&1
check "watch of an unknown batch exits 1" test $? -eq 1

# ---- watch on a terminal ----
python3 "$here/export-pty.py" 30 "$PDFSPOOLCTL" -c "$CFG" watch b1 > "$T/pty.out"; pty_rc=$?
check "watch on a pty exits 4 for b1, got $pty_rc" test "$pty_rc" -eq 4
check "watch on a pty draws a bar and clears the line in place" grep -q $'\r\x1b\\[K' "$T/pty.out"
check "watch on a pty: progress bar and the end" sh -c "grep -q '\[####################\]' '$T/pty.out' && grep -q 'finished: some jobs failed' '$T/pty.out'"
"$PDFSPOOLCTL" -c "$CFG" watch b1 > "$T/pipe.out"
check "watch to a pipe: plain lines, no escape sequences" sh -c "! grep -q $'\x1b' '$T/pipe.out' && grep -q '^b1: done, 5/6 done, 1 failed' '$T/pipe.out'"

# ---- export ----
"$PDFSPOOLCTL" -c "$CFG" export b1 -o "$T/b1.zip" 2>/dev/null
check "export -o FILE: unzip -t finds no errors" unzip -tq "$T/b1.zip"
bsdtar -tf "$T/b1.zip" > "$T/list1"
check "bsdtar -tf reads it" test -s "$T/list1"
check "entries in byte order of their paths" sh -c "LC_ALL=C sort -c '$T/list1'"
check "results are in, originals are not (default)" \
        sh -c "grep -qx part1/text.txt '$T/list1' && grep -qx sub/deep/meta.json '$T/list1' && ! grep -q '\.pdf$' '$T/list1' && ! grep -qx notes.txt '$T/list1'"
"$PDFSPOOLCTL" -c "$CFG" export b1 -o - 2>/dev/null > "$T/stdout.zip"
check "export -o - writes the same entries to stdout" sh -c "bsdtar -tf '$T/stdout.zip' | cmp -s - '$T/list1' && unzip -tq '$T/stdout.zip'"
"$PDFSPOOLCTL" -c "$CFG" export b1 -o "$T/again.zip" 2>/dev/null
check "a second export lists the same entries in the same order" sh -c "bsdtar -tf '$T/again.zip' | cmp -s - '$T/list1'"
"$PDFSPOOLCTL" -c "$CFG" export b1 --with-originals -o "$T/orig.zip" 2>/dev/null
check "--with-originals adds each original, byte for byte" \
        sh -c "unzip -p '$T/orig.zip' part2/part2.pdf | cmp -s - '$src/part2.pdf' && bsdtar -tf '$T/orig.zip' | grep -qx damaged/damaged.pdf"
"$PDFSPOOLCTL" -c "$CFG" export nosuchbatch -o "$T/none.zip" 2>/dev/null
check "export of an unknown batch exits 1 and writes nothing" sh -c "test $? -eq 1 && test ! -e '$T/none.zip'"

# Streaming: a batch with a 64 MiB file (incompressible) is exported with a
# resident size well below it. The batch is made by hand: export reads only files.
mkdir -p "$OUTBOX/big/j"
echo '{"batch": "big", "queue": "test", "state": "done", "jobs": {"total": 1}}' > "$OUTBOX/big/status.json"
echo '{"job": "j", "batch": "big", "original": "j.pdf", "state": "done"}' > "$OUTBOX/big/j/status.json"
head -c 64M /dev/urandom > "$OUTBOX/big/j/text.txt"
rss_kib=$(python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out:
    rc = subprocess.run(sys.argv[2:], stdout=out).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else -1)' \
        "$T/big.zip" "$PDFSPOOLCTL" -c "$CFG" export big -o -)
check "export streams: 64 MiB exported with at most 24 MiB resident (got ${rss_kib} KiB)" \
        test "$rss_kib" -gt 0 -a "$rss_kib" -lt $((24 * 1024))
check "... and the big ZIP holds the file intact" sh -c "unzip -p '$T/big.zip' j/text.txt | cmp -s - '$OUTBOX/big/j/text.txt'"
rm -rf "$OUTBOX/big" "$T/big.zip"

# ---- automatic ZIP and summary page ----
check "automatic ZIP: <outbox>/b1.zip appears" wait_for 30 test -f "$OUTBOX/b1.zip"
check "automatic ZIP: unzip -t accepts it" unzip -tq "$OUTBOX/b1.zip"
check "automatic ZIP: no temp file left in the outbox" sh -c "! ls -A '$OUTBOX' | grep -q '^\.'"
check "summary page written" wait_for 30 grep -q '</html>' "$OUTBOX/b1/index.html"
check "summary page: one row per job (6)" test "$(grep -o '<tr class="job ' "$OUTBOX/b1/index.html" | wc -l)" -eq 6
check "summary page: no script" sh -c "! grep -qi '<script' '$OUTBOX/b1/index.html'"
check "summary page: damaged job with its error, links to outputs" \
        sh -c "grep -q 'no pages found' '$OUTBOX/b1/index.html' && grep -q 'href=\"part1/text.txt\"' '$OUTBOX/b1/index.html' && grep -q 'src=\"part1/thumb.png\"' '$OUTBOX/b1/index.html'"
check "summary page: statistics (jobs by state, pages, pages/s, slowest)" \
        sh -c "grep -q '5 done, 1 failed' '$OUTBOX/b1/index.html' && grep -q '<td>Pages</td><td>9</td>' '$OUTBOX/b1/index.html' && grep -q 'Pages/s' '$OUTBOX/b1/index.html' && grep -q 'Slowest jobs' '$OUTBOX/b1/index.html'"
# Debian's python3-pil is in the system python, not in another python3 on PATH.
pil_python=/usr/bin/python3
if command -v chromium >/dev/null && "$pil_python" -c 'import PIL' 2>/dev/null; then
        prof=$(mktemp -d "$T/chromium.XXXXXX")
        opts="--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run --user-data-dir=$prof"
        (cd "$T" && timeout 60 chromium $opts --screenshot="$T/shot.png" --window-size=1280,900 "file://$OUTBOX/b1/index.html") >/dev/null 2>&1
        check "Chromium: screenshot taken" test -s "$T/shot.png"
        [ -n "${EXPORT_SHOT:-}" ] && cp "$T/shot.png" "$EXPORT_SHOT"
        check "Chromium: screenshot is not blank" "$pil_python" -c "
import sys; from PIL import Image
sys.exit(0 if len(set(Image.open('$T/shot.png').convert('L').getdata())) > 8 else 1)"
        timeout 60 chromium $opts --dump-dom "file://$OUTBOX/b1/index.html" > "$T/dom.html" 2>/dev/null
        check "Chromium: the rendered page has one row per job (6)" \
                test "$(grep -o '<tr class="job [a-z]*">' "$T/dom.html" | wc -l)" -eq 6
else
        diag "skipped the Chromium checks: chromium or python3-pil not installed (apt-get install chromium python3-pil)"
fi

# ---- hooks ----
env_file=$T/hooks/batch_finished.b1.env
check "batch_finished hook ran" wait_for 30 test -s "$env_file"
check "hook environment: batch, queue, state, counts, status path" \
        sh -c "grep -qx PDFSPOOL_BATCH=b1 '$env_file' && grep -qx PDFSPOOL_QUEUE=test '$env_file' && grep -qx PDFSPOOL_STATE=done '$env_file' &&
               grep -qx PDFSPOOL_JOBS_DONE=5 '$env_file' && grep -qx PDFSPOOL_JOBS_FAILED=1 '$env_file' && grep -qx PDFSPOOL_JOBS_SKIPPED=1 '$env_file' &&
               grep -qx 'PDFSPOOL_STATUS=$OUTBOX/b1/status.json' '$env_file' && grep -qx 'PDFSPOOL_ZIP=$OUTBOX/b1.zip' '$env_file'"
check "the hook ran after the ZIP was in place" test -s "$T/hooks/batch_finished.zip"
check "hook output is in the log, tagged" wait_for 10 grep -q 'batch=b1: hook batch_finished: hook output for b1' "$LOG"
check "failing hook is logged" wait_for 10 grep -q 'hook batch_finished failed: exit status 3' "$LOG"
check "failing hook does not fail the batch" test "$(batch_state b1)" = done
check "job_failed hook ran with the job and its error" \
        sh -c "grep -qx PDFSPOOL_JOB=damaged '$T/hooks/job_failed.b1.env' && grep -q '^PDFSPOOL_JOB_ERROR=damaged PDF' '$T/hooks/job_failed.b1.env'"
check "a hook past hook_timeout is killed and logged" wait_for 20 grep -q 'hook job_failed: still running after 2 s: killed' "$LOG"
check "the killed hook is gone" wait_for 10 not_running "$(cat "$T/hooks/sleeper.pid")"

# README's mail hook, with sendmail replaced by a file, in the environment the hook had.
awk '/^```sh$/ { buf = ""; on = 1; next }
     on && /^```$/ { if (buf ~ /pdfspool-mail-summary RECIPIENT/) { printf "%s", buf; exit } on = 0; next }
     on { buf = buf $0 "\n" }' "$top_srcdir/README.md" > "$T/mail-summary"
grep -q '^# /usr/local/bin/pdfspool-mail-summary' "$T/mail-summary" || bail "README's mail hook not found"
printf '#!/bin/sh\ncat > "%s/mail.txt"\n' "$T" > "$T/sendmail"
chmod +x "$T/sendmail"
sed -i "s|/usr/sbin/sendmail|$T/sendmail|" "$T/mail-summary"
(PATH=$top_builddir/src:$PATH; export $(cat "$env_file"); sh "$T/mail-summary" team@example.com)
check "README's sendmail hook mails the batch's status" \
        sh -c "grep -qx 'To: team@example.com' '$T/mail.txt' && grep -q '^Subject: pdfspool: b1 done: 5 done, 1 failed, 9 pages' '$T/mail.txt' && grep -q '^Batch: *b1' '$T/mail.txt'"

# ---- metrics ----
check "metrics file appears" wait_for 20 test -s "$T/metrics/pdfspool.prom"
wait_for 20 sh -c "grep -q 'pdfspool_jobs_ended_total{queue=\"test\",state=\"failed\"} 1' '$T/metrics/pdfspool.prom'"
python3 "$here/export-metrics.py" "$T/metrics/pdfspool.prom" > "$T/metrics.json" 2> "$T/metrics.err"
check "metrics file parses as Prometheus text format$( [ -s "$T/metrics.err" ] && echo ": $(cat "$T/metrics.err")")" test -s "$T/metrics.json"
m() { jq -r --arg k "$1" '.[$k]' "$T/metrics.json"; }
check "metrics: jobs ended by state (5 done, 1 failed)" \
        test "$(m 'pdfspool_jobs_ended_total{queue="test",state="done"}')/$(m 'pdfspool_jobs_ended_total{queue="test",state="failed"}')" = 5/1
check "metrics: pages processed (9)" test "$(m 'pdfspool_pages_processed_total{queue="test"}')" = 9
check "metrics: histogram counted 6 jobs" test "$(m 'pdfspool_job_processing_seconds_count{queue="test"}')" = 6
check "metrics: queue depth, oldest queued age, worker restarts present" \
        sh -c "test '$(m 'pdfspool_queue_depth{queue="test"}')' = 0 && test '$(m 'pdfspool_oldest_queued_job_age_seconds{queue="test"}')' = 0 && test '$(m 'pdfspool_worker_restarts_total{}')' = 0"
check "metrics file replaced atomically: no temp left beside it" test "$(ls -A "$T/metrics")" = pdfspool.prom

# ---- while a batch runs: the summary page and watch follow it ----
stop_daemon
export PDFSPOOL_WORKER=$here/fake-worker.py FAKE_WORKER_GATE=$T/gate
start_daemon || bail "daemon did not start again"
mkdir -p "$T/src/gated"
# What a ZIP writer killed midway leaves (its pid is gone): removed when that batch's ZIP is written.
dead_pid=$(sh -c 'echo $$')
echo partial > "$OUTBOX/.pdfspool-tmp.gated.zip.$dead_pid"
for n in ok1 ok2 gate1 crash1; do mkpdf "$T/src/gated/$n.pdf" 1; done
mv "$T/src/gated" "$INBOX/"
check "gated batch: two jobs done, one crashed its worker, one waits" \
        wait_for 30 sh -c "jq -e '.jobs.done == 2 and .jobs.failed == 1 and .jobs.processing == 1' '$OUTBOX/gated/status.json'"
"$PDFSPOOLCTL" -c "$CFG" watch --all --json > "$T/live.json" & watch_pid=$!
check "summary page of the running batch appears, throttled, with 4 rows" \
        wait_for 20 sh -c "test \$(grep -o '<tr class=\"job ' '$OUTBOX/gated/index.html' | wc -l) -eq 4"
check "... it says processing and asks the browser to reload it" \
        sh -c "grep -q '<b>processing</b>' '$OUTBOX/gated/index.html' && grep -q 'http-equiv=\"refresh\"' '$OUTBOX/gated/index.html'"
check "metrics of the running batch: one job processing" \
        wait_for 20 grep -q 'pdfspool_jobs{queue="test",state="processing"} 1' "$T/metrics/pdfspool.prom"
check "metrics: the crashed worker counts as a restart" \
        wait_for 20 grep -qx 'pdfspool_worker_restarts_total 1' "$T/metrics/pdfspool.prom"
# facts.json as the worker writes it (a value with markup in it, which must stay text)
cat > "$OUTBOX/gated/ok1/facts.json" <<'F'
{"manufacturer": {"value": "Texas Instruments", "page": 1, "source": "www.ti.com", "confidence": 0.9},
 "part_number": {"value": "LM317<script>alert(1)</script>", "page": 1, "source": "LM317", "confidence": 0.9},
 "packages": [{"value": "TO-220", "page": 1}, {"value": "SOT-223", "page": 1}],
 "temperature": {"min": -40, "max": 125, "unit": "°C", "page": 1}}
F
touch "$T/gate"
check "gated batch finishes" wait_batch_done gated
check "watch --all ends by itself when the batch is done" wait_for 30 not_running "$watch_pid"
wait $watch_pid; live_rc=$?
check "watch --all exit status 4 (a job failed), got $live_rc" test "$live_rc" -eq 4
check "watch --all saw gate1 done live, then the batch finish" \
        jq -se 'any(.[]; .event == "job_done" and .job == "gate1") and any(.[]; .event == "batch_finished" and .batch == "gated") and .[-1].result == "failed"' "$T/live.json"
check "gated batch's ZIP written, the stale temp of a killed writer gone" \
        wait_for 20 sh -c "unzip -tq '$OUTBOX/gated.zip' && test ! -e '$OUTBOX/.pdfspool-tmp.gated.zip.$dead_pid'"
check "summary page: key facts from facts.json, markup kept as text" \
        sh -c "grep -q 'Manufacturer:</b> Texas Instruments' '$OUTBOX/gated/index.html' && grep -q 'LM317&lt;script&gt;' '$OUTBOX/gated/index.html' &&
               grep -q 'TO-220, SOT-223' '$OUTBOX/gated/index.html' && grep -q -- '-40 … 125 °C' '$OUTBOX/gated/index.html' && ! grep -qi '<script' '$OUTBOX/gated/index.html'"
check "the final summary page no longer reloads" \
        wait_for 20 sh -c "grep -q '<b>done</b>' '$OUTBOX/gated/index.html' && ! grep -q 'http-equiv' '$OUTBOX/gated/index.html'"

stop_daemon

# ---- a stop waits (stop_grace) for what a batch's end started, then kills it and leaves no temp ----
cat > "$T/slowhook" <<'H'
#!/bin/sh
echo $$ > "$HOOK_DIR/slow.pid"
exec sleep 60
H
chmod +x "$T/slowhook"
write_config 0.5s "stop_grace: 1s" "    zip: on
    hooks:
      batch_finished: [/usr/bin/env, HOOK_DIR=$T/hooks, $T/slowhook]"
start_daemon || bail "daemon did not start again"
mkdir -p "$T/src/atstop"
mkpdf "$T/src/atstop/one.pdf" 1
mv "$T/src/atstop" "$INBOX/"
check "batch atstop finishes, its ZIP in place" wait_for 60 sh -c "test \"\$(jq -r .state '$OUTBOX/atstop/status.json' 2>/dev/null)\" = done && test -s '$OUTBOX/atstop.zip'"
check "its batch_finished hook runs" wait_for 30 test -s "$T/hooks/slow.pid"
slow_pid=$(cat "$T/hooks/slow.pid")
stop_started=$(date +%s%N)
kill -TERM "$DAEMON_PID"
check "the daemon stops within stop_grace (twice: jobs, then hooks) and a few seconds" wait_for 15 not_running "$DAEMON_PID"
stop_ms=$(( ($(date +%s%N) - stop_started) / 1000000 ))
wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
diag "stop took $stop_ms ms"
check "a stop waits for a running hook for stop_grace at least ($stop_ms ms)" test "$stop_ms" -ge 900
check "the hook still running at the end of stop_grace is killed, and logged" \
        sh -c "! kill -0 $slow_pid 2>/dev/null && grep -q 'batch=atstop: hook batch_finished: still running at stop: killed' '$LOG'"
check "no temp left in the outbox after the stop" \
        test -z "$(find "$OUTBOX" -name '.*' \( -name '.pdfspool-tmp.*' -o -name '*.tmp-*' -o -name '*.tmp' \) | head -n 3)"
done_testing
