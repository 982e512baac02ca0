#!/usr/bin/python3
# reggap.py: how long does another queue's running batch go without a status
# update while a big drop is claimed, registered and adopted?
#
#   reggap.py --watch B-BATCH-DIR --drop SRC --inbox INBOX --queue-state STATE/QUEUE
#             --outbox A-OUTBOX --log DAEMON-LOG --last-job NAME
#             [--notify NOTIFY-LOG --pid PID] [--baseline S] [--timeout S]
#
# Records the monotonic time of every replacement of B-BATCH-DIR/status.json
# (inotify: the daemon writes it atomically, so each update is one IN_MOVED_TO),
# first for --baseline seconds with nothing else going on, then moves SRC into
# INBOX and follows the drop through its steps until the status file of its
# last job (--last-job) is in A-OUTBOX: the projection writes the job folders
# in order, so then the batch is adopted and shown. Prints key=value lines:
#   baseline_max_ms baseline_p99_ms baseline_updates
#   max_gap_ms p99_gap_ms updates worst_from_s   (the window: drop .. projected)
#   claimed_s registered_s accepted_s projected_s  (seconds after the drop)
#   drop_unix  (wall time of the drop, for the WATCHDOG=1 log)   b_state
import argparse
import ctypes
import datetime
import glob
import json
import os
import select
import struct
import sys
import time

IN_MOVED_TO = 0x80
IN_CLOSE_WRITE = 0x08
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000


class Watch:
    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, path.encode(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + path)
        self.times = []

    def poll(self, timeout):
        """Wait up to TIMEOUT s for events; record a time per status.json update."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return
        now = time.monotonic()
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        off = 0
        while off < len(data):
            _, mask, _, length = struct.unpack_from("iIII", data, off)
            name = data[off + 16:off + 16 + length].rstrip(b"\0")
            off += 16 + length
            if name == b"status.json":
                self.times.append(now)


def gaps_over(times, start, end):
    """Gaps between consecutive updates that overlap [start, end]."""
    out = []
    for a, b in zip(times, times[1:]):
        if b > start and a < end:
            out.append((b - a, a))
    return out


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(len(v) * p + 0.999999) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--watch", required=True)
    ap.add_argument("--drop", required=True)
    ap.add_argument("--inbox", required=True)
    ap.add_argument("--queue-state", required=True)
    ap.add_argument("--outbox", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--last-job", required=True,
                    help="the last job's name: its status file ends the projection")
    ap.add_argument("--notify", help="notify-reader.py log: WATCHDOG=1 gaps too")
    ap.add_argument("--pid", type=int, default=0, help="the daemon's pid in --notify")
    ap.add_argument("--baseline", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=600.0)
    a = ap.parse_args()

    w = Watch(a.watch)
    t = time.monotonic()
    while time.monotonic() - t < a.baseline:
        w.poll(0.05)
    base = [g for g, _ in gaps_over(w.times, t, time.monotonic())]

    name = os.path.basename(a.drop.rstrip("/"))
    log = open(a.log, "rb")
    log.seek(0, os.SEEK_END)
    steps = {}
    t0 = time.monotonic()
    drop_unix = time.time()
    os.rename(a.drop, os.path.join(a.inbox, name))
    deadline = t0 + a.timeout
    tail = b""
    while time.monotonic() < deadline and "projected" not in steps:
        w.poll(0.005)
        now = time.monotonic()
        if "claimed" not in steps and not os.path.lexists(os.path.join(a.inbox, name)):
            steps["claimed"] = now
        if "claimed" in steps and "registered" not in steps and \
                glob.glob(os.path.join(a.queue_state, "claims", "*", "*", "batch.json")):
            steps["registered"] = now
        if "accepted" not in steps:
            tail = (tail + log.read())[-4096:]
            if b"batch accepted" in tail:
                steps["accepted"] = now
        if "accepted" in steps and glob.glob(os.path.join(a.outbox, "*", a.last_job, "status.json")):
            steps["projected"] = now
    end = time.monotonic()
    # Close the window: wait for B's next update after its end (at most 3 s).
    while time.monotonic() - end < 3.0 and not (w.times and w.times[-1] >= end):
        w.poll(0.05)
    if not w.times or w.times[-1] < end:
        w.times.append(time.monotonic())  # no update since: the gap runs to now
    win = gaps_over(w.times, t0, end)
    worst = max(win) if win else (0.0, t0)
    # Did b's jobs end during the worst gap? None: the loop (or the workers)
    # stood still; some: the loop ran but did not write b's status.
    wall = drop_unix - t0
    ended = 0
    for p in glob.glob(os.path.join(a.watch, "*", "status.json")):
        try:
            with open(p) as f:
                fin = json.load(f).get("finished")
        except (OSError, ValueError):
            continue
        if fin:
            ts = datetime.datetime.strptime(fin, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            if worst[1] + wall < ts < worst[1] + worst[0] + wall:
                ended += 1
    try:
        with open(os.path.join(a.watch, "status.json")) as f:
            b_state = json.load(f).get("state")
    except (OSError, ValueError):
        b_state = "unreadable"
    out = {
        "baseline_max_ms": "%.0f" % (max(base, default=0) * 1000),
        "baseline_p99_ms": "%.0f" % (pct(base, 0.99) * 1000),
        "baseline_updates": len(base),
        "max_gap_ms": "%.0f" % (worst[0] * 1000),
        "p99_gap_ms": "%.0f" % (pct([g for g, _ in win], 0.99) * 1000),
        "updates": len(win),
        "worst_from_s": "%.3f" % (worst[1] - t0),
        "drop_unix": "%.6f" % drop_unix,
        "b_state": b_state,
        "b_jobs_ended_in_worst_gap": ended,
        "complete": "yes" if "projected" in steps else "no",
    }
    if a.notify:
        # WATCHDOG=1 from the daemon, wall clock; the three longest gaps in the window.
        pings = []
        with open(a.notify) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3 and int(parts[1]) == a.pid and "WATCHDOG=1" in parts[2].split("|"):
                    pings.append(float(parts[0]))
        end_unix = drop_unix + (end - t0)
        wd = sorted(((b - x, x - drop_unix) for x, b in zip(pings, pings[1:])
                     if b > drop_unix and x < end_unix), reverse=True)
        out["watchdog_max_ms"] = "%.0f" % (wd[0][0] * 1000 if wd else 0)
        out["watchdog_top"] = ", ".join("%.0f ms at %+.1f s" % (g * 1000, at) for g, at in wd[:3])
    # The longest gaps that overlap each step: which step holds the loop.
    bounds = [("settle", t0, steps.get("claimed")), ("register", steps.get("claimed"), steps.get("registered")),
              ("load", steps.get("registered"), steps.get("accepted")),
              ("project", steps.get("accepted"), steps.get("projected"))]
    by_step = []
    for label, x, y in bounds:
        if x is None or y is None:
            continue
        g = max((g for g, _ in gaps_over(w.times, x, y)), default=0.0)
        by_step.append("%s %.0f ms" % (label, g * 1000))
    out["gap_by_step"] = ", ".join(by_step)
    if a.notify:
        by_step = []
        for label, x, y in bounds:
            if x is None or y is None:
                continue
            g = max((g for g, at in wd if at + drop_unix - wall < y and at + g + drop_unix - wall > x), default=0.0)
            by_step.append("%s %.0f ms" % (label, g * 1000))
        out["watchdog_by_step"] = ", ".join(by_step)
    for k in ("claimed", "registered", "accepted", "projected"):
        out[k + "_s"] = "%.3f" % (steps[k] - t0) if k in steps else "-"
    for k, v in out.items():
        print("%s=%s" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
