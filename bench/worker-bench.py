#!/usr/bin/env python3
"""Drive pdfspool-worker over a folder of PDFs, as pdfspoold would, and measure it.

The worker gets its end of a SOCK_SEQPACKET socketpair on fd 3 and speaks the
protocol of src/proto.h. Every PDF goes to one worker, one job at a time; a worker
that crashes or passes the timeout is killed, reported, and replaced. Each result
is checked against what extract.h promises (meta.json, text.txt with pages-1 form
feeds and text_chars characters, thumb.png with the right longest side).

    bench/worker-bench.py [--worker src/pdfspool-worker] [--memory BYTES]
                          [--timeout 60] [--thumbnail-size 256] PDF-or-DIR...

Prints a line per file and a summary with seconds and pages per second. Exit
status 1 if any file crashed the worker, timed out, or broke a check.
Not part of `make check`: the corpora it is meant for are not in the repository.
"""
import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

MAX_PACKET = 64 * 1024
WORKER_FD = 3
PROTO_VERSION = 2  # src/proto.h


class WorkerDied(Exception):
    pass


class Worker:
    def __init__(self, path, memory, stderr):
        self.path = path
        self.memory = memory
        self.stderr = stderr
        self.proc = None
        self.sock = None
        self.jobs = 0

    def start(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        if self.memory:
            env["PDFSPOOL_WORKER_MEMORY"] = str(self.memory)
        # close_fds=False is safe: Python's own fds are not inheritable, and the
        # dup2'ed fd 3 is the only one that crosses exec.
        self.proc = subprocess.Popen(
            [self.path], env=env, stdin=subprocess.DEVNULL, stderr=self.stderr,
            close_fds=False, preexec_fn=lambda: os.dup2(theirs.fileno(), WORKER_FD))
        theirs.close()
        self.sock = ours
        hello = self.recv(10)
        if hello.get("type") != "hello" or hello.get("pid") != self.proc.pid:
            raise RuntimeError(f"bad hello: {hello}")

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        data = self.sock.recv(MAX_PACKET)
        if not data:
            raise WorkerDied()
        msg = json.loads(data)
        if msg.get("v") != PROTO_VERSION:
            raise RuntimeError(f"bad version: {msg}")
        return msg

    def send(self, msg, fds=()):
        socket.send_fds(self.sock, [json.dumps(msg).encode()], list(fds))

    def job(self, job_id, pdf, out, thumbnail_size, timeout):
        # The worker reads the PDF from the descriptor that comes with the job.
        fd = os.open(pdf, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.send({"v": PROTO_VERSION, "type": "job", "id": job_id, "pdf": pdf, "out": out,
                       "thumbnail_size": thumbnail_size}, [fd])
        finally:
            os.close(fd)
        result = self.recv(timeout)
        self.jobs += 1
        if result.get("type") != "result" or result.get("id") != job_id:
            raise RuntimeError(f"bad result: {result}")
        return result

    def rss_kib(self, field="VmRSS"):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def kill(self):
        self.proc.kill()
        return self.wait()

    def wait(self):
        self.sock.close()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def quit(self):
        try:
            self.send({"v": PROTO_VERSION, "type": "quit"})
        except OSError:
            pass
        return self.wait()


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", head[16:24])


def check_outputs(out, result, thumbnail_size):
    """Problems with the files of a successful job, as a list of strings."""
    problems = []
    names = sorted(n for n in os.listdir(out) if n != "tables")
    # facts.json and tables.json unless the worker runs with PDFSPOOL_WORKER_NO_FACTS
    expected = ["meta.json", "text.txt", "thumb.png"]
    if not os.environ.get("PDFSPOOL_WORKER_NO_FACTS"):
        expected = ["facts.json", "meta.json", "tables.json", "text.txt", "thumb.png"]
    if names != expected:
        return [f"files are {names}"]
    with open(os.path.join(out, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    with open(os.path.join(out, "text.txt"), encoding="utf-8") as f:
        text = f.read()
    if meta["pages"] != result["pages"]:
        problems.append(f"meta pages {meta['pages']} != result pages {result['pages']}")
    if text.count("\f") != result["pages"] - 1:
        problems.append(f"{text.count(chr(12))} form feeds for {result['pages']} pages")
    if meta["text_chars"] != len(text):
        problems.append(f"text_chars {meta['text_chars']} != {len(text)}")
    w, h = png_size(os.path.join(out, "thumb.png"))
    if max(w, h) != thumbnail_size:
        problems.append(f"thumbnail is {w}x{h}")
    return problems


def pdfs_of(paths):
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.lower().endswith(".pdf"):
                    yield os.path.join(path, name)
        else:
            yield path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PDF-or-DIR")
    ap.add_argument("--worker", default=os.path.join(os.path.dirname(__file__), "..", "src", "pdfspool-worker"))
    ap.add_argument("--memory", type=int, default=0, help="PDFSPOOL_WORKER_MEMORY in bytes (default: none)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per PDF before the worker is killed")
    ap.add_argument("--thumbnail-size", type=int, default=256)
    ap.add_argument("--keep", metavar="DIR", help="keep each job's outputs under DIR/<pdf name>/")
    ap.add_argument("--stderr", action="store_true", help="show the worker's stderr instead of counting it")
    args = ap.parse_args()

    worker_path = os.path.abspath(args.worker)
    scratch = tempfile.mkdtemp(prefix="worker-bench.")
    log_path = os.path.join(scratch, "worker.stderr")
    log = None if args.stderr else open(log_path, "w")
    worker = Worker(worker_path, args.memory, log)
    worker.start()

    totals = {"files": 0, "ok": 0, "failed": 0, "crashed": 0, "timeout": 0, "bad": 0, "pages": 0}
    ok_seconds = 0.0
    started = time.monotonic()
    for n, pdf in enumerate(pdfs_of(args.paths)):
        totals["files"] += 1
        name = os.path.basename(pdf)
        out = os.path.join(args.keep, name) if args.keep else os.path.join(scratch, f"job{n}")
        if os.path.exists(out):
            shutil.rmtree(out)
        os.makedirs(out)
        t0 = time.monotonic()
        try:
            result = worker.job(f"job{n}", os.path.abspath(pdf), os.path.abspath(out),
                                args.thumbnail_size, args.timeout)
        except socket.timeout:
            status = worker.kill()
            print(f"TIMEOUT  {time.monotonic() - t0:7.2f}s  {name} (worker killed, exit {status})")
            totals["timeout"] += 1
            worker.start()
            continue
        except (WorkerDied, ConnectionResetError, BrokenPipeError):
            status = worker.wait()
            print(f"CRASH    {time.monotonic() - t0:7.2f}s  {name} (worker exit {status})")
            totals["crashed"] += 1
            worker.start()
            continue
        dt = time.monotonic() - t0
        if result["ok"]:
            problems = check_outputs(out, result, args.thumbnail_size)
            totals["ok"] += 1
            totals["pages"] += result["pages"]
            ok_seconds += dt
            if problems:
                totals["bad"] += 1
                print(f"BAD      {dt:7.2f}s  {name}: {'; '.join(problems)}")
            else:
                print(f"ok       {dt:7.2f}s  {result['pages']:5d} pages  {name}")
        else:
            totals["failed"] += 1
            left = os.listdir(out)
            extra = f" (left files: {left})" if left else ""
            print(f"failed   {dt:7.2f}s  {name}: {result['error']}{extra}")
            if left:
                totals["bad"] += 1
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
        sys.stdout.flush()

    elapsed = time.monotonic() - started
    rss, hwm = worker.rss_kib(), worker.rss_kib("VmHWM")
    status = worker.quit()
    if log:
        log.close()
        with open(log_path, errors="replace") as f:
            stderr_lines = sum(1 for _ in f)
    print(f"\n{totals['files']} files in {elapsed:.2f} s: {totals['ok']} ok, {totals['failed']} failed cleanly, "
          f"{totals['crashed']} crashed the worker, {totals['timeout']} timed out, {totals['bad']} broke a check")
    if ok_seconds > 0:
        print(f"{totals['pages']} pages extracted in {ok_seconds:.2f} s: {totals['pages'] / ok_seconds:.1f} pages/s")
    print(f"worker: RSS {rss} KiB after the last job, peak {hwm} KiB; exit status {status} after quit")
    if log:
        print(f"worker stderr: {stderr_lines} lines ({log_path})")
    if not args.keep and log is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if totals["crashed"] or totals["timeout"] or totals["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
