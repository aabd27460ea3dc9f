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
  abuse.py stall SOCKET UIDS PER CALL N READY GO OUT
                                        for each of UIDS uids (20000, 20001 …) PER connections
                                        with a small receive buffer, each sending CALL (a whole
                                        message, JSON) and reading nothing; touches READY once
                                        all are sent. When GO exists, reads every connection at
                                        once until its call ends (or, for a stream, N replies
                                        came: it is following) and writes to OUT how each
                                        ended: "reply:<N devices>", "following", the error's
                                        name, or "closed", one per line, sorted
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


def become(uid, nofile):
    """In a child: uid and gid uid, no supplementary groups, nofile descriptors."""
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def hog(path, uids, per, ready):
    kids = []
    for i in range(uids):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            become(10000 + i, per + 64)
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


def stall_child(path, per, call, n, go):
    import selectors
    socks = []
    for _ in range(per):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(path)
        s.sendall(call)
        socks.append(s)
    yield None      # all sent
    while not os.path.exists(go):
        time.sleep(0.05)
    sel = selectors.DefaultSelector()
    state = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        state[s] = [b"", 0]
    ends = []
    deadline = time.monotonic() + 300
    while state and time.monotonic() < deadline:
        for key, _ in sel.select(1):
            s = key.fileobj
            st = state[s]
            try:
                chunk = s.recv(1 << 20)
            except BlockingIOError:
                continue
            end = None
            if not chunk:
                end = "closed"
            st[0] += chunk
            while end is None and b"\0" in st[0]:
                msg, st[0] = st[0].split(b"\0", 1)
                m = json.loads(msg)
                if m.get("error"):
                    end = m["error"]
                elif not m.get("continues"):
                    end = "reply:%d" % len((m.get("parameters") or {}).get("devices", []))
                else:
                    st[1] += 1
                    if st[1] >= n:
                        end = "following"
            if end:
                ends.append(end)
                sel.unregister(s)
                s.close()
                del state[s]
    ends += ["unfinished"] * len(state)
    yield ends


def stall(path, uids, per, call, n, ready, go, out):
    kids = []
    for i in range(uids):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            become(20000 + i, per + 64)
            steps = stall_child(path, per, call.encode() + b"\0", n, go)
            next(steps)
            os.write(w, b"x")
            ends = next(steps)
            os.write(w, "\n".join(ends).encode() + b"\n")
            os._exit(0)
        os.close(w)
        if os.read(r, 1) != b"x":
            sys.exit("a staller failed to connect")
        kids.append((pid, r))
    open(ready, "w").close()
    ends = []
    for pid, r in kids:
        buf = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            buf += chunk
        os.waitpid(pid, 0)
        ends += buf.decode().split()
    with open(out + ".new", "w") as f:
        f.write("".join(e + "\n" for e in sorted(ends)))
    os.rename(out + ".new", out)


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
    elif cmd == "stall":
        stall(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]),
              sys.argv[7], sys.argv[8], sys.argv[9])
    elif cmd == "now":
        print("%.6f" % time.monotonic())
