#!/bin/bash
# bench/throughput.sh: pages per second through the whole daemon (intake,
# claim, workers, status files) on a folder of real PDFs, by default the
# third-party datasheets corpus. Prints what the batch status says.
#   usage: bench/throughput.sh [FOLDER] [WORKERS]     (from a built tree)
set -u
top_builddir=$(cd "$(dirname "$0")/.." && pwd)
top_srcdir=$top_builddir
. "$top_srcdir/tests/system/lib.sh"
folder=${1:-$(corpus_dir)/datasheets}
[ -d "$folder" ] || { echo "no folder of PDFs: $folder" >&2; exit 1; }
WORKERS=${2:-$(nproc)}
write_config 0.2s
start_daemon || { echo "daemon did not start" >&2; exit 1; }
cp -r "$folder" "$T/bench"
start=$(date +%s.%N)
mv "$T/bench" "$INBOX/"
wait_for 900 batch_done bench || { echo "batch did not finish" >&2; exit 1; }
end=$(date +%s.%N)
jq -r --arg wall "$(python3 -c "print(round($end - $start, 2))")" --arg w "$WORKERS" \
        '"workers \($w): \(.jobs.done) done, \(.jobs.failed) failed, \(.pages_done) pages; \(.throughput.seconds) s processing, \(.throughput.pages_per_second | floor) pages/s; \($wall) s from drop to done"' \
        "$OUTBOX/bench/status.json"
echo "daemon RSS: $(ps -o rss= -p "$DAEMON_PID") KiB"
