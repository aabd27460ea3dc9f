#!/usr/bin/env python3
"""pcipassd's start-up and query costs on synthetic hosts of growing size.

  bench/startup.py BUILDDIR [SIZES...]      (default sizes: 64 1024 4096)

For each size N: tests/fakesys writes an N-function sysfs tree on tmpfs; pcipassd --read-only
starts on it with NOTIFY_SOCKET set, and the time to READY=1 is taken (the full scan: every
function, group and IOMMU unit read); then `pcipassctl -j list` and `pcipassctl -j groups` are
timed end to end (connect, call, reply of every function, JSON printed), and `pcipassctl -j
plan` with a policy sending every SR-IOV VF to vfio-pci (the planner over every group, with the
facts it gathers); last, the daemon's peak resident memory (VmHWM). Each timing is the median
of RUNS runs. Prints one table.

Reads only the synthetic tree: safe on any machine. ASan builds are slower and larger; measure
a plain `./configure && make` build.
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


def median_ms(fn):
    samples = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def start_daemon(build, root, tmp):
    """Starts pcipassd; returns (process, milliseconds to READY=1)."""
    notify_path = os.path.join(tmp, "notify")
    if os.path.exists(notify_path):
        os.unlink(notify_path)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    t = time.perf_counter()
    proc = subprocess.Popen(
        [os.path.join(build, "daemon/pcipassd"), "--read-only", "--sysfs-root", root,
         "--dev-root", os.path.join(tmp, "dev"), "--socket", os.path.join(tmp, "sock"),
         "--state-dir", os.path.join(tmp, "state"), "--log-level", "warning",
         "--policy-dir", os.path.join(tmp, "policy"), "--config", os.path.join(tmp, "none.conf")],
        env=env)
    while b"READY=1" not in notify.recv(4096):
        pass
    ms = (time.perf_counter() - t) * 1000
    notify.close()
    return proc, ms


def stop_daemon(proc):
    proc.terminate()
    if proc.wait(timeout=30) != 0:
        sys.exit(f"pcipassd exited with {proc.returncode}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    sizes = [int(a) for a in sys.argv[2:]] or [64, 1024, 4096]
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    fakesys = os.path.join(build, "tests/fakesys")
    ctl = os.path.join(build, "client/pcipassctl")

    rows = []
    for n in sizes:
        tmp = tempfile.mkdtemp(prefix="pcipass-bench.", dir=base)
        try:
            root = os.path.join(tmp, "sys")
            subprocess.run([fakesys, root, "init", "--iommu", "dmar0"], check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([fakesys, root, "gen", str(n)], check=True, stdout=subprocess.DEVNULL)
            os.mkdir(os.path.join(tmp, "policy"))
            with open(os.path.join(tmp, "policy", "50-vfs.policy"), "w") as f:
                f.write("[Match]\nSriov=vf\n[Assign]\nDriver=vfio-pci\n")

            ready = []
            for _ in range(RUNS):
                proc, ms = start_daemon(build, root, tmp)
                ready.append(ms)
                stop_daemon(proc)
            proc, _ = start_daemon(build, root, tmp)
            sock = os.path.join(tmp, "sock")
            query = [ctl, "--socket", sock, "-j"]

            def run(verb):
                subprocess.run(query + [verb], check=True, stdout=subprocess.DEVNULL)

            list_ms = median_ms(lambda: run("list"))
            groups_ms = median_ms(lambda: run("groups"))
            plan_ms = median_ms(lambda: run("plan"))
            out = subprocess.run(query + ["list"], check=True, capture_output=True).stdout
            hwm = vm_hwm_kib(proc.pid)
            stop_daemon(proc)
            rows.append((n, statistics.median(ready), list_ms, groups_ms, plan_ms, len(out) / 1024,
                         hwm / 1024))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'functions':>9}  {'start→READY ms':>14}  {'list ms':>8}  {'groups ms':>9}  "
          f"{'plan ms':>8}  {'list KiB':>8}  {'daemon peak RSS MiB':>19}")
    for n, ready, lst, grp, plan, kib, mib in rows:
        print(f"{n:>9}  {ready:>14.1f}  {lst:>8.1f}  {grp:>9.1f}  {plan:>8.1f}  {kib:>8.0f}  "
              f"{mib:>19.1f}")


if __name__ == "__main__":
    main()
