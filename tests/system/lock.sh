#!/bin/bash
# One daemon per state_dir: a second pdfspoold on the same configuration,
# started while the first processes a batch, refuses to start, names the
# holder's pid and host, and touches nothing; the first's batch finishes with
# every job done once. pdfspoolctl health names the holder (exit 0) and says
# when no daemon runs (exit 3). A lock held by a daemon killed with SIGKILL is
# released by the kernel: the next start is fine; while what it left behind
# still holds the lock, the next start waits for it.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"

N=6
WORKERS=1 write_config 0.5s
mkpdf "$T/a.pdf" 20 "lock test"
mkdir -p "$T/src/busy"
for i in $(seq 1 $N); do cp "$T/a.pdf" "$T/src/busy/p$i.pdf"; done
host=$(hostname)

check "health before any daemon ran: exit 3" sh -c "'$PDFSPOOLCTL' -c '$CFG' health; test \$? -eq 3"
start_daemon || bail "daemon did not start"
first=$DAEMON_PID
check "the lock file names the holder" jq -e ".pid == $first and .host == \"$host\"" "$STATE/.pdfspoold.lock"

# The slow path: the one worker is stopped, so the batch is still running
# whatever the machine's speed when the second daemon starts.
worker_started() { pgrep -P "$first" -f pdfspool-worker; }
wait_for 20 worker_started || bail "no worker started"
workers=$(pgrep -P "$first" -f pdfspool-worker | tr '\n' ' ')
# Only a worker that said hello gets jobs: it did once it waits in recv (read,
# recvfrom or recvmsg) for its first job.
waits_for_job() { awk '{ exit !($1 == 0 || $1 == 45 || $1 == 47) }' "/proc/$1/syscall"; }
for w in $workers; do wait_for 20 waits_for_job "$w" || bail "worker $w never waited for a job"; done
kill -STOP $workers
EXTRA_CLEANUP="kill -CONT $workers 2>/dev/null"
mv "$T/src/busy" "$INBOX/"
check "the batch is being processed" wait_for 30 batch_is busy processing

# The second daemon, same configuration, while the first works (its worker
# stopped, so nothing in the state directory changes meanwhile but by the second).
snapshot() { find "$STATE" -printf '%p %y %s %T@ %C@\n' | sort; }
snapshot > "$T/state.before"
t0=$(date +%s%N)
timeout 20 "$PDFSPOOLD" -c "$CFG" > "$T/second.log" 2>&1 </dev/null
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
diag "second daemon: exit $rc after $ms ms: $(cat "$T/second.log")"
still=$(batch_state busy)
check "second daemon exits non-zero (not killed by the deadline)" test "$rc" -ne 0 -a "$rc" -ne 124
check "within 5 s" test "$ms" -lt 5000
check "the message names state_dir, the holder's pid and host" \
        grep -qF "state_dir $STATE is in use by pdfspoold pid $first on host $host; only one daemon may use a state_dir" "$T/second.log"
check "the second daemon said nothing else" test "$(wc -l < "$T/second.log")" -eq 1
snapshot > "$T/state.after"
check "the second daemon touched nothing in the state directory" cmp -s "$T/state.before" "$T/state.after"
check "the first's batch was still running when the second gave up" test "$still" = processing
check "--check-config works while the daemon runs" "$PDFSPOOLD" --check-config -c "$CFG"
kill -CONT $workers

"$PDFSPOOLCTL" -c "$CFG" health > "$T/health.txt"
rc=$?
sed 's/^/# health: /' "$T/health.txt"
check "health while running: exit 0" test "$rc" -eq 0
check "health names the holder's pid and host" grep -qF "pdfspoold pid $first on host $host" "$T/health.txt"
check "health: inbox and outbox reachable" test "$(grep -c ': reachable$' "$T/health.txt")" -eq 2
check "health --json: running, pid, host, healthy" sh -c "'$PDFSPOOLCTL' -c '$CFG' health --json |
        jq -e '.healthy and .daemon.running and .daemon.pid == $first and .daemon.host == \"$host\" and
               .queues[0].inbox.reachable and .queues[0].outbox.reachable'"

check "the batch finishes" wait_batch_done busy 300
check "every job done" test "$(jq_file "$OUTBOX/busy/status.json" .jobs.done)" = $N
once=0
for i in $(seq 1 $N); do
        jq -e '.state == "done" and .attempts == 1' "$OUTBOX/busy/p$i/status.json" >/dev/null || once=1
done
ok $once "each job done in one attempt"
check "each job done once in the log" test "$(grep -c 'batch=busy job=p[0-9]*: job done' "$LOG")" -eq $N
check "no \"batch resumed\" anywhere" sh -c "! grep -q 'batch resumed' '$LOG' '$T/second.log'"

stop_daemon
check "health after the daemon stopped: exit 3" sh -c "'$PDFSPOOLCTL' -c '$CFG' health > '$T/health2.txt'; test \$? -eq 3"
check "health says no daemon runs" grep -q 'not running' "$T/health2.txt"

# kill -9: the kernel releases the lock with the process.
start_daemon || bail "daemon did not start again"
killed=$DAEMON_PID
kill_daemon
check "restart after kill -9 starts" start_daemon
check "the restarted daemon holds the lock" sh -c "'$PDFSPOOLCTL' -c '$CFG' health | grep -qF 'pdfspoold pid $DAEMON_PID on host'"
check "and not the killed one" test "$DAEMON_PID" != "$killed"
stop_daemon

# What a killed daemon left behind (a helper that has not yet died with it) still
# holds the lock, and the file names the daemon, which is gone: the next start
# waits for the lock instead of giving up, and says so.
gone=$(sh -c 'echo $$')
printf '{"pid":%s,"host":"%s","started":"x"}' "$gone" "$host" > "$STATE/.pdfspoold.lock"
python3 -c 'import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
open(sys.argv[2], "w").write("held")
time.sleep(1.5)' "$STATE/.pdfspoold.lock" "$T/held" &
leftover=$!
wait_for 10 test -s "$T/held" || bail "the stand-in leftover did not take the lock"
check "a start while a gone daemon's leftover holds the lock starts once it lets go" start_daemon
check "... after it let go" not_running "$leftover"
check "... and said why it waited" grep -qF "state_dir $STATE is still held by what pdfspoold pid $gone left behind; waiting" "$LOG"
stop_daemon
done_testing
