#!/bin/bash
# systemd.sh: pdfspoold under a real systemd service manager.
#
# Checks the shipped unit files offline (systemd-analyze security and verify,
# sysusers, tmpfiles, the journal catalog), then runs the real daemon from the
# build tree as a Type=notify service of a systemd user manager, with the
# shipped unit's sandbox, and checks readiness, STATUS=, reload, the watchdog,
# a graceful stop in the middle of a batch, and structured journal fields.
#
# Everything runs in a private mount namespace (unshare -m) with tmpfs on
# /run/systemd (docs TESTING.md, "A real systemd service manager"), on /run
# below it and on /var/log/journal, so the machine's own service manager,
# journal and catalog are never touched. Needs root; skipped otherwise.
#
# Why a tmpfs on /run as well: where /run is a plain directory of the root file
# system (as on these machines, whose PID 1 is not systemd), a tmpfs mounted on
# /run/systemd alone is missing inside any service that has ProtectProc=,
# ProcSubset= or ProtectControlGroups=, so the daemon's journal socket is not
# there (sendmsg: ENOENT). On a real system /run is a tmpfs; so it is here.
#
# The user manager gets a cgroup of its own, removed at the end: started in the
# root cgroup, systemd would create /init.scope there and move every process of
# the root cgroup, PID 1 included, into it.

if [ -z "${PDFSPOOL_SYSTEMD_NS:-}" ]; then
        skip() { echo "1..0 # SKIP $*"; exit 0; }
        [ "$(id -u)" = 0 ] || skip "needs root (a private mount namespace and a root systemd user manager)"
        command -v unshare >/dev/null || skip "unshare not found (Debian package util-linux)"
        [ -x /lib/systemd/systemd ] || skip "/lib/systemd/systemd not found (Debian package systemd)"
        unshare -m --propagation private true </dev/null 2>/dev/null ||
                skip "cannot create a mount namespace here (unshare -m failed)"
        export PDFSPOOL_SYSTEMD_NS=1
        exec unshare -m --propagation private -- "${BASH:-bash}" "$0" "$@" </dev/null
fi

. "$(dirname "$0")/lib.sh"
exec </dev/null
# Killed by SIGPIPE (a reader that went away), bash would skip the EXIT trap
# and leave the user manager, journald and the daemon running.
trap 'trap "" PIPE; exit 141' PIPE

for tool in systemctl systemd-analyze journalctl systemd-sysusers systemd-tmpfiles mutool jq; do
        command -v "$tool" >/dev/null || skip_all "$tool not found"
done
[ -x "$PDFSPOOLD" ] || skip_all "$PDFSPOOLD not built"

SRC_UNIT=$top_srcdir/systemd/pdfspoold.service.in
SRC_TEMPLATE=$top_srcdir/systemd/pdfspoold@.service.in
UNIT=pdfspoold.service
TAB=$'\t'

# ---- the private world: tmpfs mounts, XDG directories, journald, user manager ----
# -n: libmount would otherwise create /run/mount/ on the machine's /run first.
mount -n -t tmpfs -o mode=0755 tmpfs /run || bail "cannot mount a tmpfs on /run"
mkdir -p /run/systemd /run/log
mount -n -t tmpfs -o mode=0755 tmpfs /run/systemd || bail "cannot mount a tmpfs on /run/systemd"
mkdir -p /run/systemd/system
export XDG_RUNTIME_DIR=$T/xdg/runtime XDG_CONFIG_HOME=$T/xdg/config XDG_STATE_HOME=$T/xdg/state \
        XDG_CACHE_HOME=$T/xdg/cache XDG_DATA_HOME=$T/xdg/data HOME=$T/xdg/home
export SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 SYSTEMD_LESS= LC_ALL=C.UTF-8
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID JOURNAL_STREAM DBUS_SESSION_BUS_ADDRESS
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME/systemd/user" "$XDG_STATE_HOME" "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$HOME"
chmod 700 "$XDG_RUNTIME_DIR"
USER_UNIT=$XDG_CONFIG_HOME/systemd/user/$UNIT

MANAGER_PID=
MANAGER_CGROUPS=        # the manager's own cgroup in each hierarchy systemd uses
JOURNALD_PID=
MAIN_PIDS=              # every MainPID seen, to be sure none survives
STOPPED_PIDS=           # SIGSTOPped by the test: need SIGCONT before anything else

sd_cleanup() {
        local p
        for p in $STOPPED_PIDS; do kill -CONT "$p" 2>/dev/null; done
        if [ -n "$MANAGER_PID" ]; then
                # SIGTERM: the manager stops its units (the daemon gets stop_grace) and exits.
                kill -TERM "$MANAGER_PID" 2>/dev/null
                wait_for 30 not_running "$MANAGER_PID" || kill -KILL "$MANAGER_PID" 2>/dev/null
                wait "$MANAGER_PID" 2>/dev/null
        fi
        for p in $MAIN_PIDS; do
                # Workers die with their daemon (PR_SET_PDEATHSIG).
                kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
        done
        for p in $MANAGER_CGROUPS; do
                wait_for 5 sh -c '! cat $(find "$1" -name cgroup.procs) 2>/dev/null | grep -q .' sh "$p"
                find "$p" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        if [ -n "$JOURNALD_PID" ]; then
                kill -TERM "$JOURNALD_PID" 2>/dev/null
                wait_for 10 not_running "$JOURNALD_PID" || kill -KILL "$JOURNALD_PID" 2>/dev/null
                wait "$JOURNALD_PID" 2>/dev/null
        fi
        if [ "$_tap_failed" -gt 0 ] && [ -f "$T/manager.log" ]; then
                echo "# --- user manager log ---"
                tail -n 30 "$T/manager.log" | sed 's/^/# /'
        fi
}
EXTRA_CLEANUP=sd_cleanup

# journald in the namespace, on tmpfs, best effort: only the journal test needs it.
JOURNAL_SKIP=
if [ ! -x /lib/systemd/systemd-journald ]; then
        JOURNAL_SKIP="/lib/systemd/systemd-journald not found"
else
        [ -d /var/log/journal ] && mount -n -t tmpfs -o mode=2755 tmpfs /var/log/journal
        /lib/systemd/systemd-journald </dev/null >"$T/journald.log" 2>&1 &
        JOURNALD_PID=$!
        if ! wait_for 10 test -S /run/systemd/journal/socket; then
                JOURNAL_SKIP="systemd-journald did not start: $(tail -n 1 "$T/journald.log")"
        fi
fi

start_manager() {
        local mnt cg
        for mnt in $(findmnt -n -l -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS |
                     awk '$2 == "cgroup2" || $3 ~ /(^|,)name=systemd(,|$)/ { print $1 }'); do
                cg=$mnt/$(basename "$T")
                mkdir "$cg" && MANAGER_CGROUPS="$MANAGER_CGROUPS $cg"
        done
        sh -c 'for cg; do echo $$ > "$cg/cgroup.procs" || exit 1; done; exec /lib/systemd/systemd --user' \
                sh $MANAGER_CGROUPS </dev/null >"$T/manager.log" 2>&1 &
        MANAGER_PID=$!
        wait_for 20 test -S "$XDG_RUNTIME_DIR/systemd/private"
}
sctl() { timeout 60 systemctl --user --no-ask-password "$@" </dev/null; }
prop() { sctl show "$UNIT" -p "$1" --value; }
prop_is() { [ "$(prop "$1")" = "$2" ]; }
main_pid() {
        local p; p=$(prop MainPID)
        case " $MAIN_PIDS " in *" $p "*) ;; *) [ "${p:-0}" != 0 ] && MAIN_PIDS="$MAIN_PIDS $p" ;; esac
        echo "${p:-0}"
}

# ---- PDFs, drops, the log ----
# mkheavy FILE PAGES: pages dense with small text, slow to extract (a few ms each).
mkheavy() {
        local file=$1 pages=$2 d i line
        d=$(mktemp -d "$T/mkheavy.XXXXXX")
        line=$(printf 'Slow datasheet line with many small glyphs %.0s' 1 2 3)
        {
                printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\nBT /F1 4 Tf 10 835 Td 4.2 TL\n'
                for i in $(seq 1 195); do printf '(%s %d) Tj T*\n' "$line" "$i"; done
                printf 'ET\n'
        } > "$d/page.txt"
        mutool create -o "$file" $(for i in $(seq 1 "$pages"); do echo "$d/page.txt"; done) >/dev/null 2>&1
        rm -rf "$d"
}
# drop_pdf INBOX NAME: one small PDF dropped the way a careful writer does (rename).
drop_pdf() {
        mkpdf "$T/$2.pdf.tmp" 2 "pdfspool under systemd"
        mv "$T/$2.pdf.tmp" "$1/$2.pdf"
}
log_count() { grep -c -- "$1" "$LOG" 2>/dev/null || true; }
log_count_above() { [ "$(log_count "$1")" -gt "$2" ]; }
not() { ! "$@"; }
status_of() { jq_file "$1/$2/status.json" .state; }
status_is() { [ "$(status_of "$1" "$2")" = "$3" ]; }

# write_test_unit [STDOUT]: the test unit, derived from the shipped one.
# Dropped for a user manager (they fail there with 226/NAMESPACE): User=, Group=,
# PrivateTmp=, ProtectHome=, ProtectKernelTunables=. Everything else of the
# shipped sandbox stays as it is.
write_test_unit() {
        local output=${1:-append:$LOG}
        sed -e "s|^ExecStart=.*|ExecStart=$PDFSPOOLD -c $CFG|" \
            -e "s|^ReadWritePaths=.*|ReadWritePaths=$T|" \
            -e 's|^WatchdogSec=.*|WatchdogSec=3s|' \
            -e 's|^TimeoutStopSec=.*|TimeoutStopSec=20s|' \
            -e '/^User=/d; /^Group=/d; /^PrivateTmp=/d; /^ProtectHome=/d; /^ProtectKernelTunables=/d' \
            -e "/^\[Service\]/a Environment=PDFSPOOL_WORKER=$PDFSPOOL_WORKER\\
StandardOutput=$output\\
StandardError=inherit\\
LimitCORE=0" \
            "$SRC_UNIT" > "$USER_UNIT"
        sctl daemon-reload
}

SECOND_QUEUE="  second:
    inbox: $T/inbox2
    outbox: $T/outbox2
    settle: 0.5s"

plan 24

# ==== 1. the unit files, offline ====
GEN=$T/units
mkdir -p "$GEN"
# As installed (make's edit rule), and as a copy whose ExecStart exists: verify needs it.
sed -e 's|@sbindir@|/usr/sbin|g; s|@sysconfdir@|/etc|g' "$SRC_UNIT" > "$GEN/pdfspoold.service"
mkdir -p "$GEN/verify"
for u in "$SRC_UNIT" "$SRC_TEMPLATE"; do
        base=$(basename "$u" .in)
        sed -e "s|@sbindir@|$top_builddir/src|g; s|@sysconfdir@|/etc|g" "$u" > "$GEN/verify/$base"
done
cp "$GEN/verify/pdfspoold@.service" "$GEN/verify/pdfspoold@example.service"

out=$(systemd-analyze security --offline=true --threshold=15 "$GEN/pdfspoold.service" 2>&1)
rc=$?
exposure=$(echo "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
diag "systemd-analyze security: pdfspoold.service exposure ${exposure:-?}"
ok $rc "systemd-analyze security --offline: exposure of pdfspoold.service at most 1.5 (is ${exposure:-?})"
out=$(systemd-analyze security --offline=true --threshold=15 "$GEN/verify/pdfspoold@example.service" 2>&1)
rc=$?
exposure=$(echo "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
ok $rc "systemd-analyze security --offline: exposure of pdfspoold@.service at most 1.5 (is ${exposure:-?})"

# verify also runs man(1) on Documentation=: point it at this tree's pages.
mkdir -p "$GEN/man/man1" "$GEN/man/man5" "$GEN/man/man8"
for m in "$top_srcdir"/man/*.[158]; do cp "$m" "$GEN/man/man${m##*.}/"; done
out=$(MANPATH=$GEN/man systemd-analyze verify "$GEN/verify/pdfspoold.service" "$GEN/verify/pdfspoold@example.service" 2>&1)
rc=$?
[ -n "$out" ] && rc=1
[ $rc -ne 0 ] && echo "$out" | sed 's/^/# /'
ok $rc "systemd-analyze verify: both units clean, man pages of Documentation= found"

ROOT=$T/root
mkdir -p "$ROOT/etc"
systemd-sysusers --root="$ROOT" "$top_srcdir/systemd/pdfspool.sysusers" >/dev/null 2>&1 &&
        systemd-tmpfiles --root="$ROOT" --create "$top_srcdir/systemd/pdfspool.tmpfiles" >/dev/null 2>&1
rc=$?
uid=$(awk -F: '$1 == "pdfspool" { print $3 }' "$ROOT/etc/passwd" 2>/dev/null)
modes=$(cd "$ROOT" 2>/dev/null && stat -c '%n %a %u' var/lib/pdfspool srv/pdfspool/datasheets/inbox \
        srv/pdfspool/datasheets/outbox 2>/dev/null | tr '\n' ' ')
[ $rc -eq 0 ] && [ -n "$uid" ] && [ "$modes" = "var/lib/pdfspool 750 $uid srv/pdfspool/datasheets/inbox 2770 $uid srv/pdfspool/datasheets/outbox 755 $uid " ]
ok $? "sysusers.d and tmpfiles.d entries create user pdfspool and its folders (in a scratch root)"

CATROOT=$T/catalog
mkdir -p "$CATROOT/usr/lib/systemd/catalog"
cp "$top_srcdir/systemd/pdfspool.catalog" "$CATROOT/usr/lib/systemd/catalog/"
journalctl --root="$CATROOT" --update-catalog >"$T/catalog.out" 2>&1
rc=$?
ids_catalog=$(journalctl --root="$CATROOT" --list-catalog 2>/dev/null | awk '$2 == "pdfspool:" { print $1 }' | sort)
ids_source=$(sed -n 's/^#define MSGID_[A-Z_]* *"\([0-9a-f]*\)".*/\1/p' "$top_srcdir/src/log.h" | sort)
[ $rc -eq 0 ] && [ ! -s "$T/catalog.out" ] && [ -n "$ids_source" ] && [ "$ids_catalog" = "$ids_source" ]
ok $? "journal catalog parses and explains exactly the MESSAGE_IDs of src/log.h"

# ==== 2. the daemon as a Type=notify service ====
if ! start_manager; then
        bail "the systemd user manager did not start: $(tail -n 3 "$T/manager.log")"
fi
mkdir -p "$INBOX" "$T/inbox2"
write_config 0.5s "stop_grace: 2s"
write_test_unit

# (a) active only after READY=1. The config file is a FIFO at first, so the
# daemon blocks reading it, before it could possibly be ready.
mv "$CFG" "$CFG.real"
mkfifo "$CFG"
sctl start --no-block "$UNIT"
daemon_waits() {
        local p; p=$(main_pid)
        [ "$p" != 0 ] && [ "$(readlink "/proc/$p/exe")" = "$(readlink -f "$PDFSPOOLD")" ] &&
                case "$(cat "/proc/$p/wchan" 2>/dev/null)" in *partner*|*fifo*|*pipe*) true ;; *) false ;; esac
}
wait_for 10 daemon_waits
waited=$?
state=$(prop ActiveState); text=$(prop StatusText)
[ $waited -eq 0 ] && [ "$state" = activating ] && [ -z "$text" ]
ok $? "unit is activating (StatusText empty) while pdfspoold runs but is not ready (ActiveState=$state)"
timeout 10 sh -c 'cat "$1" > "$2"' sh "$CFG.real" "$CFG"
rm -f "$CFG"
mv "$CFG.real" "$CFG"
wait_for 15 prop_is ActiveState active
state=$(prop ActiveState); text=$(prop StatusText); restarts=$(prop NRestarts)
[ "$state" = active ] && [ -n "$text" ] && [ "$restarts" = 0 ]
ok $? "after READY=1: active, StatusText \"$text\", NRestarts=$restarts"

# (b) STATUS= in systemctl status
status_out=$(sctl status "$UNIT" 2>&1)
echo "$status_out" | grep -Eq '^ *Status: "(Idle: |[0-9]+ batch)'
ok $? "systemctl status shows the daemon's STATUS= line"

drop_pdf "$INBOX" first
wait_batch_done first 30 && [ -s "$OUTBOX/first/first/meta.json" ] && [ -s "$OUTBOX/first/first/thumb.png" ]
ok $? "a drop is processed inside the shipped sandbox (fork+exec of workers, setrlimit, leases, inotify)"

# A PDF owned by another user, complete on disk but still open for writing,
# is not taken until its writer closes it: the lease check (F_SETLEASE) works
# in the sandbox, which needs CAP_LEASE for files the daemon does not own.
held_writer() { # runs as nobody: write the PDF, keep it open until told
        exec 3>>"$1"
        cat "$2" >&3
        read -r _ < "$3"
}
mkpdf "$T/held.pdf.src" 2 "held open"
touch "$INBOX/held.pdf"
chown 65534:65534 "$INBOX/held.pdf"
chmod 644 "$INBOX/held.pdf" "$T/held.pdf.src"
mkfifo -m 666 "$T/held.gate"
chmod o+x "$T"          # let nobody reach its file and the gate
setpriv --reuid=65534 --regid=65534 --clear-groups bash -c "$(declare -f held_writer); held_writer \"\$@\"" \
        sh "$INBOX/held.pdf" "$T/held.pdf.src" "$T/held.gate" </dev/null &
HELD_PID=$!
held_taken() { [ ! -e "$INBOX/held.pdf" ] || [ -e "$OUTBOX/held" ]; }
wait_for 10 cmp -s "$T/held.pdf.src" "$INBOX/held.pdf"
# settle is 0.5 s: four times that without the file being taken.
! wait_for 2 held_taken
taken_early=$?
echo done > "$T/held.gate"
wait "$HELD_PID"
wait_batch_done held 30 && [ "$(jq_file "$OUTBOX/held/held/status.json" .pages)" = 2 ]
[ $? -eq 0 ] && [ $taken_early -eq 0 ]
ok $? "a PDF of another user still open for writing waits for its writer (file lease in the sandbox)"

# (c) reload: a new queue; then a broken file is refused
pid=$(main_pid)
before=$(log_count "configuration reloaded")
write_config 0.5s "stop_grace: 2s" "$SECOND_QUEUE"
sctl reload "$UNIT"
wait_for 10 log_count_above "configuration reloaded" "$before" && wait_for 10 prop_is ActiveState active
drop_pdf "$T/inbox2" second
wait_for 30 status_is "$T/outbox2" second done && [ "$(main_pid)" = "$pid" ]
ok $? "systemctl reload adds a queue: a drop into its inbox is processed, same MainPID"

cp "$CFG" "$CFG.good"
printf '  broken: [unclosed\n' >> "$CFG"
sctl reload "$UNIT"
reload_refused() { prop StatusText | grep -q "reload refused"; }
wait_for 10 reload_refused
text=$(prop StatusText)
state=$(prop ActiveState)
echo "$text" | grep -Eq "reload refused: $CFG:[0-9]+:[0-9]+: " && [ "$state" = active ] && [ "$(main_pid)" = "$pid" ]
ok $? "a reload with invalid YAML is refused: still active, StatusText says where (\"${text#*reload refused: }\")"

drop_pdf "$INBOX" after-refused
wait_batch_done after-refused 30
ok $? "after the refused reload the old queue still works"

cp "$CFG.good" "$CFG"
sctl reload "$UNIT"
wait_for 10 not reload_refused
ok $? "a good reload clears \"reload refused\" from the status"

# (d) the watchdog: a daemon that stops answering is killed and restarted
pid=$(main_pid)
kill -STOP "$pid"
STOPPED_PIDS="$STOPPED_PIDS $pid"
restarted() { local p; p=$(main_pid); [ "$p" != 0 ] && [ "$p" != "$pid" ] && prop_is ActiveState active; }
wait_for 25 restarted
newpid=$(main_pid); restarts=$(prop NRestarts)
[ "$newpid" != "$pid" ] && [ "$newpid" != 0 ] && [ "$restarts" = 1 ] && wait_for 10 not_running "$pid"
ok $? "SIGSTOP of the main process: watchdog restart (NRestarts=$restarts, MainPID $pid -> $newpid)"
kill -CONT "$pid" 2>/dev/null
STOPPED_PIDS=

drop_pdf "$INBOX" after-watchdog
wait_batch_done after-watchdog 30
ok $? "the restarted daemon processes drops"

# (e) stop in the middle of a batch, start again: every job done exactly once
WORKERS=1 write_config 0.5s "stop_grace: 2s" "$SECOND_QUEUE"
sctl restart "$UNIT"
mkheavy "$T/heavy.pdf" 400
mkdir "$T/slow"
for i in 1 2 3 4; do cp "$T/heavy.pdf" "$T/slow/part$i.pdf"; done
mv "$T/slow" "$INBOX/"
mid_batch() {
        jq -e '.jobs.done >= 1 and .jobs.processing == 1 and .jobs.queued >= 1' "$OUTBOX/slow/status.json" >/dev/null 2>&1
}
wait_for 60 mid_batch
ok $? "a slow batch is under way (one job done, one processing, more queued)"
sctl stop "$UNIT"
state=$(prop ActiveState); result=$(prop Result)
jobs_after_stop=$(for j in part1 part2 part3 part4; do status_of "$OUTBOX" "slow/$j"; done | sort | uniq -c | tr -s ' \n' ' ')
counts=$(jq -c '.jobs | {queued, processing, done}' "$OUTBOX/slow/status.json" 2>/dev/null)
diag "after stop: batch counts $counts; job states:$jobs_after_stop"
grep -q "batch=slow job=.*put back to queued" "$LOG" && diag "the running job did not finish within stop_grace and was put back to queued"
[ "$state" = inactive ] && [ "$result" = success ] &&
        jq -e '.state == "processing" and .jobs.processing == 0 and .jobs.queued >= 1' "$OUTBOX/slow/status.json" >/dev/null &&
        ! for j in part1 part2 part3 part4; do status_of "$OUTBOX" "slow/$j"; done | grep -qv -e '^queued$' -e '^done$'
ok $? "systemctl stop mid-batch: clean stop, no job left processing, the rest queued"
sctl start "$UNIT"
wait_batch_done slow 90
once=0
for j in part1 part2 part3 part4; do
        n=$(log_count "batch=slow job=$j: job done")
        [ "$n" = 1 ] || { once=1; diag "job $j: $n \"job done\" lines"; }
done
[ $once -eq 0 ] && jq -e '.jobs.done == 4 and .jobs.failed == 0' "$OUTBOX/slow/status.json" >/dev/null
ok $? "after start the batch finishes: every job done exactly once"

# (g) group: the drop-in documented in pdfspoold(8) makes it work in the sandbox
GROUP=$(getent group daemon | cut -d: -f1)
if [ -n "$GROUP" ]; then
        mkdir -p "$USER_UNIT.d"
        printf '[Service]\nSupplementaryGroups=%s\nSystemCallFilter=@chown\n' "$GROUP" \
                > "$USER_UNIT.d/group.conf"
        write_config 0.5s "stop_grace: 2s" "    group: $GROUP"
        sctl daemon-reload
        sctl restart "$UNIT"
        drop_pdf "$INBOX" grouped
        wait_batch_done grouped 30 &&
                [ "$(stat -c %G "$OUTBOX/grouped/status.json" "$OUTBOX/grouped/grouped/meta.json" "$OUTBOX/grouped/grouped" | sort -u)" = "$GROUP" ]
        ok $? "queue group: outbox files get group $GROUP with the documented drop-in"
        rm -rf "$USER_UNIT.d"
        write_config 0.5s "stop_grace: 2s"
        sctl daemon-reload
else
        ok 0 "# SKIP no group \"daemon\" to test queue group: with"
fi

# (f) the journal: structured fields and the catalog
if [ -n "$JOURNAL_SKIP" ]; then
        for d in "journalctl PDFSPOOL_BATCH= finds the batch's messages" \
                 "batch accepted and batch finished carry their MESSAGE_ID" \
                 "journalctl -x explains batch finished from the catalog" \
                 "the unit's own messages reach the journal too"; do
                ok 0 "$d # SKIP $JOURNAL_SKIP"
        done
else
        sctl stop "$UNIT"
        write_config 0.5s "stop_grace: 2s"
        sed -i 's/^log: stderr$/log: auto/' "$CFG"
        write_test_unit journal
        sctl start "$UNIT"
        drop_pdf "$INBOX" journaled
        wait_batch_done journaled 30
        jq_fields() { journalctl --no-pager -o json PDFSPOOL_BATCH=journaled 2>/dev/null; }
        finished_logged() { jq_fields | grep -q '"MESSAGE_ID":"a8f5ae96edf9403789c1c6ef545c66b4"'; }
        wait_for 10 finished_logged
        fields=$(jq_fields | jq -r '[.PDFSPOOL_QUEUE, .PDFSPOOL_JOB // "-", .PDFSPOOL_STATE // "-", .MESSAGE_ID // "-", .MESSAGE] | @tsv')
        echo "$fields" | sed 's/^/# journal: /'
        echo "$fields" | grep -q "^test${TAB}journaled${TAB}done${TAB}-${TAB}job done"
        ok $? "journalctl PDFSPOOL_BATCH= finds the batch's messages (with PDFSPOOL_QUEUE, _JOB, _STATE)"
        echo "$fields" | grep -q "${TAB}queued${TAB}22ce85da4ebb4911be3a682f425aea74${TAB}batch accepted" &&
                echo "$fields" | grep -q "${TAB}done${TAB}a8f5ae96edf9403789c1c6ef545c66b4${TAB}batch finished"
        ok $? "batch accepted and batch finished carry their MESSAGE_ID"
        if [ -d /var/lib/systemd/catalog ]; then
                mount -n --bind "$CATROOT/var/lib/systemd/catalog" /var/lib/systemd/catalog
                journalctl --no-pager -x PDFSPOOL_BATCH=journaled MESSAGE_ID=a8f5ae96edf9403789c1c6ef545c66b4 \
                        2>/dev/null | grep -q "Subject: Batch journaled in queue test finished"
                ok $? "journalctl -x explains batch finished from the catalog, fields filled in"
        else
                ok 0 "journalctl -x explains batch finished from the catalog # SKIP no /var/lib/systemd/catalog"
        fi
        journalctl --no-pager -o json _PID="$(main_pid)" 2>/dev/null | grep -q '"MESSAGE":"pdfspoold [^"]* started: '
        ok $? "the unit's own messages reach the journal too (log: auto chose the journal)"
fi

sctl stop "$UNIT"
done_testing
