#!/bin/bash
# The worker reads its PDF only from the descriptor that comes with the job
# (proto.h, version 2): a job without one is a protocol error; a job whose
# outputs cannot be written says so apart from a bad PDF ("resource_error",
# "errno"), so that the daemon can defer it instead of failing the PDF.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (drives the worker)"
command -v jq >/dev/null || skip_all "jq not installed"

mkpdf "$T/a.pdf" 2 "worker protocol"
printf 'not a pdf at all' > "$T/junk.pdf"
cat > "$T/drive.py" <<'EOP'
import json, os, resource, signal, socket, subprocess, sys

worker, case, pdf, out = sys.argv[1:5]
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

def child():
    os.dup2(theirs.fileno(), 3)
    if case == "fsize":
        # Writes past 64 bytes fail with EFBIG, as a full disk fails with ENOSPC.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

proc = subprocess.Popen([worker], stdin=subprocess.DEVNULL, stderr=open(out + ".stderr", "w"), close_fds=False,
                        preexec_fn=child)
theirs.close()
hello = json.loads(ours.recv(65536))
assert hello["type"] == "hello" and hello["v"] == 2, hello
shown = "/nonexistent/elsewhere.pdf" if case == "elsewhere" else pdf
job = {"v": 2, "type": "job", "id": "1", "pdf": shown, "out": out, "thumbnail_size": 64}
fds = []
if case != "nofd":
    fds = [os.open(pdf, os.O_RDONLY)]
socket.send_fds(ours, [json.dumps(job).encode()], fds)
ours.settimeout(60)
m = ours.recv(65536)
print(json.dumps({"result": json.loads(m) if m else None, "exit": proc.wait(60) if not m else None}))
if m:
    ours.close()
    proc.wait(60)
EOP
drive() { python3 "$T/drive.py" "$PDFSPOOL_WORKER" "$@"; }
# answer FILTER: the driver printed something, and FILTER holds for it (jq -e passes on no input).
answer() { [ -n "$r" ] && printf '%s\n' "$r" | jq -e "$1" >/dev/null; }
mkdir -p "$T/out1" "$T/out2" "$T/out3" "$T/out4"

r=$(drive ok "$T/a.pdf" "$T/out1")
diag "ok: $r"
check "a job with its descriptor is done" answer '.result.ok == true and .result.pages == 2'
check "outputs written" test -s "$T/out1/text.txt" -a -s "$T/out1/meta.json" -a -s "$T/out1/thumb.png"

# The descriptor is what is read, whatever "pdf" names.
r=$(drive elsewhere "$T/a.pdf" "$T/out4")
check "\"pdf\" is only a name (here one that does not exist): the descriptor is read" grep -q "worker protocol page 2" "$T/out4/text.txt"

r=$(drive nofd "$T/a.pdf" "$T/out2")
diag "no fd: $r"
check "a job without a descriptor is refused: the worker exits 2" answer '.result == null and .exit == 2'
check "... having written nothing" test -z "$(ls -A "$T/out2")"

r=$(drive fsize "$T/a.pdf" "$T/out3")
diag "cannot write: $r"
check "an output that cannot be written: resource_error and errno" answer '.result.ok == false and .result.resource_error == "File too large" and .result.errno == 27'
check "... and the error names the file" answer '.result.error | startswith("cannot write ")'
check "... and nothing is left in the output folder" test -z "$(ls -A "$T/out3")"

mkdir -p "$T/out5"
r=$(drive ok "$T/junk.pdf" "$T/out5")
diag "bad pdf: $r"
check "a bad PDF fails without resource_error" answer '.result.ok == false and (.result | has("resource_error") | not) and (.result | has("errno") | not)'
done_testing
