#!/bin/bash
# bench/throughput.sh: pages per second through the whole daemon (intake,
# claim, workers, status files) on a folder of real PDFs, by default the
# third-party datasheets corpus. Prints what the batch status says, and a
# last line for bench/run: "BENCH files N pages P seconds S rss_idle_kb R
# rss_peak_kb R pss_peak_kb P cpu_s C" (drop to done; the daemon's RSS before the
# drop and at its peak, the peak PSS of daemon plus workers, the daemon's CPU).
# The folder is dropped with a ready marker (.ready), renamed into the inbox.
#   usage: bench/throughput.sh [FOLDER] [WORKERS]     (from a built tree)
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/system/lib.sh"
folder=${1:-$(corpus_dir)/datasheets}
[ -d "$folder" ] || { echo "no folder of PDFs: $folder" >&2; exit 1; }
WORKERS=${2:-$(nproc)}
write_config 0.2s
start_daemon || { echo "daemon did not start" >&2; exit 1; }
cp -r "$folder" "$T/bench"
# With a ready marker, as the issue measures: taken at once, no settle wait.
touch "$T/bench/.ready"
rss_idle=$(ps -o rss= -p "$DAEMON_PID")
python3 "$top_srcdir/bench/memsample" "$DAEMON_PID" "$T/mem" &
sampler=$!
start=$(date +%s.%N)
mv "$T/bench" "$INBOX/"
wait_for 900 batch_done bench || { echo "batch did not finish" >&2; exit 1; }
end=$(date +%s.%N)
touch "$T/mem.stop"; wait "$sampler"
jq -r --arg wall "$(python3 -c "print(round($end - $start, 2))")" --arg w "$WORKERS" \
        '"workers \($w): \(.jobs.done) done, \(.jobs.failed) failed, \(.pages_done) pages; \(.throughput.seconds) s processing, \(.throughput.pages_per_second | floor) pages/s; \($wall) s from drop to done"' \
        "$OUTBOX/bench/status.json"
echo "daemon RSS: $(ps -o rss= -p "$DAEMON_PID") KiB"
read -r _ _ _ rss_peak _ pss_peak _ < "$T/mem"
jq -r --arg s "$(python3 -c "print(round($end - $start, 3))")" --arg ri "$rss_idle" --arg rp "$rss_peak" \
        --arg pp "$pss_peak" --arg cpu "$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$DAEMON_PID/stat")" \
        '"BENCH files \(.jobs.done) pages \(.pages_done) seconds \($s) rss_idle_kb \($ri) rss_peak_kb \($rp) pss_peak_kb \($pp) cpu_s \($cpu)"' \
        "$OUTBOX/bench/status.json"
