#!/usr/bin/python3
# claim-watch.py: a user who adds a file to a folder while the daemon copies
# it out of the inbox (a claim across file systems).
#
#   claim-watch.py CLAIMS FOLDER DELAY-MS FILE READY
#       open FOLDER and keep it open (as a shell's working directory, an SMB or
#       NFS server's handle does), create READY, poll CLAIMS/*/src.partial/NAME
#       (NAME: FOLDER's last component) as fast as it can; DELAY-MS after it
#       appears, write FILE into the folder through the kept handle, wherever
#       the daemon has moved it meanwhile (it hides a drop before it copies it);
#       print when, and whether the copy was still going on after the file was
#       written ("missed" when src.partial was never seen).
import os
import sys
import time

claims, folder, delay, src, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000, sys.argv[4], sys.argv[5]
name = os.path.basename(folder.rstrip("/"))
data = open(src, "rb").read()
dfd = None
open(ready, "w").close()
end = time.monotonic() + 60
partial = None
while partial is None:
    if time.monotonic() > end:
        print("missed: src.partial was not seen")
        sys.exit(0)
    if dfd is None:
        try:
            # the handle is taken as soon as the folder is in the inbox
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
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
    fd = os.open(os.path.basename(src), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=dfd)
except FileNotFoundError:
    print("too late: the folder was gone %.1f ms after src.partial appeared" % ((time.monotonic() - seen) * 1000))
    sys.exit(0)
os.write(fd, data)
os.close(fd)
written = (time.monotonic() - seen) * 1000
print("added %.1f ms after src.partial appeared; copy still going on: %s"
      % (written, "yes" if os.path.lexists(os.path.dirname(partial)) else "no"))
