#!/bin/bash
# Never blind: an inotify queue overflow leads to a full rescan at once; an
# inbox that is missing at start, or removed and recreated, puts the queue on
# hold with the reason in STATUS= and it resumes by itself.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (listens on NOTIFY_SOCKET)"

write_config 0.5s "rescan_interval: 1h"
rmdir "$INBOX"
mkpdf "$T/a.pdf" 1
SOCK=$T/notify.sock
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
f = open(sys.argv[2], "a")
while True:
    f.write(s.recv(65536).decode(errors="replace") + "\n"); f.flush()
' "$SOCK" "$T/notify.txt" &
EXTRA_CLEANUP="kill $! 2>/dev/null"
wait_for 10 test -S "$SOCK" || bail "listener did not start"

NOTIFY_SOCKET=$SOCK start_daemon || bail "daemon did not start"
check "missing inbox at start: queue on hold, logged" grep -q 'queue on hold: the inbox does not exist' "$LOG"
check "missing inbox: STATUS= says so" wait_for 5 grep -q 'STATUS=.*queue test on hold: the inbox does not exist' "$T/notify.txt"
check "daemon is READY despite the missing inbox" grep -q '^READY=1' "$T/notify.txt"
mkdir -p "$INBOX"
check "inbox appears: queue resumes by itself" wait_for 10 grep -q 'inbox .* is back; queue resumed' "$LOG"
mkdir -p "$T/src/first" && cp "$T/a.pdf" "$T/src/first/" && mv "$T/src/first" "$INBOX/"
check "drop after resume is processed" wait_batch_done first 30

# Inbox removed while running, then made again.
rm -rf "$INBOX"
check "inbox removed: hold with the reason" wait_for 10 grep -q 'queue on hold: the inbox was removed or moved' "$LOG"
mkdir -p "$INBOX"
mkdir -p "$T/src/second" && cp "$T/a.pdf" "$T/src/second/" && mv "$T/src/second" "$INBOX/"
check "inbox back: drop processed" wait_batch_done second 30
check "resume logged once per return" test "$(grep -c 'is back; queue resumed' "$LOG")" -eq 2


# An inbox that goes away (an unmount, a move) while a drop settles, and comes
# back with the drop in it: the drop is still taken.
mkdir -p "$T/src/settling" && cp "$T/a.pdf" "$T/src/settling/"
mv "$T/src/settling" "$INBOX/" && mv "$INBOX" "$T/inbox.away"
check "inbox moved away: hold" wait_for 10 sh -c "test \$(grep -c 'queue on hold: the inbox was removed or moved' '$LOG') -ge 2"
mv "$T/inbox.away" "$INBOX"
check "inbox back with a drop that was settling: it is taken" wait_batch_done settling 30

# Overflow: stop the daemon, make far more events than the kernel queues
# (max_queued_events), then drop a real folder whose events are lost.
max=$(cat /proc/sys/fs/inotify/max_queued_events)
kill -STOP "$DAEMON_PID"
mkdir -p "$INBOX/.noise"
for i in $(seq 1 $((max / 1000 + 2))); do
        (cd "$INBOX" && seq 1 1000 | sed "s/^/.n$i-/" | xargs touch)
done
mkdir -p "$T/src/lost" && cp "$T/a.pdf" "$T/src/lost/" && mv "$T/src/lost" "$INBOX/"
kill -CONT "$DAEMON_PID"
check "overflow: a full rescan, logged with the reason" wait_for 20 grep -q 'rescanning inbox .*: the inotify event queue overflowed' "$LOG"
check "overflow: the drop whose event was lost is processed" wait_batch_done lost 30
check "daemon still running" kill -0 "$DAEMON_PID"
done_testing
