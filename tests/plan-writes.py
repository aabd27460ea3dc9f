#!/usr/bin/env python3
# Reads the JSON reply of a dry run (pcipassctl -j claim|release ADDRESS --dry-run, or
# pcipassctl -j plan) on stdin and prints the writes its steps promise, one a line, in order:
#   --fakekernel  as tests/fakekernel logs them ("driver_override ADDR VALUE -> ok", "unbind
#                 DRV ADDR -> ok", "drivers_probe pci ADDR -> ok", ...)
#   --write-log   as pcipassd --write-log logs them ("PATH VALUE -> ok")
# Module loads are not writes and are left out. Every write is expected to succeed ("-> ok").
import json
import re
import sys


def escape(v):
    out = []
    for c in v:
        if c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\\":
            out.append("\\\\")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append("\\x%02x" % ord(c))
        else:
            out.append(c)
    return "".join(out)


def fakekernel(path, value):
    m = re.fullmatch(r"bus/pci/devices/([^/]+)/([a-z_]+)", path)
    if m:
        return "%s %s %s" % (m.group(2), m.group(1), value)
    m = re.fullmatch(r"bus/pci/drivers/([^/]+)/(bind|unbind|new_id|remove_id)", path)
    if m:
        return "%s %s %s" % (m.group(2), m.group(1), value)
    if path == "bus/pci/drivers_probe":
        return "drivers_probe pci %s" % value
    if path == "bus/pci/rescan":
        return "rescan pci %s" % value
    return "write %s %s" % (path, value)


def main():
    style = sys.argv[1] if len(sys.argv) > 1 else "--fakekernel"
    reply = json.load(sys.stdin)
    groups = reply["plan"]["groups"] if "plan" in reply else reply["groups"]
    for g in groups:
        for m in g["members"]:
            for s in m["steps"]:
                if s["op"] != "write":
                    continue
                v = escape(s["value"])
                line = fakekernel(s["path"], v) if style == "--fakekernel" else "%s %s" % (s["path"], v)
                print(line + " -> ok")


main()
