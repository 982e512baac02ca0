#!/usr/bin/python3
# notify-reader.py: stand in for the service manager's notify socket.
#   listen SOCKET FILE    log every datagram as "UNIX-TIME PID MESSAGE" (newlines as |)
#   gap FILE PID SINCE    print the longest gap in ms without WATCHDOG=1 from PID
#                         between SINCE (unix time) and now, and where it began
import socket
import struct
import sys
import time


def listen(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind(path)
    with open(out, "a") as f:
        while True:
            msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
            t = time.time()
            pid = 0
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", data[:12])[0]
            text = msg.decode(errors="replace").replace("\n", "|")
            f.write("%.6f %d %s\n" % (t, pid, text))
            f.flush()


def gap(log, pid, since):
    pid, since = int(pid), float(since)
    now = time.time()
    pings = []
    with open(log) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) < 3 or int(parts[1]) != pid:
                continue
            t = float(parts[0])
            if since <= t <= now and "WATCHDOG=1" in parts[2].split("|"):
                pings.append(t)
    points = [since] + pings + [now]
    worst, at = max((b - a, a) for a, b in zip(points, points[1:]))
    print("%d ms (from %+.1f s; %d pings)" % (worst * 1000, at - since, len(pings)))


if __name__ == "__main__":
    if sys.argv[1] == "listen":
        listen(sys.argv[2], sys.argv[3])
    else:
        gap(*sys.argv[2:5])
