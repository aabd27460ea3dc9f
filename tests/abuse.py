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
    elif cmd == "now":
        print("%.6f" % time.monotonic())
