#!/bin/bash
# Batch control through the spool, driven only through pdfspoolctl and files:
#  (a) no daemon: a request exits 3 and says so
#  (b) cancel during processing: queued jobs canceled, running ones stopped
#      within 2 s, no outputs, originals kept, the batch ends canceled
#  (c) retry after a failure: back to queued, attempts kept, then done
#  (d) hold / release: a held batch starts nothing while another one runs;
#      the hold survives a restart
#  (e) delete: refused while processing, --force cancels first; the outbox
#      folder and the state are gone (disk freed)
#  (f) share-side BATCH.cancel in the inbox: a request, never a drop; an
#      unknown batch's request is rejected with the reason
#  (g) daemon stopped: status and list say "daemon stopped at HH:MM:SS", not
#      processing; a request exits 3; a hung daemon's request times out with 3,
#      and once its heartbeat is stale, health and status say so
#  (h) a cancel survives a crash right after its answer: no canceled job runs,
#      every status says canceled
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (runs the test worker)"

export PDFSPOOL_WORKER=$top_srcdir/tests/system/fake-worker.py
export FAKE_WORKER_GATE=$T/gate FAKE_WORKER_FLAKY=$T/flaky
export PDFSPOOL_CONFIG=$CFG     # every pdfspoolctl below finds the configuration so
CTL=$PDFSPOOLCTL
WORKERS=2 write_config 0.3s
mkpdf "$T/a.pdf" 1

# drop NAME FILE...: a folder NAME with a copy of a.pdf per FILE, moved into the inbox
drop() {
        local name=$1 f; shift
        mkdir -p "$T/src/$name"
        for f in "$@"; do cp "$T/a.pdf" "$T/src/$name/$f.pdf"; done
        mv "$T/src/$name" "$INBOX/"
}
running() { [ "$(job_state "$1" "$2")" = processing ]; }
out() { local o rc; o=$("$@" 2>&1); rc=$?; echo "${o//$'\n'/ } rc=$rc"; }

# (a)
r=$(out $CTL cancel nothing)
check "(a) cancel without a daemon exits 3 ($r)" grep -q "rc=3" <<<"$r"
check "(a) ... and says the daemon is not running" grep -q "not running" <<<"$r"
r=$(out $CTL -c "$CFG" hold nothing)
check "(a) hold without a daemon exits 3 too" grep -q "rc=3" <<<"$r"

start_daemon || bail "daemon did not start"
check "(a) the heartbeat names the daemon" wait_for 10 sh -c "jq -e '.pid == $DAEMON_PID and (.boot_id | length) == 32' '$STATE/daemon.json'"
check "(a) the control directory is group-writable, setgid" test "$(stat -c %a "$STATE/control")" = 2770
r=$(out $CTL cancel nothing)
check "(a) an unknown batch: exit 1 ($r)" grep -q "rc=1" <<<"$r"
r=$(out $CTL cancel)
check "(a) no batch given: usage, exit 64" grep -q "rc=64" <<<"$r"

# (b) two jobs hang in the two workers (partial1 after writing an output),
# three wait behind them.
drop c1 hang1 partial1 q1 q2 q3
check "(b) two jobs are running, one has written an output" wait_for 30 sh -c "[ \"\$(jq -r .state '$OUTBOX/c1/hang1/status.json' 2>/dev/null)\" = processing ] && [ \"\$(jq -r .state '$OUTBOX/c1/partial1/status.json' 2>/dev/null)\" = processing ] && ls '$OUTBOX'/c1/.pdfspool-tmp.*/meta.json"
workers_before=$(pgrep -P "$DAEMON_PID" | sort | tr '\n' ' ')
t0=$(date +%s%N)
r=$(out $CTL cancel c1)
t1=$(date +%s%N)
diag "(b) cancel said: $r ($(( (t1 - t0) / 1000000 )) ms)"
check "(b) cancel exits 0" grep -q "rc=0" <<<"$r"
check "(b) ... within 2 s" test $(( (t1 - t0) / 1000000 )) -lt 2000
check "(b) the batch ends canceled" wait_for 5 batch_is c1 canceled
for j in hang1 partial1 q1 q2 q3; do
        check "(b) $j: canceled" test "$(job_state c1 $j)" = canceled
done
check "(b) the output a running job wrote is gone" sh -c "! find '$OUTBOX/c1' -name meta.json | grep -q ."
check "(b) no temp folders left" sh -c "! find '$OUTBOX/c1' -name '.pdfspool-tmp.*' | grep -q ."
check "(b) originals kept" test -s "$OUTBOX/c1/hang1/hang1.pdf" -a -s "$OUTBOX/c1/q1/q1.pdf"
check "(b) the counts say 5 canceled" jq -e '.jobs.canceled == 5 and .jobs.done == 0' "$OUTBOX/c1/status.json"
check "(b) the hung workers are gone" sh -c "for p in $workers_before; do ! ps -o args= -p \$p 2>/dev/null | grep -q fake-worker || exit 1; done"
drop after1 ok1
check "(b) new workers take the next batch" wait_batch_done after1 30
r=$(out $CTL cancel c1)
check "(b) canceling a finished batch is refused: exit 1" grep -q "rc=1" <<<"$r"

# (c) flaky1 crashes while $FAKE_WORKER_FLAKY exists.
touch "$FAKE_WORKER_FLAKY"
drop r1 flaky1 ok2
check "(c) the batch ends with a failure" wait_batch_done r1 30
check "(c) flaky1 failed" test "$(job_state r1 flaky1)" = failed
rm -f "$FAKE_WORKER_FLAKY"
r=$(out $CTL retry r1)
diag "(c) retry said: $r"
check "(c) retry exits 0" grep -q "rc=0" <<<"$r"
check "(c) ... and says one job is back to queued" grep -q "1 job back to queued" <<<"$r"
check "(c) the batch finishes again, nothing failed" wait_for 30 sh -c "jq -e '.state == \"done\" and .jobs.done == 2 and .jobs.failed == 0' '$OUTBOX/r1/status.json'"
check "(c) attempts kept: flaky1 ran twice" jq -e '.state == "done" and .attempts == 2' "$OUTBOX/r1/flaky1/status.json"
check "(c) ok2 did not run again" jq -e '.attempts == 1' "$OUTBOX/r1/ok2/status.json"
r=$(out $CTL retry r1 nosuchjob)
check "(c) retry of an unknown job: exit 1" grep -q "rc=1" <<<"$r"

# (d) g1 holds both workers at the gate; h1 waits behind it and is held.
drop g1 gate1 gate2
check "(d) the gate batch runs" wait_for 30 sh -c "[ \"\$(jq -r .state '$OUTBOX/g1/gate1/status.json' 2>/dev/null)\" = processing ] && [ \"\$(jq -r .state '$OUTBOX/g1/gate2/status.json' 2>/dev/null)\" = processing ]"
drop h1 x1 x2
check "(d) h1 is accepted" wait_for 30 test -f "$OUTBOX/h1/status.json"
r=$(out $CTL hold h1)
check "(d) hold exits 0 ($r)" grep -q "rc=0" <<<"$r"
check "(d) the status says held" wait_for 5 jq -e '.held == true' "$OUTBOX/h1/status.json"
check "(d) list shows it held" sh -c "$CTL list | grep -E '^h1 .* held '"
check "(d) list --state held lists it" sh -c "$CTL list --state held --json | jq -e 'length == 1 and .[0].batch == \"h1\"'"
stop_daemon
start_daemon || bail "daemon did not restart"
check "(d) the hold survives a restart" jq -e '.held == true' "$OUTBOX/h1/status.json"
touch "$FAKE_WORKER_GATE"
drop o1 y1
check "(d) a batch dropped after it runs to the end" wait_batch_done o1 30
check "(d) the gate batch finishes" wait_batch_done g1 30
check "(d) the held batch started nothing" jq -e '.jobs.queued == 2 and .started == null' "$OUTBOX/h1/status.json"
r=$(out $CTL release h1)
check "(d) release exits 0" grep -q "rc=0" <<<"$r"
check "(d) the released batch runs to the end" wait_batch_done h1 30
check "(d) ... and is not held any more" jq -e '.held == false' "$OUTBOX/h1/status.json"
rm -f "$FAKE_WORKER_GATE"

# (e) delete a finished batch, then a running one.
claims_of() { grep -l "\"id\":\"$1\"" "$STATE"/test/finished/*/batch.json "$STATE"/test/claims/*/*/batch.json 2>/dev/null; }
check "(e) h1 has a state" sh -c "claims_of() { grep -l '\"id\":\"h1\"' '$STATE'/test/finished/*/batch.json; }; claims_of | grep -q ."
state_kb_before=$(du -sk "$STATE" | cut -f1)
r=$(out $CTL delete h1)
check "(e) delete exits 0 ($r)" grep -q "rc=0" <<<"$r"
check "(e) the outbox folder is gone" test ! -e "$OUTBOX/h1"
check "(e) its state is gone" test -z "$(claims_of h1)"
deleted_gone() { [ -z "$(ls -A "$STATE/test/deleted" 2>/dev/null)" ] && [ -z "$(ls -A "$OUTBOX" | grep '^\.pdfspool-deleted')" ]; }
check "(e) its files are removed: disk freed (nothing left in deleted/, nor hidden in the outbox)" wait_for 20 deleted_gone
diag "(e) state dir: $state_kb_before kB before, $(du -sk "$STATE" | cut -f1) kB after"
r=$(out $CTL status h1)
check "(e) status of the deleted batch: exit 1" grep -q "rc=1" <<<"$r"
drop d2 hang3 z1
check "(e) d2 runs" wait_for 30 running d2 hang3
r=$(out $CTL delete d2)
check "(e) delete of a processing batch is refused: exit 1 ($r)" grep -q "rc=1" <<<"$r"
check "(e) ... and it is still there" test -d "$OUTBOX/d2"
r=$(out $CTL delete --force d2)
check "(e) delete --force exits 0 ($r)" grep -q "rc=0" <<<"$r"
check "(e) the outbox folder is gone" test ! -e "$OUTBOX/d2"
check "(e) its state is gone" test -z "$(claims_of d2)"
check "(e) its files are removed too" wait_for 20 deleted_gone

# (f) share side
drop s1 hang4 w1 w2
check "(f) s1 runs" wait_for 30 running s1 hang4
touch "$INBOX/s1.cancel"
check "(f) an empty s1.cancel in the inbox cancels the batch" wait_for 15 batch_is s1 canceled
check "(f) the request file leaves the inbox" wait_for 10 test ! -e "$INBOX/s1.cancel"
check "(f) it is no batch of its own" test ! -e "$OUTBOX/s1.cancel"
drop s2 gate3 gate4 w3
check "(f) s2 runs at the gate" wait_for 30 sh -c "[ \"\$(jq -r .state '$OUTBOX/s2/gate3/status.json' 2>/dev/null)\" = processing ] && [ \"\$(jq -r .state '$OUTBOX/s2/gate4/status.json' 2>/dev/null)\" = processing ]"
touch "$INBOX/s2.hold"
check "(f) an s2.hold file holds it" wait_for 15 jq -e '.held == true' "$OUTBOX/s2/status.json"
touch "$FAKE_WORKER_GATE"
drop s3 v1
check "(f) another batch runs to the end meanwhile" wait_batch_done s3 30
check "(f) the held batch's running jobs finished" wait_for 10 sh -c "[ \"\$(jq -r .state '$OUTBOX/s2/gate3/status.json')\" = done ] && [ \"\$(jq -r .state '$OUTBOX/s2/gate4/status.json')\" = done ]"
check "(f) ... and its queued job did not start" test "$(job_state s2 w3)" = queued
touch "$INBOX/s2.release"
check "(f) an s2.release file lets it finish" wait_batch_done s2 30
rm -f "$FAKE_WORKER_GATE"
touch "$INBOX/nosuch.hold"
check "(f) a request for an unknown batch is rejected, with the reason" \
        wait_for 15 sh -c "jq -r .reason '$OUTBOX/rejected/nosuch.hold.status.json' 2>/dev/null | grep -q 'no batch nosuch'"
check "(f) ... and leaves the inbox" test ! -e "$INBOX/nosuch.hold"

# (g) the daemon dies while a batch runs
drop st hang5
check "(g) st runs" wait_for 30 running st hang5
says_processing() { $CTL status st | grep -qE '^State: +processing'; }
check "(g) status says processing while the daemon runs" wait_for 10 says_processing
kill -STOP "$DAEMON_PID"
r=$(out $CTL cancel --timeout 1 st)
check "(g) a hung daemon: the request times out with exit 3 ($r)" grep -q "rc=3" <<<"$r"
check "(g) ... and is taken back (nothing left in control/)" test -z "$(ls -A "$STATE/control")"
health_rc() { $CTL health >/dev/null 2>&1; [ $? -eq "$1" ]; }
check "(g) a hung daemon's heartbeat goes stale: health exits 3" wait_for 30 health_rc 3
check "(g) ... and says its heartbeat stopped" sh -c "$CTL health | grep -q 'not answering.*heartbeat stopped at'"
check "(g) ... status says the daemon stopped, though it holds the lock" sh -c "$CTL status st | grep -qE '^State: +daemon stopped at'"
kill -CONT "$DAEMON_PID"
check "(g) it answers again: health exits 0" wait_for 10 health_rc 0
check "(g) ... status says processing again" wait_for 10 says_processing
kill_daemon
r=$($CTL status st 2>&1)
diag "(g) status: $(grep State: <<<"$r")"
check "(g) status says the daemon stopped, with the time" grep -qE "^State: +daemon stopped at [0-9]{2}:[0-9]{2}:[0-9]{2}" <<<"$r"
check "(g) ... not processing" test -z "$(grep -E '^State: +processing' <<<"$r")"
check "(g) list says so too" sh -c "$CTL list | grep -E '^st .*daemon stopped at'"
check "(g) list --json says the daemon stopped" sh -c "$CTL list --json | jq -e '.[] | select(.batch == \"st\") | .daemon.state == \"stopped\"'"
r=$(out $CTL cancel st)
check "(g) cancel with the daemon stopped exits 3" grep -q "rc=3" <<<"$r"
check "(g) finished batches still say done" sh -c "$CTL list | grep -E '^o1 .* done '"

# (h) 200 queued jobs behind two hanging ones; killed as soon as cancel answered.
start_daemon || bail "daemon did not restart"
r=$(out $CTL cancel st)
check "(h) st, resumed and hanging again, is canceled first ($r)" grep -q "rc=0" <<<"$r"
mkdir -p "$T/src/k1"
cp "$T/a.pdf" "$T/src/k1/hang6.pdf"
cp "$T/a.pdf" "$T/src/k1/hang7.pdf"
for i in $(seq -w 1 200); do cp "$T/a.pdf" "$T/src/k1/q$i.pdf"; done
mv "$T/src/k1" "$INBOX/"
check "(h) k1 runs" wait_for 60 sh -c "[ \"\$(jq -r .state '$OUTBOX/k1/hang6/status.json' 2>/dev/null)\" = processing ] && [ \"\$(jq -r .state '$OUTBOX/k1/hang7/status.json' 2>/dev/null)\" = processing ]"
r=$(out $CTL cancel k1)
kill_daemon
check "(h) cancel of 202 jobs answered ($r)" grep -q "200 queued jobs canceled, 2 running" <<<"$r"
start_daemon || bail "daemon did not restart"
check "(h) after the crash the batch ends canceled" wait_for 30 batch_is k1 canceled
check "(h) no job ran, all 202 canceled" jq -e '.jobs.canceled == 202 and .jobs.done == 0 and .jobs.failed == 0' "$OUTBOX/k1/status.json"
check "(h) every job's status says canceled" wait_for 30 sh -c "! grep -L '\"state\": \"canceled\"' '$OUTBOX'/k1/*/status.json | grep -q ."
check "(h) and keeps its original" wait_for 30 sh -c "ls '$OUTBOX'/k1/q*/q*.pdf | wc -l | grep -qx 200"
done_testing
