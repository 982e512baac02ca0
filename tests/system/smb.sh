#!/bin/bash
# Uploads through a real SMB share (Samba on loopback), as users send them: a
# large file, whole folders with mput, a folder uploaded under a hidden name and
# renamed into place, an upload interrupted halfway and resumed (smbclient's
# reput, or libsmbclient where reput is broken), and a put from a pipe (smbd
# creates the file at 0 bytes and holds it open until the client has read
# everything). Each is processed exactly once, whole, and never before its
# upload finished. Needs root, samba and smbclient; uses TCP port 4450 on lo
# ($SMB_PORT to change it).
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed (apt-get install mupdf-tools)"
command -v jq >/dev/null || skip_all "jq not installed"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (smbd, force user = root)"
SMBD=$(command -v smbd || ls /usr/sbin/smbd 2>/dev/null)
[ -n "$SMBD" ] && [ -x "$SMBD" ] || skip_all "smbd not installed (apt-get install samba)"
command -v smbclient >/dev/null || skip_all "smbclient not installed (apt-get install smbclient)"
command -v setsid >/dev/null || skip_all "setsid not installed"

SMB_PORT=${SMB_PORT:-4450}
if command -v ss >/dev/null && ss -Hltn "sport = :$SMB_PORT" | grep -q .; then
        skip_all "port $SMB_PORT is already in use (set SMB_PORT)"
fi

# ---- Samba ----
SMB=$T/samba
SMBD_PID=
mkdir -p "$SMB"/{private,lock,state,cache,pid,ncalrpc,binddns,usershares,log} "$INBOX"
cat > "$SMB/smb.conf" <<EOC
[global]
        server role = standalone server
        workgroup = PDFSPOOLTEST
        netbios name = PDFSPOOLSMB
        smb ports = $SMB_PORT
        interfaces = lo
        bind interfaces only = yes
        map to guest = Bad User
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
[inbox]
        path = $INBOX
        guest ok = yes
        read only = no
        force user = root
EOC

# Stop smbd and every process it forked (its own process group, via setsid),
# and anything still named in its pid file. Runs from lib.sh's cleanup.
stop_smbd() {
        local pids p
        [ -z "$SMBD_PID" ] && return 0
        pids="$SMBD_PID $(cat "$SMB/pid/"*.pid 2>/dev/null) $(pgrep -g "$SMBD_PID" 2>/dev/null)"
        kill -TERM -- -"$SMBD_PID" 2>/dev/null
        for p in $pids; do kill -TERM "$p" 2>/dev/null; done
        wait_for 10 smbd_group_gone
        kill -KILL -- -"$SMBD_PID" 2>/dev/null
        for p in $pids; do kill -KILL "$p" 2>/dev/null; done
        wait "$SMBD_PID" 2>/dev/null
        SMBD_PID=
}
# smbd_live_pids PGID: processes of the group that still run (zombies do not count:
# a child that outlived smbd is re-parented to an init that may never reap it).
smbd_live_pids() {
        local p st
        for p in $(pgrep -g "$1" 2>/dev/null); do
                st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
                [ -n "$st" ] && [ "$st" != Z ] && echo "$p"
        done
}
smbd_group_gone() { [ -z "$(smbd_live_pids "$SMBD_PID")" ]; }
EXTRA_CLEANUP=stop_smbd
trap 'exit 130' INT TERM

# smbc COMMANDS: run smbclient commands on the share, as a user would.
# Each client run has a deadline too.
smbc() { timeout 60 smbclient "//127.0.0.1/inbox" -p "$SMB_PORT" -N -c "$1" </dev/null >>"$T/smbclient.log" 2>&1; }
smb_ready() { timeout 10 smbclient "//127.0.0.1/inbox" -p "$SMB_PORT" -N -c 'ls' </dev/null >/dev/null 2>&1; }
now_ms() { date +%s%3N; }
created_ms() { date -u -d "$(jq -r .created "$OUTBOX/$1/status.json")" +%s%3N; }
done_lines() { grep -c "batch=$1 job=$2: job done" "$LOG"; }
pages_of() { mutool info "$1" 2>/dev/null | sed -n 's/^Pages: *//p'; }

# setsid: smbd leads its own process group, so the cleanup can end it and all
# its children at once (--no-process-group keeps smbd from making one itself).
setsid "$SMBD" --foreground --no-process-group -s "$SMB/smb.conf" -l "$SMB/log" \
        >"$SMB/log/stdout" 2>&1 </dev/null &
SMBD_PID=$!
if ! wait_for 20 smb_ready; then
        diag "smbd did not accept connections:"
        tail -n 20 "$SMB/log/stdout" "$SMB/log/smbd.log" 2>/dev/null | sed 's/^/# /'
        bail "smbd did not start"
fi

# Resuming an interrupted upload. smbclient's reput should write the rest of
# the local file at the remote file's current size; smbclient 4.17 writes it at
# offset 0 instead (the file ends up as its own second half). Probe it on a
# hidden name (which the daemon ignores); when it is broken, resume through
# libsmbclient (the library GNOME's and KDE's file managers use): open the
# file, seek to its end, write the rest.
smb_resume() { # smb_resume REMOTE-NAME LOCAL-FILE
        timeout 60 python3 - "smb://127.0.0.1/inbox/$1" "$2" "$SMB_PORT" >>"$T/smbclient.log" 2>&1 <<'EOPY'
import ctypes as ct, os, sys
url, local, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
lib = ct.CDLL("libsmbclient.so.0", use_errno=True)
lib.smbc_new_context.restype = ct.c_void_p
lib.smbc_setPort.argtypes = [ct.c_void_p, ct.c_uint16]
lib.smbc_init_context.restype = ct.c_void_p
lib.smbc_init_context.argtypes = [ct.c_void_p]
lib.smbc_set_context.argtypes = [ct.c_void_p]
lib.smbc_open.argtypes = [ct.c_char_p, ct.c_int, ct.c_uint]
lib.smbc_lseek.restype = ct.c_int64
lib.smbc_lseek.argtypes = [ct.c_int, ct.c_int64, ct.c_int]
lib.smbc_write.restype = ct.c_ssize_t
lib.smbc_write.argtypes = [ct.c_int, ct.c_char_p, ct.c_size_t]
ctx = lib.smbc_new_context()
lib.smbc_setPort(ctx, port)
if not lib.smbc_init_context(ctx):
    sys.exit("smbc_init_context failed")
lib.smbc_set_context(ctx)
fd = lib.smbc_open(url.encode(), os.O_RDWR, 0)
if fd < 0:
    sys.exit("open %s: %s" % (url, os.strerror(ct.get_errno())))
have = lib.smbc_lseek(fd, 0, os.SEEK_END)
if have < 0:
    sys.exit("seek: %s" % os.strerror(ct.get_errno()))
with open(local, "rb") as f:
    f.seek(have)
    data = f.read()
if lib.smbc_write(fd, data, len(data)) != len(data) or lib.smbc_close(fd) != 0:
    sys.exit("write: %s" % os.strerror(ct.get_errno()))
print("resumed %s at %d: wrote %d bytes" % (url, have, len(data)))
EOPY
}
seq 1 3000 > "$T/probe-full"
head -c 5000 "$T/probe-full" > "$T/probe-half"
smbc "put $T/probe-half .reput-probe; reput $T/probe-full .reput-probe"
if cmp -s "$T/probe-full" "$INBOX/.reput-probe"; then
        RESUME=reput
else
        diag "smbclient's reput does not append here ($(smbclient --version)): resuming with libsmbclient instead"
        RESUME=libsmbclient
        rm -f "$INBOX/.reput-probe"
        smbc "put $T/probe-half .reput-probe"
        smb_resume .reput-probe "$T/probe-full"
        cmp -s "$T/probe-full" "$INBOX/.reput-probe" ||
                skip_all "cannot resume an SMB upload here: smbclient's reput is broken and libsmbclient through python3 failed"
fi
smbc "del .reput-probe"
check "smbd is up and leads its own process group" test "$(ps -o pgid= -p "$SMBD_PID" | tr -d ' ')" = "$SMBD_PID"

# settle 1 s; a file that looks cut short waits up to 60 s for its uploader.
INCOMPLETE_WAIT=60s write_config 1s
start_daemon || bail "daemon did not start"

# ---- 1. a large file, uploaded with put ----
# ~5 MB: 150 pages, each carrying ~40 KB of incompressible comment in its content.
gen=$T/gen
mkdir -p "$gen"
for i in $(seq 1 150); do
        {
                printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\nBT /F1 18 Tf 72 760 Td (Large upload page %d) Tj ET\n' "$i"
                head -c 30000 /dev/urandom | base64 -w 76 | sed 's/^/% /'
        } > "$gen/p$i.txt"
done
mutool create -o "$T/large.pdf" $(for i in $(seq 1 150); do echo "$gen/p$i.txt"; done) >/dev/null 2>&1
rm -rf "$gen"
large_size=$(stat -c %s "$T/large.pdf")
diag "large.pdf: $large_size bytes, $(pages_of "$T/large.pdf") pages"
check "large test file is several MB" test "$large_size" -gt $((4 * 1024 * 1024))
smbc "put $T/large.pdf large.pdf"; rc=$?
end=$(now_ms)
check "large file uploaded with smbclient put" test $rc -eq 0
check "large file becomes a batch that finishes" wait_batch_done large 60
check "large file: done, all 150 pages" test "$(job_state large large)" = done -a "$(jq_file "$OUTBOX/large/large/status.json" .pages)" = 150
check "large file processed exactly once" test "$(done_lines large large)" -eq 1
check "large file: original kept byte for byte" cmp -s "$T/large.pdf" "$OUTBOX/large/large/large.pdf"
check "large file taken only after the upload finished" test "$(created_ms large)" -gt "$end"

# ---- 2. whole folders with mput ----
src=$T/src2
mkdir -p "$src/Quarterly/sub1/deeper" "$src/Quarterly/sub2"
mkpdf "$src/Quarterly/a.pdf" 3 "folder a"
mkpdf "$src/Quarterly/b.pdf" 1 "folder b"
mkpdf "$src/Quarterly/sub1/c.pdf" 2 "folder c"
mkpdf "$src/Quarterly/sub1/deeper/d.pdf" 4 "folder d"
mkpdf "$src/Quarterly/sub2/e.pdf" 1 "folder e"
cp "$T/large.pdf" "$src/Quarterly/sub2/f.pdf"
smbc "prompt off; recurse on; lcd $src; mput Quarterly"; rc=$?
end=$(now_ms)
check "folder uploaded with mput" test $rc -eq 0
check "mput folder becomes a batch that finishes" wait_batch_done Quarterly 60
check "mput folder: ONE batch with all 6 files done" \
        jq -e '.jobs.total == 6 and .jobs.done == 6' "$OUTBOX/Quarterly/status.json"
check "mput folder: counts add up" counts_add_up Quarterly
once=0
for j in a b sub1/c sub1/deeper/d sub2/e sub2/f; do
        [ "$(done_lines Quarterly "$j")" -eq 1 ] && [ "$(job_state Quarterly "$j")" = done ] || { once=1; diag "Quarterly/$j: $(done_lines Quarterly "$j") done lines, state $(job_state Quarterly "$j")"; }
done
check "mput folder: each file processed exactly once" test $once -eq 0
check "mput folder: large member whole (150 pages)" test "$(jq_file "$OUTBOX/Quarterly/sub2/f/status.json" .pages)" = 150
check "mput folder: no partial batch, no second batch" test -z "$(ls "$OUTBOX" | grep '^Quarterly-')"
check "mput folder taken only after the upload finished" test "$(created_ms Quarterly)" -gt "$end"

# The same over a slow link: one session, a folder file by file with pauses
# (0.6 s) shorter than settle (1 s) between them; still ONE batch.
cmds="mkdir Paced; mkdir Paced\\sub"
for i in 1 2 3 4; do
        mkpdf "$T/paced$i.pdf" 2 "paced $i"
        [ $i -le 2 ] && dest="Paced\\p$i.pdf" || dest="Paced\\sub\\p$i.pdf"
        [ $i -gt 1 ] && cmds="$cmds; !sleep 0.6"
        cmds="$cmds; put $T/paced$i.pdf $dest"
done
smbc "$cmds"; rc=$?
end=$(now_ms)
check "folder uploaded file by file with pauses" test $rc -eq 0
check "paced folder becomes a batch that finishes" wait_batch_done Paced 60
check "paced folder: ONE batch with all 4 files done, each once" sh -c "
        jq -e '.jobs.total == 4 and .jobs.done == 4' '$OUTBOX/Paced/status.json' >/dev/null &&
        test \$(grep -c 'batch=Paced job=.*: job done' '$LOG') -eq 4 &&
        test -z \"\$(ls '$OUTBOX' | grep '^Paced-')\""
check "paced folder taken only after its last file" test "$(created_ms Paced)" -gt "$end"

# ---- 3. a folder uploaded under a hidden name, then renamed into place ----
src=$T/src3
mkdir -p "$src"
mkpdf "$src/x1.pdf" 2 "renamed x1"
mkpdf "$src/x2.pdf" 1 "renamed x2"
mkpdf "$src/x3.pdf" 3 "renamed x3"
mkpdf "$src/sentinel.pdf" 1 "sentinel"
smbc "mkdir .incoming-x; mkdir .incoming-x\\sub; put $src/x1.pdf .incoming-x\\x1.pdf; put $src/x2.pdf .incoming-x\\x2.pdf; put $src/x3.pdf .incoming-x\\sub\\x3.pdf"; rc=$?
check "hidden folder uploaded" test $rc -eq 0 -a -f "$INBOX/.incoming-x/sub/x3.pdf"
# A plain drop made after it: once that is done, the daemon has had more than
# the settle time to take the hidden folder, had it wanted to.
smbc "put $src/sentinel.pdf sentinel.pdf"
check "a drop uploaded after the hidden folder is processed" wait_batch_done sentinel 60
check "hidden folder untouched: still in the inbox with its 3 files" \
        test "$(find "$INBOX/.incoming-x" -type f | wc -l)" -eq 3
check "nothing taken from the hidden folder" sh -c "! ls -A '$OUTBOX' | grep -q incoming && ! grep -q 'incoming-x' '$LOG'"
smbc "rename .incoming-x final-x"; rc=$?
end=$(now_ms)
check "hidden folder renamed into place over SMB" test $rc -eq 0 -a ! -e "$INBOX/.incoming-x"
check "renamed folder becomes a batch that finishes" wait_batch_done final-x 60
check "renamed folder: ONE batch with all 3 files done" jq -e '.jobs.total == 3 and .jobs.done == 3' "$OUTBOX/final-x/status.json"
check "renamed folder: each file processed exactly once" \
        test "$(done_lines final-x x1)" -eq 1 -a "$(done_lines final-x x2)" -eq 1 -a "$(done_lines final-x sub/x3)" -eq 1
check "renamed folder: no second batch" test -z "$(ls "$OUTBOX" | grep '^final-x-')"
check "renamed folder taken only after the rename" test "$(created_ms final-x)" -gt "$end"

# ---- 4. an upload interrupted halfway, then resumed ----
mkpdf "$T/full.pdf" 30 "resumed upload"
full_size=$(stat -c %s "$T/full.pdf")
head -c $((full_size / 2)) "$T/full.pdf" > "$T/half.pdf"
check "premise: the first half has no %%EOF" sh -c "! grep -q '%%EOF' '$T/half.pdf'"
smbc "put $T/half.pdf big.pdf"; rc=$?
check "first half uploaded" test $rc -eq 0
check "daemon waits for the cut-short file (log says: does not end with %%EOF)" \
        wait_for 20 grep -q 'waiting for big.pdf: .*does not end with %%EOF' "$LOG"
check "cut-short file not taken: still in the inbox, half its size" \
        test -f "$INBOX/big.pdf" -a "$(stat -c %s "$INBOX/big.pdf" 2>/dev/null)" -eq $((full_size / 2))
check "cut-short file not taken: no batch" test ! -e "$OUTBOX/big"
case $RESUME in
reput) smbc "reput $T/full.pdf big.pdf"; rc=$? ;;
*) smb_resume big.pdf "$T/full.pdf"; rc=$? ;;
esac
end=$(now_ms)
check "upload resumed from the current size (with $RESUME)" test $rc -eq 0
check "resumed file becomes a batch that finishes" wait_batch_done big 60
check "resumed file: done, all 30 pages" test "$(job_state big big)" = done -a "$(jq_file "$OUTBOX/big/big/status.json" .pages)" = 30
check "resumed file: byte for byte the full file" cmp -s "$T/full.pdf" "$OUTBOX/big/big/big.pdf"
check "resumed file processed exactly once" test "$(done_lines big big)" -eq 1
check "resumed file: no second batch" test -z "$(ls "$OUTBOX" | grep '^big-')"
check "resumed file taken only after the resumed upload finished" test "$(created_ms big)" -gt "$end"

# ---- 5. put from a pipe, written slowly ----
# smbd creates piped.pdf at 0 bytes and holds it open until smbclient has read
# everything from the pipe. The writer sleeps deliberately (4 chunks, 1 s apart;
# longer in total than settle) and looks at the spool just before its last chunk.
mkpdf "$T/piped-src.pdf" 12 "piped upload"
psize=$(stat -c %s "$T/piped-src.pdf")
chunk=$(( (psize + 3) / 4 ))
mkfifo "$T/pipe"
timeout 60 smbclient "//127.0.0.1/inbox" -p "$SMB_PORT" -N -c 'put /dev/stdin piped.pdf' <"$T/pipe" >>"$T/smbclient.log" 2>&1 &
client=$!
(
        exec 3>"$T/pipe"
        for i in 0 1 2 3; do
                if [ $i -eq 3 ]; then
                        # More than 3 s after the 0-byte file appeared: record what the daemon did.
                        { stat -c %s "$INBOX/piped.pdf" 2>/dev/null || echo missing; } > "$T/piped-size-before-last"
                        if [ -e "$OUTBOX/piped" ]; then echo taken; else echo waiting; fi > "$T/piped-before-last"
                fi
                dd if="$T/piped-src.pdf" bs="$chunk" skip=$i count=1 2>/dev/null >&3
                sleep 1
        done
        exec 3>&-
) &
writer=$!
wait $writer
wait $client; rc=$?
end=$(now_ms)
check "put from a pipe finished" test $rc -eq 0
check "premise: smbd kept the piped file at 0 bytes while the client read" test "$(cat "$T/piped-size-before-last")" = 0
check "the 0-byte piped file was not taken while smbd held it open" test "$(cat "$T/piped-before-last")" = waiting
check "piped file becomes a batch that finishes" wait_batch_done piped 60
check "it was the open-for-writing check that held it (never reported as empty)" \
        sh -c "! grep -q 'waiting for piped.pdf' '$LOG'"
check "piped file: done, all 12 pages" test "$(job_state piped piped)" = done -a "$(jq_file "$OUTBOX/piped/piped/status.json" .pages)" = 12
check "piped file: byte for byte the source" cmp -s "$T/piped-src.pdf" "$OUTBOX/piped/piped/piped.pdf"
check "piped file processed exactly once" test "$(done_lines piped piped)" -eq 1
check "piped file: no second batch" test -z "$(ls "$OUTBOX" | grep '^piped-')"
check "piped file taken only after the client finished" test "$(created_ms piped)" -gt "$end"

# ---- overall ----
# 1 + 6 + 4 + 1 (sentinel) + 3 + 1 + 1 jobs in all, each done exactly once.
check "every job done exactly once (17 job-done lines, no duplicates)" \
        sh -c "test \$(grep -c ': job done' '$LOG') -eq 17 && test -z \"\$(grep -o 'batch=[^ ]* job=[^:]*: job done' '$LOG' | sort | uniq -d)\""
check "no failed job anywhere" sh -c "! grep -l '\"state\": *\"failed\"' -r '$OUTBOX' --include=status.json | grep -q ."
check "the inbox is empty" test -z "$(ls -A "$INBOX")"
stop_daemon
smbd_group=$SMBD_PID
stop_smbd
check "smbd and its children are gone" sh -c "test -z '$(smbd_live_pids "$smbd_group")' && ! kill -0 $smbd_group 2>/dev/null"
done_testing
