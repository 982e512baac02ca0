#!/usr/bin/python3
"""Run a command on a pseudo-terminal, print everything it wrote (raw, escape
sequences kept) to stdout, exit with its exit status. Gives up after argv[1] s."""
import os, pty, select, sys, time

deadline = time.monotonic() + float(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b""
while time.monotonic() < deadline:
    r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
    if not r:
        break
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
