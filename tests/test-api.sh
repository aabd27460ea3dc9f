#!/bin/bash
# The Varlink API as any conforming client sees it (tests/vl.py is an independent client),
# its limits, socket activation and sd_notify, and pcipassctl's exit codes and errors.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns "$@"

root=$(extract q35-iommu-claimed)
daemon_start "$root" --read-only || { not_ok "pcipassd starts"; finish; }
vl() { $VL "$SOCK" "$@"; }
field() { json_eval "$1"; }

check_eq "GetInfo with parameters null lists both interfaces" \
	"$(vl org.varlink.service.GetInfo null | field 'd["parameters"]["interfaces"]')" \
	"['org.varlink.service', 'io.pcipass']"
check_eq "GetInfo with parameters {} and absent alike" \
	"$(vl org.varlink.service.GetInfo '{}' | field 'd["parameters"]["product"]') $(vl org.varlink.service.GetInfo | field 'd["parameters"]["product"]')" \
	"pcipassd pcipassd"
check_eq "GetInfo with an unknown parameter is InvalidParameter" \
	"$(vl org.varlink.service.GetInfo '{"x":1}' | field 'd["error"], d["parameters"]')" \
	"org.varlink.service.InvalidParameter {'parameter': 'x'}"
vl org.varlink.service.GetInterfaceDescription '{"interface":"io.pcipass"}' |
	field 'd["parameters"]["description"]' >"$TMP/idl"
check "GetInterfaceDescription returns io.pcipass.varlink exactly" \
	bash -c "python3 -c 'import sys; print(open(sys.argv[1]).read())' '$top_srcdir/daemon/io.pcipass.varlink' | cmp -s - '$TMP/idl'"
# Go's Varlink library (Debian's golang-github-varlink-go-dev) refuses a description in which a
# name is defined twice (a type and a method both "Claim"): Go clients must accept ours.
if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/varlink/go/varlink/idl ]; then
	src=$(cd "$top_srcdir" && pwd)
	(cd "$TMP" && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE=$TMP/gocache GOFLAGS= \
		go build -o idlcheck "$src/tests/idlcheck.go") >"$TMP/go.log" 2>&1 ||
		cat "$TMP/go.log" | sed 's/^/# /'
	"$TMP/idlcheck" <"$TMP/idl" >"$TMP/idlcheck.out" 2>&1
	check_eq "Go's Varlink library parses the served description (every name unique)" \
		"$?:$(cut -d: -f1 "$TMP/idlcheck.out")" "0:io.pcipass"
	sed 's/^/# /' "$TMP/idlcheck.out"
else
	ok "Go's Varlink library parses the served description # SKIP golang-go or golang-github-varlink-go-dev is not installed (tests/install-deps.sh installs them)"
fi
check_eq "unknown interface: InterfaceNotFound" \
	"$(vl io.nope.List | field 'd["error"], d["parameters"]')" \
	"org.varlink.service.InterfaceNotFound {'interface': 'io.nope'}"
check_eq "unknown method: MethodNotFound, fully qualified" \
	"$(vl io.pcipass.Nope | field 'd["error"], d["parameters"]')" \
	"org.varlink.service.MethodNotFound {'method': 'io.pcipass.Nope'}"
check_eq "List filtered by driver" \
	"$(vl io.pcipass.List '{"driver":"e1000"}' | field '[x["address"] for x in d["parameters"]["devices"]]')" \
	"['0000:04:01.0', '0000:04:02.0']"
check_eq "List filtered by class with mask (all bridges)" \
	"$(vl io.pcipass.List '{"class":393216,"class_mask":16711680}' | field 'len(d["parameters"]["devices"])')" \
	"7"
check_eq "List filtered by vendor and IOMMU group" \
	"$(vl io.pcipass.List '{"vendor_id":32902,"iommu_group":9}' | field '[x["address"] for x in d["parameters"]["devices"]]')" \
	"['0000:01:00.0', '0000:01:00.1']"
check_eq "List with a wrongly typed filter: InvalidParameter naming it" \
	"$(vl io.pcipass.List '{"vendor_id":"8086"}' | field 'd["error"], d["parameters"]["parameter"]')" \
	"org.varlink.service.InvalidParameter vendor_id"
check_eq "Get of a malformed address: InvalidParameter" \
	"$(vl io.pcipass.Get '{"address":"00:03.0"}' | field 'd["error"], d["parameters"]["parameter"]')" \
	"org.varlink.service.InvalidParameter address"
for drv in 'vfio-pci/../uio_pci_generic' 'vfio-pci\n' 'myvfio' 'vfio'; do
	check_eq "Claim with driver '$drv' (not a passthrough driver's exact name): InvalidParameter driver" \
		"$(vl io.pcipass.Claim '{"address":"0000:00:03.0","driver":"'"$drv"'","dry_run":true}' | field 'd["error"], d["parameters"]["parameter"]')" \
		"org.varlink.service.InvalidParameter driver"
done
check_eq "Get without an address: InvalidParameter" \
	"$(vl io.pcipass.Get null | field 'd["parameters"]["parameter"]')" "address"
check_eq "Get of an absent function: NoSuchDevice" \
	"$(vl io.pcipass.Get '{"address":"0000:42:00.0"}' | field 'd["error"], d["parameters"]')" \
	"io.pcipass.NoSuchDevice {'address': '0000:42:00.0'}"
check_eq "Monitor without more: ExpectedMore" \
	"$(vl io.pcipass.Monitor | field 'd["error"]')" "org.varlink.service.ExpectedMore"
check_eq "Monitor with more and initial streams with continues" \
	"$(vl io.pcipass.Monitor '{"initial":true}' --more 2 | json_each 'd["continues"], d["parameters"]["event"]["action"]' | sort -u)" \
	"True present"

# Pipelining, oneway, garbage and oversize, on raw sockets.
python3 - "$SOCK" >"$TMP/raw.out" <<'PY'
import json, socket, sys
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10); return s
def replies(s, n):
    buf, out = b"", []
    while len(out) < n:
        try:
            c = s.recv(65536)
        except ConnectionResetError:   # closed with our input unread: a reset, not a FIN
            c = b""
        if not c:
            out.append("EOF"); break
        buf += c
        while b"\0" in buf and len(out) < n:
            m, buf = buf.split(b"\0", 1); out.append(json.loads(m))
    return out
s = conn()
calls = [{"method": "io.pcipass.Get", "parameters": {"address": "0000:00:03.0"}},
         {"method": "io.pcipass.GetStatus", "oneway": True},
         {"method": "io.pcipass.Get", "parameters": {"address": "0000:00:04.0"}},
         {"method": "org.varlink.service.GetInfo", "parameters": None}]
s.sendall(b"".join(json.dumps(c).encode() + b"\0" for c in calls))
r = replies(s, 3)
print("pipelined", [x["parameters"].get("device", {}).get("address", x["parameters"].get("product")) for x in r])
s = conn(); s.sendall(b'{"method":"io.pcipass.List"} trailing\0'); print("garbage", replies(s, 1))
s = conn(); s.sendall(b'{"method":"io.pcipass.List","oneway":true,"more":true}\0'); print("oneway+more", replies(s, 1))
s = conn(); s.sendall(b'{"method":"io.pcipass.List","more":true}\0'); r = replies(s, 1)[0]
print("list+more", sorted(r), len(r.get("parameters", {}).get("devices", [])))
s = conn(); s.sendall(b'{"method":"io.pcipass.List","bogus":1}\0'); print("unknown key", replies(s, 1))
s = conn(); s.sendall(b'{"method":"io.pcipass.GetStatus","org.example.ext":1}\0'); print("vendor key", list(replies(s, 1)[0]["parameters"]))
s = conn()
try:
    s.sendall(b'{"method":"io.pcipass.List","parameters":{"driver":"' + b"x" * (2 << 20) + b'"}}\0')
except OSError:
    pass
print("oversize", replies(s, 1))
held = [conn() for _ in range(200)]          # more than any unprivileged uid may hold
extra = conn()
try:
    extra.sendall(b'{"method":"io.pcipass.GetStatus"}\0')
    print("root's 201st", list(replies(extra, 1)[0].get("parameters", {})))
except OSError as e:
    print("root's 201st", ["EOF"])
for h in held: h.close()
PY
check_eq "pipelined calls are answered in order, the oneway one not at all" \
	"$(sed -n 's/^pipelined //p' "$TMP/raw.out")" "['0000:00:03.0', '0000:00:04.0', 'pcipassd']"
check_eq "trailing garbage in a message: disconnected" "$(sed -n 's/^garbage //p' "$TMP/raw.out")" "['EOF']"
check_eq "oneway and more together: disconnected" "$(sed -n 's/^oneway+more //p' "$TMP/raw.out")" "['EOF']"
check_eq "List with more: one final reply, as a method that does not stream gives" \
	"$(sed -n 's/^list+more //p' "$TMP/raw.out")" "['parameters'] 21"
check_eq "an unknown top-level key: disconnected" "$(sed -n 's/^unknown key //p' "$TMP/raw.out")" "['EOF']"
check_eq "a vendor extension key is ignored" "$(sed -n 's/^vendor key //p' "$TMP/raw.out")" "['status']"
check_eq "a message over 1 MiB: disconnected" "$(sed -n 's/^oversize //p' "$TMP/raw.out")" "['EOF']"
check_eq "root is not limited per uid (the 201st connection is served; tests/test-liveness has the unprivileged)" \
	"$(sed -n "s/^root's 201st //p" "$TMP/raw.out")" "['status']"

# A client that asks for a lot and never reads must not hold up anybody else.
python3 - "$SOCK" "$TMP/stalled" <<'PY' &
import json, signal, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
for _ in range(200):
    s.sendall(json.dumps({"method": "io.pcipass.List"}).encode() + b"\0")
open(sys.argv[2], "w").close()
signal.pause()
PY
stalled=$!
wait_until test -e "$TMP/stalled"
check_eq "others are served while a client stalls" \
	"$(timeout 60 "$PCIPASSCTL" --socket "$SOCK" -j list | json_eval 'len(d["devices"])')" "21"
kill "$stalled" 2>/dev/null
wait "$stalled" 2>/dev/null
check "pcipassd stops cleanly" daemon_stop

# pcipassctl: errors and exit codes.
out=$(ctl list 2>&1)
rc=$?
check_eq "no daemon: exit 1" "$rc" "1"
check_eq "no daemon: one line naming the socket and the reason" "$out" \
	"pcipassctl: cannot connect to pcipassd at $SOCK: No such file or directory (is pcipassd running?)"
daemon_start "$root" --read-only
ctl show 0000:42:00.0 >/dev/null 2>"$TMP/err"
check_eq "show of an absent function: exit 1" "$?" "1"
check_eq "show of an absent function: says so" "$(cat "$TMP/err")" \
	"pcipassctl: no PCI function 0000:42:00.0 on this host"
ctl show nonsense >/dev/null 2>&1
check_eq "show of a malformed address: exit 2" "$?" "2"
ctl frobnicate >/dev/null 2>&1
check_eq "unknown verb: exit 2" "$?" "2"
ctl --frob list >/dev/null 2>&1
check_eq "unknown option: exit 2" "$?" "2"
ctl show >/dev/null 2>&1
check_eq "missing argument: exit 2" "$?" "2"
check "--help exits 0" ctl --help
check_eq "default verb is list" "$(ctl | wc -l)" "22"
daemon_stop
"$PCIPASSD" --bogus >/dev/null 2>&1
check_eq "pcipassd: unknown option exits 2" "$?" "2"
check "pcipassd --help exits 0 and documents --read-only" bash -c "'$PCIPASSD' --help | grep -q -- --read-only"

# Socket activation and sd_notify, as systemd does them: LISTEN_FDS=1 with the socket on fd 3,
# NOTIFY_SOCKET a datagram socket that must receive READY=1 and a STATUS line.
python3 - "$PCIPASSD" "$root" "$TMP" >"$TMP/activation.out" 2>&1 <<'PY'
import json, os, socket, sys, time
daemon, root, tmp = sys.argv[1:4]
path = tmp + "/activated.sock"
listener = socket.socket(socket.AF_UNIX); listener.bind(path); listener.listen(16)
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); notify.bind(tmp + "/notify")
notify.settimeout(20)
pid = os.fork()
if pid == 0:
    os.dup2(listener.fileno(), 3)
    os.set_inheritable(3, True)   # dup2 onto itself keeps close-on-exec
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), NOTIFY_SOCKET=tmp + "/notify")
    os.execve(daemon, [daemon, "--sysfs-root", root, "--read-only", "--socket", tmp + "/unused",
                       "--state-dir", tmp + "/state"], env)
msgs = []
while not any("READY=1" in m for m in msgs):
    msgs.append(notify.recv(4096).decode())
print("notify", "READY=1" in "".join(msgs), [l for m in msgs for l in m.split("\n") if l.startswith("STATUS=")])
c = socket.socket(socket.AF_UNIX); c.connect(path)
c.sendall(b'{"method":"io.pcipass.GetStatus"}\0')
buf = b""
while not buf.endswith(b"\0"):
    buf += c.recv(65536)
print("activated", json.loads(buf[:-1])["parameters"]["status"]["devices"], os.path.exists(tmp + "/unused"))
os.kill(pid, 15)
print("exit", os.waitpid(pid, 0)[1])
PY
check_eq "sd_notify: READY=1 with a STATUS line" "$(sed -n 's/^notify //p' "$TMP/activation.out")" \
	"True ['STATUS=21 PCI functions in 14 IOMMU groups (read-only), 0 claimed']"
check_eq "socket activation: serves the passed socket, binds no other" \
	"$(sed -n 's/^activated //p' "$TMP/activation.out")" "21 False"
check_eq "socket activation: clean exit on SIGTERM" "$(sed -n 's/^exit //p' "$TMP/activation.out")" "0"

# List sends each device's kept text in pieces, its shared runs cut in (manager_device_text());
# Get builds the device anew (and adds more). Strings that look like JSON's own structure, and bytes that are
# not UTF-8, must not move a cut: every device of List equals Get's.
"$FAKESYS" "$TMP/odd" init --iommu dmar0 >/dev/null
"$FAKESYS" "$TMP/odd" gen 64 >/dev/null
printf 'x","vendor_id":{"a":"}],\\\xff' >"$TMP/odd/bus/pci/devices/0000:00:01.0/driver_override"
printf '"link":[' >"$TMP/odd/bus/pci/devices/0000:00:02.0/driver_override"
daemon_start "$TMP/odd" --read-only
ctl -j list >"$TMP/odd-list.json"
for a in $(json_eval '" ".join(x["address"] for x in d["devices"])' <"$TMP/odd-list.json"); do
	vl io.pcipass.Get "{\"address\":\"$a\"}"
done >"$TMP/odd-get.json"
check_eq "List in pieces equals Get for every device, odd strings and bad UTF-8 included" \
	"$(python3 - "$TMP/odd-list.json" "$TMP/odd-get.json" <<'PY'
import json, sys
listed = json.load(open(sys.argv[1]))["devices"]
got = [json.loads(l)["parameters"]["device"] for l in open(sys.argv[2]) if l.strip()]
# Get adds what inspection shows (config space, vfio, uio); tests/vl.py sorts the keys.
same = [all(k in g and g[k] == v for k, v in l.items()) for l, g in zip(listed, got)]
print(len(listed), len(got) == len(listed) and all(same), listed[1]["driver_override"])
PY
)" '64 True x","vendor_id":{"a":"}],\�'
check "pcipassd stops cleanly after the odd tree" daemon_stop

# Scale: a 4,096-function tree. Its first List makes the texts on all CPUs
# (manager_texts_make()); each must still equal what Get builds on its own, odd strings in
# either half of the tree included.
"$FAKESYS" "$TMP/big" init --iommu dmar0 >/dev/null
"$FAKESYS" "$TMP/big" gen 4096 >/dev/null
printf 'x","vendor_id":{"a":"}],\\\xff' >"$TMP/big/bus/pci/devices/0000:00:01.0/driver_override"
last=$(ls "$TMP/big/bus/pci/devices" | tail -n 1)
printf '"link":[' >"$TMP/big/bus/pci/devices/$last/driver_override"
daemon_start "$TMP/big" --read-only
ctl -j list >"$TMP/big-list.json"
check_eq "4,096 functions are all listed" "$(json_eval 'len(d["devices"])' <"$TMP/big-list.json")" "4096"
check_eq "List made on all CPUs equals Get for each of 4,096 devices" \
	"$(python3 - "$SOCK" "$TMP/big-list.json" <<'PY'
import json, socket, sys
listed = json.load(open(sys.argv[2]))["devices"]
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
buf, same = b"", 0
for l in listed:
    s.sendall(json.dumps({"method": "io.pcipass.Get",
                          "parameters": {"address": l["address"]}}).encode() + b"\0")
    while b"\0" not in buf:
        buf += s.recv(65536)
    reply, buf = buf.split(b"\0", 1)
    g = json.loads(reply)["parameters"]["device"]
    same += all(k in g and g[k] == v for k, v in l.items())
print(len(listed), same, listed[1]["driver_override"][:2], listed[-1]["driver_override"])
PY
)" '4096 4096 x" "link":['
check "pcipassd stops cleanly after the big tree" daemon_stop
finish
