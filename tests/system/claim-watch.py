#!/usr/bin/python3
# claim-watch.py: a user who adds a file to a folder while the daemon copies
# it out of the inbox (a claim across file systems).
#
#   claim-watch.py CLAIMS FOLDER DELAY-MS FILE READY
#       create READY, poll CLAIMS/*/src.partial/NAME (NAME: FOLDER's last
#       component) as fast as it can; DELAY-MS after it appears, copy FILE into
#       FOLDER (which is still in the inbox while the claim copies); print when,
#       and whether the copy was still going on after the file was written
#       ("missed" when the folder left the inbox before src.partial was seen).
import os
import sys
import time

claims, folder, delay, src, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000, sys.argv[4], sys.argv[5]
name = os.path.basename(folder.rstrip("/"))
data = open(src, "rb").read()
open(ready, "w").close()
end = time.monotonic() + 60
partial = None
while partial is None:
    if time.monotonic() > end or (time.monotonic() > end - 55 and not os.path.lexists(folder)):
        print("missed: src.partial was not seen before the folder left the inbox")
        sys.exit(0)
    try:
        for e in os.scandir(claims):
            p = os.path.join(e.path, "src.partial", name)
            if os.path.lexists(p):
                partial = p
                break
    except FileNotFoundError:
        pass
seen = time.monotonic()
while time.monotonic() - seen < delay:
    pass
try:
    fd = os.open(os.path.join(folder, os.path.basename(src)), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
except FileNotFoundError:
    print("too late: the folder had left the inbox %.1f ms after src.partial appeared" % ((time.monotonic() - seen) * 1000))
    sys.exit(0)
os.write(fd, data)
os.close(fd)
written = (time.monotonic() - seen) * 1000
print("added %.1f ms after src.partial appeared; copy still going on: %s"
      % (written, "yes" if os.path.lexists(os.path.dirname(partial)) else "no"))
