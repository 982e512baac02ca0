#!/bin/bash
# A polled inbox (watch: poll, here on a local folder) is read by a child
# process: a drop is taken as with inotify; when the inbox cannot be read
# (moved away: ENOENT) the queue goes on hold once, with the reason in the log
# and STATUS=, and resumes at the first poll that reads it again (issue 18).
# What it sees is said at start, on reload and in pdfspoolctl health.
# The same on a real SMB client mount: smbmount.sh.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (listens on NOTIFY_SOCKET)"

write_config 1s "" "    watch: poll
    poll_interval: 1s"
SOCK=$T/notify.sock
notify_listen "$SOCK" "$T/notify.txt" || bail "notify reader did not start"
EXTRA_CLEANUP="kill $NOTIFY_READER_PID 2>/dev/null"
NOTIFY_SOCKET=$SOCK start_daemon || bail "daemon did not start"
check "watch: poll on a local folder is said so" grep -q "watching inbox $INBOX (polling every 1.0 s, local file system)" "$LOG"
check "STATUS= names no network mount for a local folder" bash -c "! grep -q 'mount, polled' '$T/notify.txt'"
mkpdf "$T/a.pdf" 2
mkdir -p "$T/src/f"; cp "$T/a.pdf" "$T/src/f/x.pdf"; cp -r "$T/src/f" "$INBOX/"
cp "$T/a.pdf" "$INBOX/single.pdf"
check "a folder dropped into the polled inbox is done" wait_batch_done f 30
check "a file dropped into the polled inbox is done" wait_batch_done single 30

mv "$INBOX" "$T/away"
check "inbox moved away: the queue is on hold, with the reason" \
        wait_for 20 grep -q "queue=test: queue on hold: cannot read inbox $INBOX: No such file or directory" "$LOG"
check "STATUS= says the queue is on hold" wait_for 10 grep -q "STATUS=.*queue test on hold: cannot read inbox" "$T/notify.txt"
mv "$T/away" "$INBOX"
cp "$T/a.pdf" "$INBOX/back.pdf"
check "inbox back: resumed, and says so" wait_for 20 grep -q "queue=test: inbox $INBOX reads again; queue resumed" "$LOG"
# every poll while it was away failed (one a second, from the hold to the resume)
check "the hold was said once, however many polls failed" test "$(grep -c 'queue=test: queue on hold' "$LOG")" = 1
check "a drop made while it was away is done" wait_batch_done back 30
check "STATUS= no longer says hold" wait_for 10 sh -c "tail -n 1 '$T/notify.txt' | grep -v 'on hold' | grep -q STATUS="
kill -HUP "$DAEMON_PID"
check "on reload the queue says again what it can see" \
        wait_for 10 sh -c "grep -c 'queue=test: watching inbox $INBOX (polling every 1.0 s, local file system)' '$LOG' | grep -qx 2"
check "health shows the daemon's view of the queue" \
        sh -c "'$PDFSPOOLCTL' -c '$CFG' health | grep -q 'Queue test: sees   polling every 1.0 s, local file system'"
stop_daemon
done_testing
