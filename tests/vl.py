#!/usr/bin/env python3
"""A minimal, independent Varlink client for the tests (not pcipass code): it proves that
pcipassd speaks the protocol to any client, not only to pcipassctl.

  vl.py SOCKET METHOD [JSON-PARAMETERS] [--more N] [--oneway] [--raw]

Prints each reply as one JSON line. --more N: send with "more" and print N replies (or until
one without "continues"). --raw: JSON-PARAMETERS is the whole call object, sent as is.
"""
import json
import socket
import sys


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(20)
    return s


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def reply(self):
        while b"\0" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = [a for a in argv if a.startswith("--")]
    more = 0
    if "--more" in argv:
        more = int(argv[argv.index("--more") + 1])
        args.remove(argv[argv.index("--more") + 1])
    path, method = args[0], args[1]
    params = json.loads(args[2]) if len(args) > 2 else None
    if "--raw" in flags:
        call = params
    else:
        call = {"method": method}
        if params is not None:
            call["parameters"] = params
        if more:
            call["more"] = True
        if "--oneway" in flags:
            call["oneway"] = True
    sock = connect(path)
    sock.sendall(json.dumps(call).encode() + b"\0")
    if "--oneway" in flags:
        return 0
    r = Reader(sock)
    n = 0
    while True:
        rep = r.reply()
        if rep is None:
            print("DISCONNECTED")
            return 1
        print(json.dumps(rep, sort_keys=True))
        sys.stdout.flush()
        n += 1
        if not rep.get("continues") or (more and n >= more):
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
