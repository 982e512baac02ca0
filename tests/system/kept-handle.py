#!/usr/bin/python3
# kept-handle.py: an uploader that keeps a handle on the folder it dropped
# (as a shell's working directory or an NFS client's file handle does) and
# changes the folder through it after it left the inbox.
#
#   swap DIR READY WAIT NAME=TARGET... [-- STATUS...]
#       open DIR, create READY, wait until the path WAIT exists (the batch is
#       registered), then through the handle replace each NAME (a file or a
#       folder in DIR) by a symbolic link to TARGET (the old entry is renamed
#       to .old-NAME); print, for each STATUS file, its job state right after.
#   flip DIR READY STOP LINK-TARGET NAME...
#       open DIR, make .alt-NAME a symbolic link to LINK-TARGET for each NAME,
#       create READY, then swap NAME and .alt-NAME (renameat2 RENAME_EXCHANGE)
#       over and over until the path STOP exists, the entries are gone or
#       $FLIP_SECONDS (default 120) have passed; print the number of swaps.
import ctypes
import json
import os
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2


def exchange(fd, a, b):
    if libc.renameat2(fd, a.encode(), fd, b.encode(), RENAME_EXCHANGE) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


def wait_path(path, deadline_s):
    end = time.monotonic() + deadline_s
    while not os.path.lexists(path):
        if time.monotonic() > end:
            sys.exit("timed out waiting for %s" % path)
        time.sleep(0.001)


def job_state(status):
    try:
        with open(status) as f:
            return json.load(f).get("state", "?")
    except FileNotFoundError:
        return "not started"
    except (OSError, ValueError) as e:
        return "unreadable (%s)" % e


def swap(args):
    d, ready, wait = args[:3]
    rest = args[3:]
    names, statuses = (rest[:rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (rest, [])
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    open(ready, "w").close()
    wait_path(wait, 120)
    t = time.time()
    for spec in names:
        n, target = spec.split("=", 1)
        os.rename(n, ".old-" + n, src_dir_fd=fd, dst_dir_fd=fd)
        os.symlink(target, n, dir_fd=fd)
    states = [job_state(s) for s in statuses]
    print("swapped %d entries at %.3f; jobs then: %s" % (len(names), t, ", ".join(states)))


def flip(args):
    d, ready, stop, link_target = args[:4]
    names = args[4:]
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    for n in names:
        os.symlink(link_target, ".alt-" + n, dir_fd=fd)
    open(ready, "w").close()
    flips = 0
    end = time.monotonic() + float(os.environ.get("FLIP_SECONDS", "120"))
    try:
        while not os.path.lexists(stop) and time.monotonic() < end:
            for k, n in enumerate(names):  # each at its own pace: some links, some files
                if flips % (k + 1) == 0:
                    exchange(fd, n, ".alt-" + n)
            flips += 1
    except FileNotFoundError:
        # A claim across file systems removed the folder's entries after copying them.
        print("%d swaps, then the entries were gone" % flips)
        return
    print("%d swaps" % flips)


if __name__ == "__main__":
    {"swap": swap, "flip": flip}[sys.argv[1]](sys.argv[2:])
