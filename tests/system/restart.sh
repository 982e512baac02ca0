#!/bin/bash
# SIGKILL mid-batch, then start again: the batch resumes, jobs already done are
# not redone, every job ends exactly once, nothing half-written is left in the
# outbox. READY=1 comes only after recovery; STATUS= lines arrive; STOPPING=1
# on SIGTERM.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (needed to listen on NOTIFY_SOCKET)"

N=40
WORKERS=1 write_config 0.5s
mkdir -p "$T/src/big"
mkpdf "$T/proto.pdf" 300 "restart test"
mkpdf_copies "$T/proto.pdf" "$T/src/big" $N
cp -r "$T/src/big" "$T/pristine"
start_daemon || bail "daemon did not start"
mv "$T/src/big" "$INBOX/"
done_jobs() { [ "$(grep -c 'batch=big job=.*: job done' "$LOG")" -ge "$1" ]; }
check "batch started processing" wait_for 60 done_jobs 3
check "batch status says processing" wait_for 10 batch_is big processing
kill_daemon
before=$(grep -c 'batch=big job=.*: job done' "$LOG")
check "killed mid-batch ($before of $N done)" test "$before" -lt $N

# Recovery must rewrite what readers see before READY=1: remove the batch status
# and check, at the moment READY=1 arrives, that it is back.
rm -f "$OUTBOX/big/status.json"
SOCK=$T/notify.sock
cat > "$T/listen.py" <<'PY'
import os, socket, sys
sock, out, status = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock)
with open(out, "a") as f:
    while True:
        m = s.recv(65536).decode(errors="replace")
        for line in m.split("\n"):
            if line == "READY=1":
                f.write("STATUS-FILE-AT-READY=%s\n" % ("yes" if os.path.exists(status) else "no"))
            f.write(line + "\n")
        f.flush()
PY
python3 "$T/listen.py" "$SOCK" "$T/notify.txt" "$OUTBOX/big/status.json" &
LISTENER=$!
EXTRA_CLEANUP="kill $LISTENER 2>/dev/null"
wait_for 10 test -S "$SOCK" || bail "notify listener did not start"
NOTIFY_SOCKET=$SOCK start_daemon || bail "daemon did not restart"
check "READY=1 sent" wait_for 10 grep -q '^READY=1$' "$T/notify.txt"
check "READY=1 only after recovery rewrote the batch status" grep -q '^STATUS-FILE-AT-READY=yes$' "$T/notify.txt"
check "resumed batch finishes" wait_batch_done big 120
check "STATUS= lines report progress" grep -q '^STATUS=.*jobs done' "$T/notify.txt"
check "STATUS= reports pages/s" grep -q '^STATUS=.*pages/s' "$T/notify.txt"

# Exactly once: none ended twice (no job logged done twice across both runs;
# the log line follows the job's record, so a kill between the two can leave a
# job done without its line, never two lines).
dups=$(grep -o 'batch=big job=[^:]*: job done' "$LOG" | sort | uniq -d | wc -l)
check "no job ended twice ($dups duplicates)" test "$dups" -eq 0
check "resume logged" grep -q 'batch=big: batch resumed' "$LOG"

stop_daemon
# The rest of exactly once, by the shared checker: every PDF's bytes in the
# outbox once, as a done job's original with all its outputs; status files
# parse and agree with each other and with the state dir; no temp, no claim left.
check_spool "$T/pristine"
ok $? "the spool's invariant holds (check-spool: all $N done once, nothing lost or left)"
check "STOPPING=1 sent on SIGTERM" wait_for 5 grep -q '^STOPPING=1$' "$T/notify.txt"
done_testing
