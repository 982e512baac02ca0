#!/bin/bash
# Power loss: the spool (inbox, outbox, state) lives on an ext4 file system in an
# image on a loop device; a cut freezes the daemon and its workers, clones the
# image as the disk has received it (an XFS reflink copy: none of ext4's page
# cache, none of its uncommitted journal), kills them, and mounts the clone as
# the disk after power comes back (../shared/docs/TESTING.md, "Power cuts").
# The kernel here has no device-mapper (no dm-flakey, no dm-log-writes).
#
# First a cut with no daemon running proves that a cut throws away what was not
# synced (the data of a file written without fsync is gone) and keeps what was (a
# file fsynced with its directory). Then at least 20 cuts at seeded random
# moments while batches are dropped; each keeps its fsynced canary. Then:
# every job the daemon had logged done before the cut is still done, with its
# outputs; every PDF dropped (and synced by the test) before the cut is still
# somewhere on the disk. At the end, after the last restart, the spool's
# invariant holds (check-spool): every PDF done exactly once, nothing lost.
# POWERCUT_SEED=N replays the moments; POWERCUT_CUTS scales it.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (loop devices, mount)"
for c in mutool jq python3 losetup mkfs.ext4 mkfs.xfs; do
        command -v "$c" >/dev/null || skip_all "$c not installed (xfsprogs gives mkfs.xfs)"
done

SEED=${POWERCUT_SEED:-$(( $(date +%s%N) / 1000 % 1000000 ))}
CUTS=${POWERCUT_CUTS:-20}
RANDOM=$SEED
diag "seed $SEED (replay: POWERCUT_SEED=$SEED), $CUTS cuts"

OUTER=$T/outer
MNT=$T/mnt
OUTER_LOOP=
INNER_LOOP=
EXTRA_CLEANUP='umount "$MNT" 2>/dev/null; [ -n "$INNER_LOOP" ] && losetup -d "$INNER_LOOP"; umount "$OUTER" 2>/dev/null; [ -n "$OUTER_LOOP" ] && losetup -d "$OUTER_LOOP"'
mkdir -p "$OUTER" "$MNT"
truncate -s 3G "$T/outer.img"
OUTER_LOOP=$(losetup -f --show "$T/outer.img") || skip_all "no loop device"
mkfs.xfs -q -m reflink=1 "$OUTER_LOOP" >/dev/null 2>&1 || skip_all "mkfs.xfs with reflink failed"
mount "$OUTER_LOOP" "$OUTER" || skip_all "cannot mount XFS"
truncate -s 768M "$OUTER/disk.img"
mkfs.ext4 -q -F "$OUTER/disk.img" >/dev/null 2>&1 || bail "mkfs.ext4 failed"
power_on() {
        INNER_LOOP=$(losetup -f --show "$OUTER/disk.img") && mount -o noauto_da_alloc,commit=30 "$INNER_LOOP" "$MNT"
}
power_on || skip_all "cannot mount the ext4 image"

INBOX=$MNT/inbox OUTBOX=$MNT/outbox STATE=$MNT/state
mkdir -p "$MNT/stage" "$T/pristine"
WORKERS=2 write_config 0.3s
sync -f "$MNT"

# 20 to 30 drops of 1 to 8 PDFs of 1, 5 or 30 pages, made ahead in the
# pristine folder; each is copied to the disk, synced, moved in, synced again.
PAGES=(1 5 30)
for p in "${PAGES[@]}"; do mkpdf "$T/proto$p.pdf" "$p" "power cut, $p pages"; done
NDROPS=$((CUTS + 10))
n=0
for d in $(seq 1 "$NDROPS"); do
        mkdir -p "$T/pristine/drop$d"
        for _ in $(seq 0 $((RANDOM % 8))); do
                n=$((n + 1))
                cp "$T/proto${PAGES[RANDOM % 3]}.pdf" "$T/pristine/drop$d/doc$n.pdf"
                printf '%% power cut copy %s\n%%%%EOF\n' "$n" >> "$T/pristine/drop$d/doc$n.pdf"
        done
done
diag "$n PDFs in $NDROPS drops"
drop() {
        cp -r "$T/pristine/drop$1" "$MNT/stage/"
        sync -f "$MNT"
        mv "$MNT/stage/drop$1" "$INBOX/"
        sync -f "$MNT"
        echo "$1" >> "$T/dropped"
}
: > "$T/dropped"

# present_somewhere: every PDF of every drop made so far has its bytes somewhere
# on the disk (inbox, claim, outbox).
present_somewhere() {
        local have missing=0 d f
        have=$(find "$MNT/inbox" "$MNT/state" "$MNT/outbox" -type f -name '*.pdf' -print0 2>/dev/null | xargs -0r sha256sum | cut -d' ' -f1 | sort -u)
        while read -r d; do
                for f in "$T/pristine/drop$d"/*.pdf; do
                        grep -qx "$(sha256sum < "$f" | cut -d' ' -f1)" <<< "$have" || { echo "# lost at cut $cut: $f"; missing=1; }
                done
        done < "$T/dropped"
        return $missing
}
# done_jobs_intact FILE: every "batch job" line of FILE is a done job with outputs
done_jobs_intact() {
        local b j d bad=0
        while read -r b j; do
                d=$OUTBOX/$b/$j
                [ -d "$d" ] || d=$(find "$OUTBOX/$b" -mindepth 1 -type d -name "$j" | head -n 1)
                if [ "$(jq -r .state "$d/status.json" 2>/dev/null)" != done ] || [ ! -s "$d/meta.json" ] ||
                   [ ! -s "$d/thumb.png" ] || [ ! -f "$d/text.txt" ]; then
                        echo "# done before cut $cut but not after: $b/$j"
                        bad=1
                fi
        done < "$1"
        return $bad
}

# cut_power: freeze the daemon and its children (if it runs) so nothing more
# reaches the disk, take the disk as it is, kill them, power on with that disk.
cut_power() {
        local pids=
        if [ -n "$DAEMON_PID" ]; then
                pids="$DAEMON_PID $(pgrep -P "$DAEMON_PID" | tr '\n' ' ')"
                kill -STOP $pids 2>/dev/null
        fi
        grep -o 'batch=[^ ]* job=[^:]*: job done' "$LOG" | sed 's/batch=\([^ ]*\) job=\([^:]*\): job done/\1 \2/' | sort -u > "$T/done-before"
        cp --reflink=always "$OUTER/disk.img" "$OUTER/cut.img" || bail "reflink copy failed"
        if [ -n "$pids" ]; then
                kill -KILL $pids 2>/dev/null
                wait "$DAEMON_PID" 2>/dev/null
                DAEMON_PID=
                # killed workers still hold files on the disk until they are gone
                for p in $pids; do wait_for 20 not_running "$p"; done
        fi
        umount "$MNT" && losetup -d "$INNER_LOOP" && INNER_LOOP= || bail "cannot unmount after cut $cut"
        mv "$OUTER/cut.img" "$OUTER/disk.img"
        power_on || bail "cannot mount after cut $cut"
}
# canaries: one file written and closed only, one fsynced with its directory
canaries() {
        echo unsynced > "$MNT/canary-unsynced.$1"
        python3 -c 'import os,sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b"synced\n"); os.fsync(fd); os.close(fd)
d = os.open(os.path.dirname(sys.argv[1]), os.O_RDONLY); os.fsync(d); os.close(d)' "$MNT/canary-synced.$1"
}

# Cut 0, with no daemon running (it calls syncfs, which would save the unsynced
# canary too): the cut must lose the unsynced file's data and keep the synced one.
cut=0
: >> "$LOG"
canaries 0
cut_power
[ -s "$MNT/canary-unsynced.0" ] && unsynced0=kept || unsynced0=lost
check "a cut throws away unsynced data (the unsynced file's data: $unsynced0)" test "$unsynced0" = lost
check "a cut keeps what was fsynced with its directory" test "$(cat "$MNT/canary-synced.0" 2>/dev/null)" = synced
rm -f "$MNT"/canary-*

start_daemon || bail "daemon did not start"
next=1
canary_bad=0
unsynced_lost=0
lost_bad=0
done_bad=0
total_done_checked=0
for cut in $(seq 1 "$CUTS"); do
        [ "$next" -le "$NDROPS" ] && { drop "$next"; next=$((next + 1)); }
        sleep "0.$(printf %03d $((RANDOM % 1000)))"
        canaries "$cut"
        cut_power
        diag "cut $cut at $(date +%T.%N | cut -c1-12): $(wc -l < "$T/done-before") jobs done before; disk now on $INNER_LOOP ($(stat -c %d "$MNT"))"
        # the unsynced canary may have been saved by the daemon's syncfs: only counted
        [ -s "$MNT/canary-unsynced.$cut" ] || unsynced_lost=$((unsynced_lost + 1))
        if [ "$(cat "$MNT/canary-synced.$cut" 2>/dev/null)" != synced ]; then
                diag "cut $cut lost a file that was fsynced with its directory"
                canary_bad=1
        fi
        rm -f "$MNT"/canary-*
        present_somewhere || lost_bad=1
        done_jobs_intact "$T/done-before" || done_bad=1
        total_done_checked=$((total_done_checked + $(wc -l < "$T/done-before")))
        start_daemon || bail "daemon did not start after cut $cut"
done
while [ "$next" -le "$NDROPS" ]; do drop "$next"; next=$((next + 1)); done

diag "the unsynced canary's data was lost in $unsynced_lost of $CUTS cuts (the daemon's syncfs saves it otherwise)"
check "$CUTS cuts while the daemon ran, each kept the fsynced canary" test "$canary_bad" -eq 0
check "after every cut every dropped PDF was still on the disk" test "$lost_bad" -eq 0
check "after every cut every job done before it was done, with outputs ($total_done_checked checks)" test "$done_bad" -eq 0

settled() { python3 "$CHECK_SPOOL" --inbox "$INBOX" --outbox "$OUTBOX" --state "$STATE" --pristine "$T/pristine" >/dev/null 2>&1; }
wait_settled 60 900 settled
check_spool "$T/pristine" --summary
ok $? "after the last power-on the spool's invariant holds (check-spool: all $n PDFs done once)"
stop_daemon
done_testing
