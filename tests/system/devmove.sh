#!/bin/bash
# A spool whose file system comes back under another device number (a reboot
# that numbers disks or loop devices anew) resumes its batches: the jobs of a
# batch interrupted before it moved are done, none failed as "changed after it
# was taken" (the identity of a taken file is its inode and size on the
# claim's file system, not the device number).
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (runs the test worker)"
command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null || skip_all "losetup or mkfs.ext4 not installed"
[ "$(id -u)" = 0 ] || skip_all "not root: cannot attach loop devices"

MNT=$T/fs
mkdir -p "$MNT"
truncate -s 64M "$T/disk.img"
mkfs.ext4 -q -F "$T/disk.img" >/dev/null 2>&1 || skip_all "mkfs.ext4 failed"
truncate -s 1M "$T/dummy.img"
LOOP=$(losetup -f --show "$T/disk.img") || skip_all "no loop device"
DUMMY=
EXTRA_CLEANUP='umount "$MNT" 2>/dev/null; [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null; [ -n "$DUMMY" ] && losetup -d "$DUMMY" 2>/dev/null'
mount "$LOOP" "$MNT" || skip_all "cannot mount the loop device"
INBOX=$MNT/inbox OUTBOX=$MNT/outbox STATE=$MNT/state

export PDFSPOOL_WORKER=$top_srcdir/tests/system/fake-worker.py
export FAKE_WORKER_GATE=$T/gate
WORKERS=2 write_config 0.3s
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 1
mkdir -p "$T/src/moved"
cp "$T/a.pdf" "$T/src/moved/gate1.pdf"
for i in 1 2 3 4 5 6 7 8; do cp "$T/a.pdf" "$T/src/moved/doc$i.pdf"; done
mv "$T/src/moved" "$INBOX/"
check "the batch runs (a job held at its gate)" wait_for 30 sh -c "[ \"\$(jq -r .state '$OUTBOX/moved/gate1/status.json' 2>/dev/null)\" = processing ]"
dev_before=$(stat -c %d "$MNT")
kill_daemon
umount "$MNT" && losetup -d "$LOOP" || bail "cannot detach $LOOP"
# the old number taken by another image, so the spool comes back under a new one
DUMMY=$(losetup -f --show "$T/dummy.img") || bail "no second loop device"
LOOP=$(losetup -f --show "$T/disk.img") && mount "$LOOP" "$MNT" || bail "cannot mount the spool again"
dev_after=$(stat -c %d "$MNT")
check "the spool's file system has another device number ($dev_before -> $dev_after)" test "$dev_before" != "$dev_after"
touch "$FAKE_WORKER_GATE"
start_daemon || bail "daemon did not restart"
check "the batch finishes" wait_batch_done moved 60
check "... every job done, none failed ($(jq -c .jobs "$OUTBOX/moved/status.json" 2>/dev/null))" \
        jq -e '.jobs.done == 9 and .jobs.failed == 0' "$OUTBOX/moved/status.json"
check "no job says it changed after it was taken" sh -c "! grep -q 'changed after it was taken' '$LOG'"
stop_daemon
done_testing
