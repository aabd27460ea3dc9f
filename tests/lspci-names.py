#!/usr/bin/python3
"""Compares the names of `pcipassctl -j list` with `lspci -mm -D -i /dev/null` (libpci naming
from the same udev hardware database, pci.ids disabled). Prints one line per function of the
lspci output: "ok ADDRESS" or "not ok ADDRESS: field: got …, want …".

Usage: lspci-names.py LIST_JSON LSPCI_MM_TEXT
"""
import json
import re
import sys

LINE = re.compile(r'^(\S+) "([^"]*)" "([^"]*)" "([^"]*)"((?: -[a-z][0-9a-f]+)*) "([^"]*)" "([^"]*)"$')


def lspci_form(d):
    """What lspci -mm prints for the device, from our names (lspci's fallbacks for unknowns)."""
    cls = d["class"] >> 8
    if d["subclass_name"]:
        klass = d["subclass_name"]
    elif d["class_name"]:
        klass = "%s [%04x]" % (d["class_name"], cls)
    else:
        klass = "Class %04x" % cls
    vendor = d["vendor_name"] or "Vendor %04x" % d["vendor_id"]
    device = d["device_name"] or "Device %04x" % d["device_id"]
    sv, sd = d["subsystem_vendor_id"], d["subsystem_device_id"]
    if sv in (None, 0, 0xFFFF):
        svendor = sdevice = ""
    else:
        svendor = d["subsystem_vendor_name"] or "Vendor %04x" % sv
        # libpci asks hwdb for the subsystem's model: a subsystem entry says "device
        # (subsystem)"; without one the device's own entry answers.
        sub = d["subsystem_name"]
        if sub and (sv, sd) != (d["vendor_id"], d["device_id"]):
            sdevice = "%s (%s)" % (d["device_name"], sub)
        else:
            sdevice = d["device_name"] or "Device %04x" % sd
    return [klass, vendor, device, svendor, sdevice]


def main():
    devices = {d["address"]: d for d in json.load(open(sys.argv[1]))["devices"]}
    fields = ["class", "vendor", "device", "subsystem vendor", "subsystem"]
    n = 0
    for line in open(sys.argv[2]):
        m = LINE.match(line.rstrip("\n"))
        if not m:
            print("not ok (unparsed lspci line): %r" % line)
            continue
        n += 1
        addr = m.group(1)
        want = [m.group(2), m.group(3), m.group(4), m.group(6), m.group(7)]
        d = devices.get(addr)
        if d is None:
            print("not ok %s: not in the daemon's list" % addr)
            continue
        got = lspci_form(d)
        bad = ["%s: got %r, want %r" % (f, g, w) for f, g, w in zip(fields, got, want) if g != w]
        print(("not ok %s: " % addr + "; ".join(bad)) if bad else "ok %s %s" % (addr, got[2]))
    if n != len(devices):
        print("not ok lspci shows %d functions, the daemon %d" % (n, len(devices)))


main()
