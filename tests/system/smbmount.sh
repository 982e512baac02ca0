#!/bin/bash
# Inboxes on a real SMB client mount (issue 18). smbd serves three shares on
# loopback; smbnetfs (FUSE, a real SMB client) mounts them, and the queues'
# inboxes are folders of that mount. The test writes straight into the shares'
# folders on the server side, as people on other machines do: the client
# mount's inotify never hears of it, and the writer check cannot see them.
#   - what a queue can see is said in the log, in pdfspoolctl health and in STATUS=
#   - a folder copied on the server, a trickled folder, a slow writer that
#     pauses longer than settle (never taken early), a .ready marker, the 30 s
#     default settle on such a mount
#   - a share mounted over an inbox after the daemon started (seen within one
#     poll interval) and unmounted again (inotify again)
#   - a file added to a folder while its claim copies it: processed or still in
#     the inbox, never gone
#   - smbd stopped: the queue is put on hold once; started again: it resumes
# smbnetfs cannot use another port than 445. A kernel CIFS or NFS client is
# used when there is one; this kernel has none (said below).
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed (apt-get install mupdf-tools)"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (watches the claim)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (smbd, FUSE, bind mounts)"
SMBD=$(command -v smbd || ls /usr/sbin/smbd 2>/dev/null)
[ -n "$SMBD" ] && [ -x "$SMBD" ] || skip_all "smbd not installed (apt-get install samba)"
command -v smbpasswd >/dev/null || skip_all "smbpasswd not installed (apt-get install samba)"
command -v smbclient >/dev/null || skip_all "smbclient not installed (apt-get install smbclient)"
command -v smbnetfs >/dev/null || skip_all "smbnetfs not installed (apt-get install smbnetfs)"
command -v fusermount >/dev/null || command -v fusermount3 >/dev/null || skip_all "fusermount not installed (apt-get install fuse3)"
[ -c /dev/fuse ] || skip_all "no /dev/fuse: cannot mount FUSE here"
command -v setsid >/dev/null || skip_all "setsid not installed"
if command -v ss >/dev/null && ss -Hltn "sport = :445" | grep -q .; then
        skip_all "port 445 is in use (smbnetfs only speaks to port 445)"
fi
grep -qw cifs /proc/filesystems || diag "no kernel CIFS client here (cifs not in /proc/filesystems): SMB runs on smbnetfs (FUSE) only"
grep -qw nfs /proc/filesystems || diag "no kernel NFS client here (nfs not in /proc/filesystems): NFS inboxes are not tested"

FUSERMOUNT=$(command -v fusermount || command -v fusermount3)
SMB=$T/samba
SHARE=$T/share        # server side of queue "test" (settle 2 s)
SHARE2=$T/share2      # server side of queue "dflt" (settle not set: 30 s on such a mount)
SHARE3=$T/share3      # server side of the share mounted over queue "late"'s inbox later
MNT=$T/mnt
LATE=$T/late          # a plain local folder at start
SMBD_PID= SMBNETFS_PID=
mkdir -p "$SMB"/{private,lock,state,cache,pid,ncalrpc,binddns,usershares,log} "$SHARE" "$SHARE2" "$SHARE3" \
        "$MNT" "$LATE" "$T/home/.smb" "$OUTBOX"
{
        cat <<EOC
[global]
        server role = standalone server
        workgroup = PDFSPOOLTEST
        netbios name = PDFSPOOLSMB
        smb ports = 445
        interfaces = lo
        bind interfaces only = yes
        private dir = $SMB/private
        lock directory = $SMB/lock
        state directory = $SMB/state
        cache directory = $SMB/cache
        pid directory = $SMB/pid
        ncalrpc dir = $SMB/ncalrpc
        binddns dir = $SMB/binddns
        usershare path = $SMB/usershares
        log file = $SMB/log/smbd.log
        log level = 1
        disable netbios = yes
        disable spoolss = yes
        load printers = no
        printing = bsd
        printcap name = /dev/null
        rpc start on demand helpers = no
        smbd: backgroundqueue = no
EOC
        for s in inbox:$SHARE inbox2:$SHARE2 inbox3:$SHARE3; do
                printf '[%s]\n        path = %s\n        read only = no\n        force user = root\n' "${s%%:*}" "${s#*:}"
        done
} > "$SMB/smb.conf"
printf 'pdfspool\npdfspool\n' | smbpasswd -c "$SMB/smb.conf" -a -s root >/dev/null 2>&1 ||
        skip_all "smbpasswd cannot add the test user"

smbd_live() { # processes of smbd's group that still run (not zombies)
        local p st
        for p in $(pgrep -g "$SMBD_PID" 2>/dev/null); do
                st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
                [ -n "$st" ] && [ "$st" != Z ] && echo "$p"
        done
}
smbd_gone() { [ -z "$(smbd_live)" ]; }
smb_ready() { timeout 10 smbclient //127.0.0.1/inbox -U root%pdfspool -c ls </dev/null >/dev/null 2>&1; }
start_smbd() {
        setsid "$SMBD" --foreground --no-process-group -s "$SMB/smb.conf" -l "$SMB/log" \
                >>"$SMB/log/stdout" 2>&1 </dev/null &
        SMBD_PID=$!
        wait_for 30 smb_ready
}
stop_smbd() {
        [ -z "$SMBD_PID" ] && return 0
        local pids p
        pids="$SMBD_PID $(cat "$SMB/pid/"*.pid 2>/dev/null) $(pgrep -g "$SMBD_PID" 2>/dev/null)"
        kill -TERM -- -"$SMBD_PID" 2>/dev/null
        for p in $pids; do kill -TERM "$p" 2>/dev/null; done
        wait_for 10 smbd_gone
        kill -KILL -- -"$SMBD_PID" 2>/dev/null
        for p in $pids; do kill -KILL "$p" 2>/dev/null; done
        wait "$SMBD_PID" 2>/dev/null
        SMBD_PID=
}
teardown() {
        [ -n "$SMBNETFS_PID" ] && kill -CONT "$SMBNETFS_PID" 2>/dev/null
        mountpoint -q "$LATE" && umount -l "$LATE"
        "$FUSERMOUNT" -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
        [ -n "$SMBNETFS_PID" ] && { wait_for 5 not_running "$SMBNETFS_PID"; kill -KILL "$SMBNETFS_PID"; wait "$SMBNETFS_PID"; } 2>/dev/null
        stop_smbd
}
EXTRA_CLEANUP=teardown
trap 'exit 130' INT TERM

start_smbd || { tail -n 20 "$SMB/log/stdout" "$SMB/log/smbd.log" 2>/dev/null | sed 's/^/# /'; bail "smbd did not start"; }

# ---- the client mount ----
printf '[global]\n  client min protocol = SMB2\n' > "$T/home/.smb/smb.conf"
printf 'auth "127.0.0.1" "root" "pdfspool"\nhost 127.0.0.1 visible=true\nsmb_query_browsers false\n' \
        > "$T/home/.smb/smbnetfs.conf"
chmod 600 "$T/home/.smb/"*
HOME=$T/home setsid smbnetfs "$MNT" -f -o "log_file=$T/smbnetfs.log" </dev/null >"$T/smbnetfs.out" 2>&1 &
SMBNETFS_PID=$!
wait_for 30 test -d "$MNT/127.0.0.1/inbox" ||
        skip_all "smbnetfs did not mount the share: $(tail -n 3 "$T/smbnetfs.out" | tr '\n' ' ')"
INBOX=$MNT/127.0.0.1/inbox
check "the inbox is a folder of the SMB client mount (FUSE)" sh -c "stat -f -c %T '$INBOX' | grep -q fuse"

cat > "$CFG" <<EOC
state_dir: $STATE
workers: 2
log: stderr
job_timeout: 60s
queues:
  test:
    inbox: $INBOX
    outbox: $OUTBOX/test
    settle: 2s
    poll_interval: 1s
    incomplete_wait: 5m
  dflt:
    inbox: $MNT/127.0.0.1/inbox2
    outbox: $OUTBOX/dflt
    poll_interval: 1s
  late:
    inbox: $LATE
    outbox: $OUTBOX/late
    settle: 1s
    poll_interval: 1s
EOC
SOCK=$T/notify.sock
notify_listen "$SOCK" "$T/notify.txt" || bail "notify reader did not start"
EXTRA_CLEANUP="kill $NOTIFY_READER_PID 2>/dev/null; teardown"
# WATCHDOG_USEC: sd-event pings every half second while the loop runs; a gap shows a blocked loop.
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 start_daemon || bail "daemon did not start"

# ---- what a queue can see ----
check "log: queue test polls the fuse mount and says what it cannot see (settle 2 s as set)" \
        grep -q "queue=test: watching inbox $INBOX (polling every 1.0 s, fuse file system: writers on other machines are not visible: a drop is complete after 2 s without change, or at a ready marker)" "$LOG"
check "log: queue dflt, settle not set, waits 30 s on such a mount" \
        grep -q "queue=dflt: watching inbox .* fuse file system: writers on other machines are not visible: a drop is complete after 30 s without change" "$LOG"
check "log: queue late watches its local folder with inotify" grep -q "queue=late: watching inbox $LATE (inotify, local file system)" "$LOG"
check "health says what queue dflt can see" wait_for 10 sh -c \
        "'$PDFSPOOLCTL' -c '$CFG' health | grep -q 'Queue dflt: sees   polling every 1.0 s, fuse file system: writers on other machines are not visible: a drop is complete after 30 s'"
check "health --json: dflt settles 30 s, remote writers not visible" sh -c \
        "'$PDFSPOOLCTL' -c '$CFG' --json health | jq -e '.queues[] | select(.queue == \"dflt\") | .daemon_view | .settle == 30 and .remote_writers_visible == false and .watch == \"poll\"'"
check "STATUS= says what queue test cannot see" wait_for 10 grep -q "STATUS=.*queue test: fuse mount, polled: writers on other machines are not visible" "$T/notify.txt"

mkpdf "$T/a.pdf" 2 "smb"
now_ms() { date +%s%3N; }
created_ms() { date -u -d "$(jq -r .created "$1/status.json")" +%s%3N; }
jobs_done() { jq -r .jobs.done "$1/status.json" 2>/dev/null; }
batch_done_at() { [ "$(jq_file "$1/status.json" .state)" = done ]; }

# ---- a folder copied on the server side ----
mkdir -p "$T/src/copied"
for i in 1 2 3 4 5; do mkpdf "$T/src/copied/p$i.pdf" 1 "copied $i"; done
cp -r "$T/src/copied" "$SHARE/"
# ---- a folder trickled one file a second (pauses shorter than settle) ----
mkdir -p "$SHARE/trickle"
for i in 1 2 3 4; do cp "$T/a.pdf" "$SHARE/trickle/t$i.pdf"; [ $i -lt 4 ] && sleep 1; done
# ---- a .ready marker, on the queue that settles 30 s ----
mkdir -p "$T/src/marked"; cp "$T/a.pdf" "$T/src/marked/m.pdf"; touch "$T/src/marked/.ready"
t_marked=$(now_ms)
cp -r "$T/src/marked" "$SHARE2/"
# ---- a folder whose writer pauses 6 s (longer than the old 2 s settle), on the 30 s queue ----
mkdir -p "$SHARE2/paused"; cp "$T/a.pdf" "$SHARE2/paused/first.pdf"
t_paused=$(now_ms)

check "copied folder: done" wait_for 60 batch_done_at "$OUTBOX/test/copied"
check "copied folder: 5 jobs, each exactly once" test "$(jobs_done "$OUTBOX/test/copied")" = 5 -a "$(grep -c 'batch=copied job=.*: job done' "$LOG")" = 5
ok "$(for i in 1 2 3 4 5; do bytes_in "$T/src/copied/p$i.pdf" "$OUTBOX/test/copied" 2>/dev/null || echo bad; done | grep -c bad)" \
        "copied folder: every original in the outbox equals its source"
check "trickled folder: one batch" wait_for 60 batch_done_at "$OUTBOX/test/trickle"
check "trickled folder: all 4 files in it, no second batch" test "$(jobs_done "$OUTBOX/test/trickle")" = 4 -a ! -e "$OUTBOX/test/trickle-2"
check "ready marker: done" wait_for 60 batch_done_at "$OUTBOX/dflt/marked"
marked_ms=$(( $(created_ms "$OUTBOX/dflt/marked") - t_marked ))
ok $([ $marked_ms -lt 15000 ] && echo 0 || echo 1) "ready marker: taken at once, not after the 30 s settle (${marked_ms} ms)"

# ---- a slow writer: a PDF written in three parts, pausing 4 s (> settle 2 s) ----
size=$(stat -c %s "$T/a.pdf")
third=$(( size / 3 ))
head -c $third "$T/a.pdf" > "$SHARE/slow.pdf"
sleep 4
head -c $(( 2 * third )) "$T/a.pdf" | tail -c +$(( third + 1 )) >> "$SHARE/slow.pdf"
sleep 4
tail -c +$(( 2 * third + 1 )) "$T/a.pdf" >> "$SHARE/slow.pdf"
t_last=$(now_ms)
check "slow writer: done" wait_for 60 batch_done_at "$OUTBOX/test/slow"
check "slow writer: never taken before its last write" test "$(created_ms "$OUTBOX/test/slow")" -ge "$t_last"
check "slow writer: the kept original equals the final file" bytes_in "$T/a.pdf" "$OUTBOX/test/slow"

# ---- the second file of the paused folder, 6 s after the first ----
while [ $(( $(now_ms) - t_paused )) -lt 6000 ]; do sleep 0.2; done
cp "$T/a.pdf" "$SHARE2/paused/second.pdf"
t_second=$(now_ms)
check "paused folder (30 s settle): done" wait_for 90 batch_done_at "$OUTBOX/dflt/paused"
check "paused folder: one batch with both files, not taken during the pause" \
        test "$(jobs_done "$OUTBOX/dflt/paused")" = 2 -a ! -e "$OUTBOX/dflt/paused-2"
ok $([ $(( $(created_ms "$OUTBOX/dflt/paused") - t_second )) -ge 29000 ] && echo 0 || echo 1) \
        "paused folder: taken only after 30 s without change ($(( $(created_ms "$OUTBOX/dflt/paused") - t_second )) ms after the last write)"

# ---- a share mounted over an inbox after the daemon started ----
mount --bind "$MNT/127.0.0.1/inbox3" "$LATE" || bail "cannot bind-mount the share over $LATE"
check "mount table followed: the inbox's file system changed, polling now" \
        wait_for 10 grep -q "queue=late: watching inbox $LATE (polling every 1.0 s, fuse file system" "$LOG"
t_late=$(now_ms)
cp "$T/a.pdf" "$SHARE3/late.pdf"
check "a drop on the share mounted later is done" wait_for 60 batch_done_at "$OUTBOX/late/late"
late_ms=$(( $(created_ms "$OUTBOX/late/late") - t_late ))
# settle 1 s, two looks that agree (1 s apart), one poll interval (1 s), and slack for a slow machine
ok $([ $late_ms -lt 6000 ] && echo 0 || echo 1) "the drop was seen within one poll interval (taken ${late_ms} ms after it was written; settle 1 s)"
umount "$LATE" || umount -l "$LATE"
check "unmounted: inotify again on the local folder" \
        wait_for 10 sh -c "grep -c 'queue=late: watching inbox $LATE (inotify, local file system)' '$LOG' | grep -qx 2"

# ---- a file added to a folder while its claim copies it ----
{
        printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\n'
        head -c 300000 /dev/urandom | base64 -w 0 | sed 's/^/% /'
        printf '\nBT /F1 18 Tf 72 760 Td (filler) Tj ET\n'
} > "$T/page.txt"
mutool create -o "$T/filler.pdf" "$T/page.txt" >/dev/null 2>&1 || bail "cannot make the filler PDF"
CLAIMS=$(ls -d "$STATE"/test/claims/*/ 2>/dev/null | head -n 1)
for i in 1 2 3; do
        name=race$i
        mkdir -p "$T/src/$name"
        for k in $(seq -w 1 20); do cp "$T/filler.pdf" "$T/src/$name/f$k.pdf"; done
        touch "$T/src/$name/.ready"
        mkpdf "$T/added-$name.pdf" 1 "added during the claim of $name"
        rm -f "$T/watch.ready"
        python3 "$top_srcdir/tests/system/claim-watch.py" "$CLAIMS" "$SHARE/$name" $(( (i - 1) * 100 )) \
                "$T/added-$name.pdf" "$T/watch.ready" > "$T/watch.out" 2>&1 &
        watcher=$!
        wait_for 10 test -e "$T/watch.ready" || diag "$name: the watcher did not start"
        mv "$T/src/$name" "$SHARE/"
        wait "$watcher"
        said=$(cat "$T/watch.out")
        wait_for 60 sh -c "[ ! -e '$SHARE/$name' ] && [ -f '$OUTBOX/test/$name/status.json' ] && [ -z \"\$(ls -A '$CLAIMS')\" ]"
        wait_for 30 sh -c "for f in '$OUTBOX/test/$name'*/status.json; do jq -e '.state == \"done\"' \"\$f\" >/dev/null || exit 1; done"
        if [[ $said != added* ]]; then
                where="not added ($said)"; r=0
        elif bytes_in "$T/added-$name.pdf" "$OUTBOX/test"; then
                where="processed"; r=0
        elif [ -n "$(find "$SHARE" -name "added-$name.pdf")" ]; then
                where="still in the inbox"; r=0
        else
                where="LOST"; r=1
        fi
        ok $r "$name: a file added while its claim copies it is processed or still in the inbox, never gone ($where; $said)"
done

# ---- smbd stopped and started again ----
holds_before=$(grep -c 'queue=test: queue on hold' "$LOG")
stop_smbd
check "smbd stopped: queue test on hold" wait_for 60 grep -q 'queue=test: queue on hold: .*inbox' "$LOG"
check "STATUS= says the queue is on hold" wait_for 10 grep -q "STATUS=.*queue test on hold: " "$T/notify.txt"
"$PDFSPOOLCTL" -c "$CFG" health > "$T/health.txt"; code=$?
check "health: exit 1 and says queue test is on hold" test $code = 1 -a -n "$(grep 'Queue test: on hold: ' "$T/health.txt")"
cp "$T/a.pdf" "$SHARE/while-down.pdf"
start_smbd || bail "smbd did not start again"
check "smbd back: queue test resumed, and says so" wait_for 60 grep -q "queue=test: inbox $INBOX reads again; queue resumed" "$LOG"
check "the drop written while the share was away is done" wait_for 60 batch_done_at "$OUTBOX/test/while-down"
# every poll (one a second) failed from the hold to the resume: said once all the same
check "the hold was said once" test "$(grep -c 'queue=test: queue on hold' "$LOG")" = $((holds_before + 1))
check "health: exit 0 again" wait_for 10 "$PDFSPOOLCTL" -c "$CFG" health

# ---- a hung mount: the SMB client stops answering (smbnetfs stopped) ----
since=$(now_unix)
kill -STOP "$SMBNETFS_PID"
check "hung mount: queue test on hold, the inbox does not answer" \
        wait_for 40 grep -q "queue=test: queue on hold: inbox $INBOX does not answer (no listing within 10 s)" "$LOG"
# The mount table changes elsewhere meanwhile: following it must not touch the hung inbox.
mkdir -p "$T/elsewhere"
if mount -t tmpfs -o size=1m tmpfs "$T/elsewhere"; then
        umount "$T/elsewhere"
        t_umount=$(now_unix)
        # a ping after it, or 3 s for the gap below to show a loop that blocked
        wait_for 3 awk -v t="$t_umount" -v p="$DAEMON_PID" '$1 > t && $2 == p && /WATCHDOG=1/ { f = 1 } END { exit !f }' "$T/notify.txt"
fi
gap=$(watchdog_gap_ms "$T/notify.txt" "$DAEMON_PID" "$since")
ok $([ "${gap%% *}" -lt 1500 ] && echo 0 || echo 1) "hung mount: the loop never blocked (longest gap between WATCHDOG=1: $gap)"
# (pdfspoolctl health is not asked now: loading the configuration resolves the
# inbox's path, which hangs on the hung mount too.)
check "hung mount: the daemon's view for health says both inboxes do not answer" \
        wait_for 15 sh -c "jq -e '[.queues[] | select(.answers == false and (.hold | test(\"does not answer\")))] | length == 2' '$STATE/queues.json'"
cp "$T/a.pdf" "$SHARE/while-hung.pdf"
kill -CONT "$SMBNETFS_PID"
check "hung mount answers again: queue test resumed" \
        wait_for 60 sh -c "[ \$(grep -c 'queue=test: inbox $INBOX reads again; queue resumed' '$LOG') = 2 ]"
check "the drop written while the mount hung is done" wait_for 60 batch_done_at "$OUTBOX/test/while-hung"
check "the daemon stayed up" kill -0 "$DAEMON_PID"
stop_daemon
done_testing
