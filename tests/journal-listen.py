#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for journald's native socket, for tests.

  journal-listen.py SOCKET LOG       binds SOCKET (AF_UNIX datagrams, journald's native protocol:
                                     KEY=value lines, or KEY, a little-endian 64-bit length and
                                     the bytes), appends each record to LOG as one JSON object
                                     {"FIELD": [values, in order]}; the first line is "listening"
  journal-listen.py --show LOG ID    the records of LOG with MESSAGE_ID=ID, one line each: the
                                     fields that say what happened, "FIELD=v1,v2", and "PID" when
                                     the caller's pid is there (its value changes from run to run)
"""
import json
import socket
import struct
import sys

SHOWN = ["PRIORITY", "PCIPASS_ACTION", "PCIPASS_RESULT", "IOMMU_GROUP", "PCI_SLOT_NAME",
         "PCIPASS_DRIVER_FROM", "PCIPASS_DRIVER_TO", "PCIPASS_MOVE", "FORCE", "PCIPASS_RULE", "PCIPASS_GUARD",
         "PCIPASS_OWNER", "PCIPASS_REASON", "PCIPASS_CALLER_UID", "PCIPASS_CALLER_COMM"]


def parse(m):
    rec, i = {}, 0
    while i < len(m):
        nl = m.index(b"\n", i)
        line = m[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            n = struct.unpack_from("<Q", m, nl + 1)[0]
            v = m[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        rec.setdefault(k.decode(), []).append(v.decode())
    return rec


def listen(path, log):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    out = open(log, "w", buffering=1)
    out.write('"listening"\n')
    while True:
        out.write(json.dumps(parse(s.recv(1 << 20))) + "\n")


def show(log, message_id):
    for line in open(log):
        r = json.loads(line)
        if not isinstance(r, dict) or r.get("MESSAGE_ID") != [message_id]:
            continue
        print(" ".join("%s=%s" % (k, ",".join(r[k])) for k in SHOWN if k in r)
              + (" PID" if "PCIPASS_CALLER_PID" in r else ""))


if __name__ == "__main__":
    if sys.argv[1] == "--show":
        show(sys.argv[2], sys.argv[3])
    else:
        listen(sys.argv[1], sys.argv[2])
