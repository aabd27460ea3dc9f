#!/usr/bin/env python3
"""pcipassd against its yardsticks, measured side by side, as ratios.

  bench/ratios.py BUILDDIR [SIZES...]      (default sizes: 64 1024 4096 16384)

For each size N, tests/fakesys writes an N-function sysfs tree on tmpfs, and each figure is
taken with its yardstick in the same run, the two alternated, median of RUNS pairs:

  READY        pcipassd --read-only from exec to READY=1, against `lspci -D -nn -k` on the same
               tree and bench/walker (one thread reading what `list` shows: "attrs" from
               attributes, "config" identity and link from config space)
  READY+list   the same plus the first `pcipassctl -j list`, against lspci
  List         round trips of io.pcipass.List on one held connection (p50, p99), against
               bench/canned, a server that sends the same reply bytes, both measured by the
               same client
  ctl list     `pcipassctl -j list` end to end, against bench/copyclient (connects, calls,
               copies the reply to stdout)
  GetStatus    calls per second on one connection, one at a time, by bench/copyclient, against
               bench/canned
  RSS          the daemon's resident memory at READY, its peak (VmHWM) during the Lists, and
               at rest after them and their client have gone

Reads only the synthetic trees: safe on any machine. Measure a plain `./configure && make`
build (sanitizers are slower and larger).
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 5


def timed(fn):
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def pairs(a, b, runs=RUNS):
    """Medians (ms) of a and b, run alternately."""
    xa, xb = [], []
    for _ in range(runs):
        xa.append(timed(a))
        xb.append(timed(b))
    return statistics.median(xa), statistics.median(xb)


def proc_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


class Daemon:
    def __init__(self, build, root, tmp):
        self.build, self.root, self.tmp = build, root, tmp
        self.sock = os.path.join(tmp, "sock")
        self.proc = None

    def start(self):
        """Starts pcipassd; returns when it has sent READY=1."""
        path = os.path.join(self.tmp, "notify")
        if os.path.exists(path):
            os.unlink(path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(path)
        notify.settimeout(120)
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "daemon/pcipassd"), "--read-only", "--sysfs-root", self.root,
             "--dev-root", os.path.join(self.tmp, "dev"), "--socket", self.sock,
             "--state-dir", os.path.join(self.tmp, "state"), "--log-level", "warning",
             "--policy-dir", os.path.join(self.tmp, "policy"),
             "--config", os.path.join(self.tmp, "none.conf")],
            env=dict(os.environ, NOTIFY_SOCKET=path))
        while b"READY=1" not in notify.recv(4096):
            pass
        notify.close()

    def stop(self):
        self.proc.terminate()
        if self.proc.wait(timeout=60) != 0:
            sys.exit(f"pcipassd exited with {self.proc.returncode}")


def call(conn, method, buf):
    conn.sendall(b'{"method":"%s"}\0' % method.encode())
    while True:
        end = buf.find(b"\0")
        if end >= 0:
            reply = bytes(buf[:end])
            del buf[:end + 1]
            return reply
        chunk = conn.recv(1 << 20)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk


def connect(path):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    return c


class Canned:
    """bench/canned: a server that answers every call on its socket with the same bytes."""

    def __init__(self, build, path, reply):
        self.path = path
        with open(path + ".reply", "wb") as f:
            f.write(reply)
        self.proc = subprocess.Popen([os.path.join(build, "bench/canned"), path, path + ".reply"],
                                     stdout=subprocess.PIPE)
        self.proc.stdout.readline()	# "ready"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def round_trips(path, method, n):
    conn, buf, ms = connect(path), bytearray(), []
    for _ in range(n):
        t = time.perf_counter()
        call(conn, method, buf)
        ms.append((time.perf_counter() - t) * 1000)
    conn.close()
    ms.sort()
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]


def measure(build, n):
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    tmp = tempfile.mkdtemp(prefix="pcipass-bench.", dir=base)
    row = {"n": n}
    try:
        root = os.path.join(tmp, "sys")
        fakesys = os.path.join(build, "tests/fakesys")
        subprocess.run([fakesys, root, "init", "--iommu", "dmar0"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([fakesys, root, "gen", str(n)], check=True, stdout=subprocess.DEVNULL)
        for d in ("policy", "dev", "state"):
            os.mkdir(os.path.join(tmp, d))
        ctl = [os.path.join(build, "client/pcipassctl"), "--socket", os.path.join(tmp, "sock"), "-j"]
        null = subprocess.DEVNULL
        lspci = ["lspci", "-D", "-nn", "-k", "-A", "linux-sysfs", "-O",
                 f"sysfs.path={root}/bus/pci"]
        walker = os.path.join(build, "bench/walker")
        d = Daemon(build, root, tmp)

        def ready():
            d.start()
            d.stop()

        def ready_list():
            d.start()
            subprocess.run(ctl + ["list"], check=True, stdout=null)
            d.stop()

        run = lambda argv: (lambda: subprocess.run(argv, check=True, stdout=null, stderr=null))
        row["ready"], row["lspci"] = pairs(ready, run(lspci))
        _, row["walk_attrs"] = pairs(lambda: None, run([walker, root, "attrs"]))
        _, row["walk_config"] = pairs(lambda: None, run([walker, root, "config"]))
        row["ready_list"], row["lspci2"] = pairs(ready_list, run(lspci))

        d.start()
        row["rss_ready"] = proc_kib(d.proc.pid, "VmRSS")
        conn, buf = connect(d.sock), bytearray()
        reply = call(conn, "io.pcipass.List", buf)
        conn.close()
        canned = Canned(build, os.path.join(tmp, "canned"), reply)
        k = 40 if n <= 4096 else 10
        row["list_p50"], row["list_p99"] = round_trips(d.sock, "io.pcipass.List", k)
        row["canned_p50"], row["canned_p99"] = round_trips(canned.path, "io.pcipass.List", k)
        row["ctl_list"], row["copy_list"] = pairs(run(ctl + ["list"]),
                                                  run([os.path.join(build, "bench/copyclient"),
                                                       d.sock, "io.pcipass.List"]))
        row["rss_peak"] = proc_kib(d.proc.pid, "VmHWM")
        time.sleep(0.2)	# the clients have gone; what the daemon keeps
        row["rss_rest"] = proc_kib(d.proc.pid, "VmRSS")
        canned_status = Canned(build, os.path.join(tmp, "canned-status"),
                               call(connect(d.sock), "io.pcipass.GetStatus", bytearray()))
        rate = lambda path: float(subprocess.run(
            [os.path.join(build, "bench/copyclient"), path, "io.pcipass.GetStatus", "20000"],
            check=True, capture_output=True).stdout)
        row["status_s"], row["canned_status_s"] = rate(d.sock), rate(canned_status.path)
        row["list_kib"] = len(reply) / 1024
        canned.stop()
        canned_status.stop()
        d.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return row


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    sizes = [int(a) for a in sys.argv[2:]] or [64, 1024, 4096, 16384]
    rows = [measure(build, n) for n in sizes]

    def table(title, cols):
        print(f"\n{title}")
        print("| " + " | ".join(c[0] for c in cols) + " |")
        print("|" + "|".join("---:" for _ in cols) + "|")
        for r in rows:
            print("| " + " | ".join(c[1](r) for c in cols) + " |")

    f1 = lambda k: (lambda r: f"{r[k]:.1f}")
    ratio = lambda a, b: (lambda r: f"{r[a] / r[b]:.2f}×")
    table("Start-up (ms, medians of alternated pairs)", [
        ("functions", lambda r: f"{r['n']:,}"), ("READY", f1("ready")), ("lspci -D -nn -k", f1("lspci")),
        ("walker attrs", f1("walk_attrs")), ("walker config", f1("walk_config")),
        ("READY/lspci", ratio("ready", "lspci")), ("READY/walker attrs", ratio("ready", "walk_attrs")),
        ("READY/walker config", ratio("ready", "walk_config")),
        ("READY+list", f1("ready_list")), ("READY+list/lspci", ratio("ready_list", "lspci2"))])
    table("List and GetStatus", [
        ("functions", lambda r: f"{r['n']:,}"), ("reply KiB", lambda r: f"{r['list_kib']:,.0f}"),
        ("List p50 / p99 ms", lambda r: f"{r['list_p50']:.2f} / {r['list_p99']:.2f}"),
        ("canned p50 / p99 ms", lambda r: f"{r['canned_p50']:.2f} / {r['canned_p99']:.2f}"),
        ("List/canned p50", ratio("list_p50", "canned_p50")),
        ("ctl -j list ms", f1("ctl_list")), ("copyclient ms", f1("copy_list")),
        ("ctl/copy", ratio("ctl_list", "copy_list")),
        ("GetStatus/s", lambda r: f"{r['status_s']:,.0f}"),
        ("canned/s", lambda r: f"{r['canned_status_s']:,.0f}")])
    table("Daemon memory (MiB)", [
        ("functions", lambda r: f"{r['n']:,}"), ("at READY", lambda r: f"{r['rss_ready'] / 1024:.1f}"),
        ("peak (VmHWM)", lambda r: f"{r['rss_peak'] / 1024:.1f}"),
        ("at rest after List", lambda r: f"{r['rss_rest'] / 1024:.1f}")])


if __name__ == "__main__":
    main()
