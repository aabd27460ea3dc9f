#!/usr/bin/env python3
"""Hostile and loaded clients for tests/test-liveness.sh (not pcipass code).

  abuse.py notify SOCKET OUT            fake systemd notify socket: one line per message,
                                        "MONOTONIC_SECONDS MESSAGE", until killed
  abuse.py pipeline SOCKET N METHOD JSON
                                        N calls in one write, then reads every reply;
                                        prints how many replies came back
  abuse.py gaps OUT KEY START END       the largest interval without a message containing KEY
                                        between monotonic times START and END (the window's
                                        edges count: a stall spanning it all is its length)
  abuse.py hold N READY                 holds N open files (of /dev/null) until killed; touches
                                        READY when they are open
  abuse.py hog SOCKET UIDS PER READY    for each of UIDS uids (10000, 10001 …) a process that
                                        opens PER idle connections and holds them until killed;
                                        touches READY when all have tried
  abuse.py first SOCKET                 connects, reads the first message the server sends
                                        unasked (within 10 s) and prints its error, or "none"
  abuse.py now                          the monotonic clock, as the others print it
"""
import json
import os
import socket
import sys
import time


def notify(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(out, "a", buffering=1) as f:
        while True:
            msg = s.recv(4096).decode(errors="replace").replace("\n", " ")
            f.write("%.6f %s\n" % (time.monotonic(), msg))


def pipeline(path, n, method, params):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(600)
    call = json.dumps({"method": method, "parameters": json.loads(params)}).encode() + b"\0"
    data = call * n
    # Write everything (the server reads it as it can), reading replies as they come.
    s.setblocking(False)
    sent, got, buf = 0, 0, b""
    deadline = time.monotonic() + 600
    while got < n and time.monotonic() < deadline:
        if sent < len(data):
            try:
                sent += s.send(data[sent:sent + (1 << 16)])
            except BlockingIOError:
                pass
        try:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
            got += buf.count(b"\0")
            buf = buf[buf.rfind(b"\0") + 1:]
        except BlockingIOError:
            time.sleep(0.001)
    print(got)


def gaps(out, key, start, end):
    times = [float(line.split()[0]) for line in open(out) if key in line]
    points = [start] + [t for t in times if start < t < end] + [end]
    print("%.3f" % max(b - a for a, b in zip(points, points[1:])))


def hold(n, ready):
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(n)]
    open(ready, "w").close()
    while fds:
        time.sleep(3600)


def hog(path, uids, per, ready):
    import resource
    kids = []
    for i in range(uids):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            resource.setrlimit(resource.RLIMIT_NOFILE, (per + 64, per + 64))
            os.setgroups([])
            os.setgid(10000 + i)
            os.setuid(10000 + i)
            held = []
            for _ in range(per):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(path)
                    held.append(s)
                except OSError:
                    pass
            os.write(w, b"x")
            while held:
                time.sleep(3600)
            os._exit(0)
        os.read(r, 1)
        kids.append(pid)
    open(ready, "w").close()
    try:
        while True:
            time.sleep(3600)
    finally:
        for pid in kids:
            os.kill(pid, 9)


def first(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(10)
    buf = b""
    try:
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    print(json.loads(buf.split(b"\0")[0]).get("error") if b"\0" in buf else "none")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "notify":
        notify(sys.argv[2], sys.argv[3])
    elif cmd == "pipeline":
        pipeline(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif cmd == "gaps":
        gaps(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    elif cmd == "hold":
        hold(int(sys.argv[2]), sys.argv[3])
    elif cmd == "hog":
        import signal
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        hog(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif cmd == "first":
        first(sys.argv[2])
    elif cmd == "now":
        print("%.6f" % time.monotonic())
