#!/usr/bin/env python3
# A stand-in for pdfspool-worker that misbehaves on purpose, to test how the
# daemon's pool handles workers that crash, hang or are killed for memory.
# It speaks the real protocol (src/proto.h) on fd 3; files whose names start
# with crash / hang / oom / garble trigger the failure; files whose names start
# with gate wait until the file named by $FAKE_WORKER_GATE exists, with slow
# take 50 ms; files whose names start with flaky crash while the file named by
# $FAKE_WORKER_FLAKY exists; files whose names start with partial write one
# output, then hang; other files succeed, each after FAKE_WORKER_DELAY seconds
# (default 0: at once). Like the real worker, it says so when it cannot write
# its outputs.
import json, os, signal, socket, time

# Like the real worker: it dies with the daemon (PR_SET_PDEATHSIG), so that a
# test that kills the daemon leaves no worker waiting at a gate.
import ctypes
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
s = socket.socket(fileno=3)

def path(v):
    return bytes.fromhex(v["hex"]).decode("latin-1") if isinstance(v, dict) else v

V = 2  # PROTO_VERSION
DELAY = float(os.environ.get("FAKE_WORKER_DELAY", "0"))
s.send(json.dumps({"v": V, "type": "hello", "pid": os.getpid()}).encode())
while True:
    # A job brings the PDF's descriptor (SCM_RIGHTS); like the real worker,
    # refuse a job without one.
    m, fds, _, _ = socket.recv_fds(s, 65536, 4)
    if not m:
        break
    msg = json.loads(m)
    if msg.get("type") == "quit":
        break
    if len(fds) != 1:
        raise SystemExit(2)
    os.close(fds[0])
    name = os.path.basename(path(msg["pdf"]))
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("flaky") and os.path.exists(os.environ.get("FAKE_WORKER_FLAKY", "/nonexistent/")):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("partial"):
        with open(os.path.join(path(msg["out"]), "meta.json"), "w") as fh:
            fh.write("{}")
        time.sleep(3600)
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("oom"):
        os.kill(os.getpid(), signal.SIGKILL)
    if name.startswith("garble"):
        s.send(b"this is not json")
        time.sleep(3600)
    if name.startswith("slow"):
        time.sleep(0.05)
    if name.startswith("gate"):
        while not os.path.exists(os.environ.get("FAKE_WORKER_GATE", "/")):
            time.sleep(0.02)
    if DELAY > 0:
        time.sleep(DELAY)
    out = path(msg["out"])
    try:
        for f in ("meta.json", "text.txt", "thumb.png"):
            with open(os.path.join(out, f), "w") as fh:
                fh.write("{}" if f.endswith(".json") else "x")
    except OSError as e:
        s.send(json.dumps({"v": V, "type": "result", "id": msg["id"], "ok": False, "pages": 0,
                           "error": "cannot write %s: %s" % (f, e.strerror), "resource_error": e.strerror,
                           "errno": e.errno}).encode())
        continue
    s.send(json.dumps({"v": V, "type": "result", "id": msg["id"], "ok": True, "pages": 1, "error": None}).encode())
