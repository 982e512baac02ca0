#!/bin/bash
# Bounded work on what a drop controls: a manifest listing 100,000 files that
# never arrive, and a 1 MiB manifest made of labels (far over the limit), never
# hold the event loop. The daemon runs with a watchdog of 1 s (sd-event pings
# every 0.5 to 0.75 s when idle, every 0.25 s when busy); the longest gap
# between WATCHDOG=1 messages, measured where the service manager would
# receive them, must stay under 1 s. Both manifests end with a reason, and a
# PDF dropped afterwards is done.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (listens on NOTIFY_SOCKET)"

N_MISSING=${N_MISSING:-100000}
# The spool on a tmpfs when we may mount one: registering 100,000 failed jobs
# writes and syncs a file for each, minutes on a busy disk.
if [ "$(id -u)" = 0 ] && mkdir -p "$T/fs" && mount -t tmpfs -o size=1g tmpfs "$T/fs" 2>/dev/null; then
        FS_CLEANUP="umount -l '$T/fs'"
        INBOX=$T/fs/inbox OUTBOX=$T/fs/outbox STATE=$T/fs/state
else
        FS_CLEANUP=:
        diag "not root or no tmpfs: the spool is on $(stat -f -c %T "$T")"
fi
write_config 0.5s "" "    manifest_timeout: 3s"
mkpdf "$T/a.pdf" 1 "after the flood"

# Every message with the monotonic time it arrived.
SOCK=$T/notify.sock
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
f = open(sys.argv[2], "a")
while True:
    m = s.recv(65536).decode(errors="replace")
    for line in m.split("\n"):
        f.write("%.6f %s\n" % (time.monotonic(), line))
    f.flush()
' "$SOCK" "$T/notify.txt" &
EXTRA_CLEANUP="kill $! 2>/dev/null; $FS_CLEANUP"
wait_for 10 test -S "$SOCK" || bail "listener did not start"

# gap FROM-LINE [TO-LINE]: the longest time between WATCHDOG=1 messages, from
# the last one before line FROM of notify.txt on, up to line TO (or up to now)
gap() {
        local now; now=$(python3 -c 'import time; print("%.6f" % time.monotonic())')
        awk -v from="$1" -v to="${2:-0}" -v now="$now" '
                to && NR >= to { exit }
                $2 == "WATCHDOG=1" { if (NR >= from && last) { g = $1 - last; if (g > max) max = g } last = $1 }
                END { if (!to && now - last > max) max = now - last; printf "%.3f\n", max }' "$T/notify.txt"
}
lines() { wc -l < "$T/notify.txt"; }
gap_ok() { awk -v g="$1" 'BEGIN { exit !(g < 1.0) }'; }
watchdog_seen() { grep -q ' WATCHDOG=1$' "$T/notify.txt"; }

NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 start_daemon || bail "daemon did not start"
check "the daemon pings the watchdog" wait_for 10 watchdog_seen

# (a) 100,000 listed files, none of them ever arrives.
python3 -c '
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    f.write("batch: flood\nfiles:\n")
    for i in range(n):
        f.write("- n/%05d\n" % i)    # short: 100,000 of them fit in 1 MiB
' "$T/flood.batch.yaml" "$N_MISSING"
from=$(($(lines) + 1))
start=$(date +%s)
mv "$T/flood.batch.yaml" "$INBOX/"
# While it waits, the listed paths are looked at again and again.
check "(a) the manifest waits, then is taken without the missing files" \
        wait_for 120 grep -q "manifest flood.batch.yaml: $N_MISSING listed files still missing after 3 s" "$LOG"
to=$(lines)
g=$(gap "$from" "$to")
diag "(a) while waiting: longest gap between WATCHDOG=1 messages: $g s"
check "(a) while waiting: no watchdog gap of 1 s or more (longest $g s)" gap_ok "$g"
flood_ended() { [ -f "$OUTBOX/flood/status.json" ] && [ "$(jq_file "$OUTBOX/flood/status.json" .state)" = done ]; }
check "(a) 100,000 missing files: the batch ends" wait_for 900 flood_ended
diag "(a) took $(($(date +%s) - start)) s"
s=$OUTBOX/flood/status.json
check "(a) every listed file is a failed job" test "$(jq_file "$s" .jobs.failed)" = "$N_MISSING"
check "(a) a failed job says it is missing" \
        sh -c "jq -r .error '$OUTBOX/flood/n/00000/status.json' | grep -q '^missing: the manifest lists it'"
g=$(gap "$to")
diag "(a) claim and registration: longest gap between WATCHDOG=1 messages: $g s"
check "(a) claim and registration: no watchdog gap of 1 s or more (longest $g s)" gap_ok "$g"

# (b) about 1 MiB of labels: far over the limit of 100.
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    f.write("files:\n  - x.pdf\nlabels:\n")
    i = 0
    while f.tell() < 1024 * 1024 - 64:
        f.write("  l%06d: v\n" % i); i += 1
' "$T/labels.batch.yaml"
from=$(($(lines) + 1))
mv "$T/labels.batch.yaml" "$INBOX/"
st=$OUTBOX/rejected/labels.batch.yaml.status.json
check "(b) 1 MiB of labels: the manifest is rejected" wait_for 120 test -f "$st"
check "(b) the reason names line and column and the limit" \
        sh -c "jq -r .reason '$st' | grep -Eq '^manifest refused, nothing was taken: labels.batch.yaml:[0-9]+:[0-9]+: more than 100 labels'"
diag "(b) reason: $(jq_file "$st" .reason)"
g=$(gap "$from")
diag "(b) longest gap between WATCHDOG=1 messages: $g s"
check "(b) no watchdog gap of 1 s or more (longest $g s)" gap_ok "$g"

# Still answering: a plain PDF is done.
mkdir -p "$T/src/after" && cp "$T/a.pdf" "$T/src/after/" && mv "$T/src/after" "$INBOX/"
check "a PDF dropped afterwards is done" wait_batch_done after 60
check "daemon still running" kill -0 "$DAEMON_PID"
done_testing
