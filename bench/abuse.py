#!/usr/bin/env python3
"""pcipassd under abuse: root's GetStatus latency while hostile or heavy clients run.

  bench/abuse.py BUILDDIR            (as root: the clients run as other uids)

pcipassd --read-only on a captured q35 host (tests/fixtures). For each load, run for a few
seconds while root calls GetStatus on a connection of its own, one call at a time: p50 and p99
of those calls, and how many were made; then the daemon's resident memory (VmRSS) and open
descriptors after the load has gone. The yardstick is the same probe on the quiet daemon, run
first and last. Loads:
  many      200 clients (as uid 10000) x 100 calls each (GetStatus), all at once
  slowloris 500 connections (uids 10000-10003) each sending a message's first byte only
  unread    a client pipelining List 1,000 times and never reading
  monitor   10 Monitor(initial) calls never read
  dryruns   nobody pipelining 20,000 dry-run claims, reading the replies
Prints one table. Reads only the unpacked fixture: safe on any machine.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

SECONDS = 4


def call(sock, method, params=None):
    sock.sendall(json.dumps({"method": method, "parameters": params or {}}).encode() + b"\0")
    buf = b""
    while not buf.endswith(b"\0"):
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def probe(path, seconds):
    s = connect(path)
    lat = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        call(s, "io.pcipass.GetStatus")
        lat.append((time.perf_counter() - t) * 1000)
    s.close()
    lat.sort()
    return statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))], len(lat)


def as_uid(uid, fn):
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            fn()
        finally:
            os._exit(0)
    return pid


def load_many(path, stop):
    def client():
        s = connect(path)
        for _ in range(100):
            call(s, "io.pcipass.GetStatus")
    kids = [as_uid(10000, client) for _ in range(200)]
    return kids


def load_slowloris(path, stop):
    def client():
        held = []
        for _ in range(125):
            try:
                s = connect(path)
                s.send(b"{")
                held.append(s)
            except OSError:
                pass
        time.sleep(SECONDS + 2)
    return [as_uid(10000 + i, client) for i in range(4)]


def load_unread(path, stop):
    def client():
        s = connect(path)
        s.sendall((json.dumps({"method": "io.pcipass.List", "parameters": {}}).encode() + b"\0") * 1000)
        time.sleep(SECONDS + 2)
    return [as_uid(10000, client)]


def load_monitor(path, stop):
    def client():
        held = []
        for _ in range(10):
            s = connect(path)
            s.sendall(json.dumps({"method": "io.pcipass.Monitor", "parameters": {"initial": True},
                                  "more": True}).encode() + b"\0")
            held.append(s)
        time.sleep(SECONDS + 2)
    return [as_uid(10000, client)]


def load_dryruns(path, stop):
    here = os.path.dirname(os.path.abspath(__file__))
    abuse = os.path.join(here, "..", "tests", "abuse.py")

    def client():
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv("/usr/bin/python3", ["python3", abuse, "pipeline", path, "20000",
                                      "io.pcipass.Claim", '{"address":"0000:00:03.0","dry_run":true}'])
    return [as_uid(65534, client)]


def daemon_state(pid):
    rss = -1
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def main(build):
    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp(prefix="pcipass-abuse.")
    os.chmod(tmp, 0o755)
    root = os.path.join(tmp, "sys")
    os.makedirs(root)
    with tarfile.open(os.path.join(here, "..", "tests", "fixtures", "q35-iommu-claimed.tar.gz")) as t:
        t.extractall(root)
    path = os.path.join(tmp, "sock")
    d = subprocess.Popen([os.path.join(build, "daemon/pcipassd"), "--read-only", "--sysfs-root", root,
                          "--socket", path, "--state-dir", os.path.join(tmp, "state"),
                          "--log-level", "warning", "--policy-dir", os.path.join(tmp, "none"),
                          "--config", os.path.join(tmp, "none.conf")])
    while not os.path.exists(path):
        time.sleep(0.05)
    rows = []
    rss, fds = daemon_state(d.pid)
    p50, p99, n = probe(path, SECONDS)
    rows.append(("quiet (yardstick)", p50, p99, n, rss, fds))
    base = p50
    for name, fn in (("many: 200 x 100 calls", load_many), ("slowloris: 500 half-sent", load_slowloris),
                     ("unread List x 1000", load_unread), ("unread Monitor x 10", load_monitor),
                     ("nobody: 20,000 dry runs", load_dryruns)):
        kids = fn(path, None)
        time.sleep(0.5)
        p50, p99, n = probe(path, SECONDS)
        for k in kids:
            try:
                os.kill(k, 9)
            except ProcessLookupError:
                pass
            os.waitpid(k, 0)
        time.sleep(1)
        rss, fds = daemon_state(d.pid)
        rows.append((name, p50, p99, n, rss, fds))
    p50, p99, n = probe(path, SECONDS)
    rss, fds = daemon_state(d.pid)
    rows.append(("quiet again", p50, p99, n, rss, fds))
    d.terminate()
    d.wait()
    print("%-28s %9s %9s %7s %9s %7s %9s" % ("load", "p50 ms", "p99 ms", "calls", "p50/quiet", "RSS MiB", "fds"))
    for name, p50, p99, n, rss, fds in rows:
        print("%-28s %9.2f %9.2f %7d %9.1f %7.1f %9d" % (name, p50, p99, n, p50 / base, rss, fds))
    print("(GetStatus by root on its own connection, %d s per load; RSS and fds after the load ended)" % SECONDS)


if __name__ == "__main__":
    main(sys.argv[1])
