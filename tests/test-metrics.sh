#!/bin/bash
# pcipassctl metrics: the Prometheus text format (promtool, and a strict parser of the format
# here: HELP and TYPE once per family before its samples, no duplicate series, label escaping),
# values that match the tree and the daemon (devices, bound, problems, policy, udev events,
# Monitor clients; through tests/fakekernel: claims, leases and pools, transactions done and
# failed, a stuck step), -o FILE replaced as a whole (never seen half-written, no temporary file
# left, left alone when pcipassd cannot be reached), and the systemd units. Runs in private
# mount and network namespaces (the uevents fakesys and fakekernel send reach only this daemon).
. "${top_srcdir:-.}/tests/lib.sh"
enter_mountns_netns "$@"

# A strict reader of the text exposition format 0.0.4, as pcipassctl must write it.
#   prom.py check FILE          problems, one a line; exits 1 when there is any
#   prom.py get FILE SERIES...  each series' value ("absent" when missing); a SERIES is
#                               name or name{label="value",...}, labels in any order
cat >"$TMP/prom.py" <<'EOF'
import re, sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
VALUE = re.compile(r'[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN')
TYPES = ('counter', 'gauge')		# all that pcipassctl writes

class Bad(Exception):
    pass

def labels(s, pos):
    """Parses {name="value",...} at s[pos]; returns (dict, end)."""
    out = {}
    pos += 1
    while True:
        m = LABEL.match(s, pos)
        if not m:
            raise Bad('a label name expected at column %d' % (pos + 1))
        name, pos = m.group(0), m.end()
        if name.startswith('__'):
            raise Bad('reserved label name ' + name)
        if s[pos:pos + 2] != '="':
            raise Bad('=" expected after label ' + name)
        pos += 2
        value = []
        while True:
            if pos >= len(s):
                raise Bad('unterminated value of label ' + name)
            c = s[pos]
            if c == '\\':
                e = {'\\': '\\', '"': '"', 'n': '\n'}.get(s[pos + 1:pos + 2])
                if e is None:
                    raise Bad('invalid escape in the value of label ' + name)
                value.append(e)
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                value.append(c)
                pos += 1
        if name in out:
            raise Bad('label %s twice' % name)
        out[name] = ''.join(value)
        c = s[pos:pos + 1]
        pos += 1
        if c == '}':
            return out, pos
        if c != ',':
            raise Bad('"," or "}" expected after the value of label ' + name)

def series(s):
    m = NAME.match(s)
    if not m:
        raise Bad('bad metric name')
    name, pos, ls = m.group(0), m.end(), {}
    if s[pos:pos + 1] == '{':
        ls, pos = labels(s, pos)
    return (name, tuple(sorted(ls.items()))), pos

def read(path):
    data = open(path, 'rb').read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        return {}, ['not UTF-8: %s' % e]
    problems, families, order, current = [], {}, [], None
    if not text:
        problems.append('empty')
    elif not text.endswith('\n'):
        problems.append('the last line has no newline')
    for no, line in enumerate(text.split('\n')[:-1] if text.endswith('\n') else text.split('\n'), 1):
        try:
            if line == '' or line != line.strip() or '\r' in line:
                raise Bad('an empty line, or white space at either end')
            if line.startswith('#'):
                m = re.fullmatch(r'# (HELP|TYPE) ([^ ]+) (.+)', line)
                if not m or not NAME.fullmatch(m.group(2)):
                    raise Bad('a comment that is not "# HELP name text" or "# TYPE name type"')
                what, name, rest = m.groups()
                if name != current:
                    if name in families:
                        raise Bad('family %s again, after another one' % name)
                    families[name] = {'HELP': None, 'TYPE': None, 'samples': {}}
                    order.append(name)
                    current = name
                f = families[name]
                if f['samples']:
                    raise Bad('%s after samples of %s' % (what, name))
                if f[what] is not None:
                    raise Bad('a second %s for %s' % (what, name))
                if what == 'HELP' and re.search(r'\\(?![\\n])', rest):
                    raise Bad('invalid escape in HELP')
                if what == 'TYPE' and rest not in TYPES:
                    raise Bad('type ' + rest)
                f[what] = rest
                continue
            key, pos = series(line)
            name = key[0]
            if line[pos:pos + 1] != ' ' or not VALUE.fullmatch(line[pos + 1:]):
                raise Bad('"name{labels} value" expected (one space, a number, no timestamp)')
            if name != current:
                raise Bad('sample of %s outside its family' % name)
            f = families[name]
            if f['HELP'] is None or f['TYPE'] is None:
                raise Bad('sample of %s before its HELP and TYPE' % name)
            if key in f['samples']:
                raise Bad('duplicate series')
            v = float(line[pos + 1:])
            if f['TYPE'] == 'counter' and (v < 0 or not name.endswith('_total')):
                raise Bad('a counter must be named *_total and not be negative')
            f['samples'][key] = v
        except Bad as e:
            problems.append('line %d: %s: %s' % (no, e, line))
    for name in order:
        if not name.startswith('pcipass_'):
            problems.append('%s: not a pcipass_ metric' % name)
        for what in ('HELP', 'TYPE'):
            if families[name][what] is None:
                problems.append('%s: no %s' % (name, what))
    if order != sorted(order):
        problems.append('families not sorted by name')
    return families, problems

families, problems = read(sys.argv[2])
if sys.argv[1] == 'check':
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)
if problems:
    sys.exit('unparsable: ' + problems[0])
values = {}
for f in families.values():
    values.update(f['samples'])
out = []
for s in sys.argv[3:]:
    key, pos = series(s)
    v = values.get(key)
    out.append('absent' if v is None else '%d' % v if v == int(v) else repr(v))
print(' '.join(out))
EOF
prom() { python3 "$TMP/prom.py" "$@"; }
# metrics FILE: pcipassctl metrics to FILE (its stdout), which must succeed and parse.
metrics() { ctl metrics >"$1" && prom check "$1" >/dev/null; }
# m SERIES...: their values in a fresh metrics text.
m() { ctl metrics >"$TMP/now.prom" && prom get "$TMP/now.prom" "$@"; }
fs() { "$FAKESYS" "$root" "$@" >/dev/null; }
n_functions() { ls "$1/bus/pci/devices" | wc -l; }
n_bound() { local n=0 d; for d in "$1"/bus/pci/devices/*; do [ -L "$d/driver" ] && n=$((n + 1)); done; echo "$n"; }
mkdir -p "$TMP/pol" "$TMP/dev"
: >"$TMP/none.conf"

# --- a read-only daemon on a generated tree: the format, and what the tree holds ---------------
root=$TMP/gen
fs init --iommu dmar0
fs gen 24
start() { daemon_start "$root" --read-only --policy-dir "$TMP/pol" --config "$TMP/none.conf"; }
start || { not_ok "pcipassd starts"; finish; }
ctl metrics >"$TMP/m1.prom" 2>"$TMP/err"
check_eq "metrics: exit 0, nothing on stderr" "$?:$(cat "$TMP/err")" "0:"
prom check "$TMP/m1.prom" >"$TMP/problems"
check_eq "the strict parser accepts it (HELP, TYPE, samples, escapes, sorted families)" \
	"$?:$(paste -sd'|' "$TMP/problems")" "0:"
sed 's/^/#   /' "$TMP/problems"
if command -v promtool >/dev/null; then
	promtool check metrics <"$TMP/m1.prom" >"$TMP/promtool.out" 2>&1
	check_eq "promtool check metrics accepts it (exit 0, no lint problem)" \
		"$?:$(paste -sd'|' "$TMP/promtool.out")" "0:"
else
	ok "promtool check metrics # SKIP promtool is not installed (Debian: prometheus)"
fi
check_eq "every family has a HELP and a TYPE line" \
	"$(grep -c '^# HELP ' "$TMP/m1.prom") $(grep -c '^# TYPE ' "$TMP/m1.prom")" \
	"$(grep '^# HELP ' "$TMP/m1.prom" | cut -d' ' -f3 | sort -u | wc -l) $(grep '^# HELP ' "$TMP/m1.prom" | cut -d' ' -f3 | sort -u | wc -l)"
check_eq "counters and gauges: the *_total families are the counters" \
	"$(sed -n 's/^# TYPE \([^ ]*\) counter$/\1/p' "$TMP/m1.prom" | paste -sd' ')" \
	"pcipass_scans_total pcipass_transactions_total pcipass_uevents_total"
check_eq "devices: the functions of the tree; bound: those with a driver; IOMMU groups" \
	"$(prom get "$TMP/m1.prom" pcipass_devices pcipass_devices_bound pcipass_iommu_groups)" \
	"$(n_functions "$root") $(n_bound "$root") $(ls "$root/kernel/iommu_groups" | wc -l)"
check_eq "…none claimed, none leased, no lease, no transaction" \
	"$(prom get "$TMP/m1.prom" pcipass_devices_claimed pcipass_devices_leased pcipass_leases \
		pcipass_transaction_running pcipass_stuck_steps pcipass_transactions_queued)" "0 0 0 0 0 0"
check_eq "transactions_total: every kind and result, from 0" \
	"$(grep '^pcipass_transactions_total' "$TMP/m1.prom" | paste -sd'|')" \
	'pcipass_transactions_total{kind="claim",result="done"} 0|pcipass_transactions_total{kind="claim",result="failed"} 0|pcipass_transactions_total{kind="release",result="done"} 0|pcipass_transactions_total{kind="release",result="failed"} 0|pcipass_transactions_total{kind="undo",result="done"} 0|pcipass_transactions_total{kind="undo",result="failed"} 0'
check_eq "read-only 1, disabled 0, ready 1, no problem, one scan, no policy rule" \
	"$(prom get "$TMP/m1.prom" pcipass_read_only pcipass_disabled pcipass_ready pcipass_problems \
		pcipass_scans_total pcipass_policy_rules pcipass_policy_load_failed)" "1 0 1 0 1 0 0"
check_eq "info: pcipassd's version" \
	"$(prom get "$TMP/m1.prom" "pcipass_info{version=\"$("$PCIPASSD" --version | awk '{print $2}')\"}")" "1"
check_eq "…the same as GetStatus says (devices, bound, groups, connections)" \
	"$(prom get "$TMP/m1.prom" pcipass_devices pcipass_devices_bound pcipass_iommu_groups pcipass_client_connections)" \
	"$(status_eval '" ".join(str(d["status"][k]) for k in ("devices", "bound_devices", "iommu_groups", "connections"))')"
metrics "$TMP/m2.prom"
check "nothing changed: the same text again, byte for byte" cmp -s "$TMP/m1.prom" "$TMP/m2.prom"
check_eq "no blocked group, no pool, no lease: their families without samples" \
	"$(grep -c '^pcipass_\(blocked_groups\|pool_\|lease_groups\|problem{\)' "$TMP/m1.prom")" "0"

# A function appears, with its uevent: one more device, and the udev event counted.
uevents=$(prom get "$TMP/m1.prom" pcipass_uevents_total)
fs add 0000:70:00.0 driver=e1000e group=70 -u
check "a hotplugged function: devices counts it" wait_until same "$(n_functions "$root")" m pcipass_devices
check "…and uevents_total went up" test "$(m pcipass_uevents_total)" -gt "$uevents"

# Monitor clients, while they follow.
"$PCIPASSCTL" --socket "$SOCK" monitor >/dev/null 2>&1 &	# not ctl: $! is the client itself
mon=$!
check "a Monitor client: monitor_clients 1" wait_until same 1 m pcipass_monitor_clients
kill "$mon" && wait "$mon" 2>/dev/null
check "…and 0 when it has gone" wait_until same 0 m pcipass_monitor_clients

# A readiness problem: VT-d without interrupt remapping, allow_unsafe_interrupts N.
echo f00f56 >"$root/devices/virtual/iommu/dmar0/intel-iommu/ecap"
mkdir -p "$root/module/vfio_iommu_type1/parameters"
echo N >"$root/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
ctl reload >/dev/null
check_eq "a problem: problems 1, its code with 1, ready 0" \
	"$(m pcipass_problems 'pcipass_problem{code="no-interrupt-remapping"}' pcipass_ready)" "1 1 0"
check_eq "…as GetStatus lists them" "$(status_eval '[p["code"] for p in d["status"]["problems"]]')" \
	"['no-interrupt-remapping']"

# The policy: its rules; a refused load.
printf '[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=vfio-pci\n' >"$TMP/pol/50-nvme.policy"
ctl reload >/dev/null
check_eq "a policy rule: policy_rules 1, load_failed 0" \
	"$(m pcipass_policy_rules pcipass_policy_load_failed)" "1 0"
printf '[Match]\nNoSuchKey=1\n' >"$TMP/pol/60-bad.policy"
ctl reload >/dev/null 2>&1
check_eq "a bad file: the load is refused (load_failed 1), the rule before it stays" \
	"$(m pcipass_policy_load_failed pcipass_policy_rules)" "1 1"
rm "$TMP/pol/60-bad.policy"
ctl reload >/dev/null

# --- -o FILE: replaced as a whole --------------------------------------------------------------
out=$TMP/textfile/pcipass.prom
mkdir -p "$TMP/textfile"
ctl metrics -o "$out" >"$TMP/stdout" 2>"$TMP/err"
check_eq "metrics -o FILE: exit 0, nothing on stdout or stderr" \
	"$?:$(cat "$TMP/stdout" "$TMP/err")" "0:"
ctl metrics >"$TMP/direct.prom"
check "…FILE holds what metrics prints" cmp -s "$out" "$TMP/direct.prom"
check_eq "…mode 0644 (node_exporter reads it as its own user), and no other file there" \
	"$(stat -c %a "$out") $(ls -A "$TMP/textfile")" "644 pcipass.prom"
# A reader that opens FILE again and again while it is rewritten must only ever see whole texts,
# each a new file (renamed over the old one, never truncated and written in place).
python3 - "$out" "$TMP/reader.ready" "$TMP/writer.done" >"$TMP/reader.out" 2>&1 <<'EOF' &
import os, sys
path, ready, done = sys.argv[1:]
reads, inodes, bad = 0, [], []
while True:
    finished = os.path.exists(done)
    with open(path, 'rb') as f:
        ino = os.fstat(f.fileno()).st_ino
        data = f.read()
    if ino not in inodes:
        inodes.append(ino)
    reads += 1
    last = data.split(b'\n')[-2] if data.endswith(b'\n') else b''
    if not data.startswith(b'# HELP pcipass_') or not last.startswith(b'pcipass_uevents_total '):
        bad.append(len(data))
    if reads == 1:
        open(ready, 'w').close()
    if finished:
        break
print(reads > 1, len(inodes) > 1, bad[:3])
EOF
reader=$!
wait_until test -e "$TMP/reader.ready"
for i in $(seq 30); do ctl metrics -o "$out" || break; done
touch "$TMP/writer.done"
wait "$reader"
check_eq "…30 rewrites under a reader: every read a whole text, new files each time" \
	"$(cat "$TMP/reader.out")" "True True []"
check_eq "…and no temporary file left" "$(ls -A "$TMP/textfile")" "pcipass.prom"
prom check "$out" >/dev/null
check "…the last one parses" test $? -eq 0

# pcipassd cannot be reached: exit 1 with the reason, FILE left alone, nothing on stdout.
cp -p "$out" "$TMP/before.prom"
ino=$(stat -c %i "$out")
"$PCIPASSCTL" --socket "$TMP/nosuch" metrics -o "$out" >"$TMP/stdout" 2>"$TMP/err"
check_eq "no daemon: metrics -o exits 1" "$?" "1"
check "…saying it cannot connect" grep -q "^pcipassctl: cannot connect to pcipassd at $TMP/nosuch" "$TMP/err"
check_eq "…FILE untouched (same inode, same bytes), no temporary file" \
	"$(stat -c %i "$out") $(cmp -s "$out" "$TMP/before.prom" && echo same) $(ls -A "$TMP/textfile")" \
	"$ino same pcipass.prom"
"$PCIPASSCTL" --socket "$TMP/nosuch" metrics >"$TMP/stdout" 2>"$TMP/err"
check_eq "no daemon, to stdout: exit 1, not a byte on stdout" "$?:$(wc -c <"$TMP/stdout")" "1:0"
ctl metrics -o "$TMP/nodir/pcipass.prom" 2>"$TMP/err"
check_eq "FILE's directory missing: exit 1" "$?" "1"
check "…naming FILE and why" grep -q "cannot write $TMP/nodir/pcipass.prom: No such file or directory" "$TMP/err"
ln -s "$TMP/direct.prom" "$TMP/link.prom"
mkfifo "$TMP/fifo.prom"
for f in "$TMP/link.prom" "$TMP/fifo.prom"; do
	type=$(stat -c %F "$f")
	ctl metrics -o "$f" 2>"$TMP/err"
	check_eq "-o onto a $type: refused (exit 1), still there" "$?:$(stat -c %F "$f")" "1:$type"
done
check "…saying why" grep -q "is not a regular file" "$TMP/err"
ctl -j metrics >/dev/null 2>"$TMP/err"
check_eq "metrics -j: a usage error (exit 2)" "$?" "2"
ctl metrics extra >/dev/null 2>&1
check_eq "metrics with an argument: a usage error (exit 2)" "$?" "2"
check "pcipassd stops cleanly" daemon_stop

# --- the systemd units -------------------------------------------------------------------------
units=$TMP/units
mkdir -p "$units"
bindir=$(cd "$top_builddir/client" && pwd)
sed "s|@bindir@|$bindir|g" "$top_srcdir/systemd/pcipass-metrics.service.in" >"$units/pcipass-metrics.service"
cp "$top_srcdir/systemd/pcipass-metrics.timer" "$units/"
check_eq "the service runs metrics -o into Debian's textfile directory, made when missing" \
	"$(grep -E '^(Type|ExecStartPre|ExecStart|ReadWritePaths)=' "$units/pcipass-metrics.service" | paste -sd'|')" \
	"Type=oneshot|ExecStartPre=+/bin/mkdir -p /var/lib/prometheus/node-exporter|ExecStart=$bindir/pcipassctl metrics -o /var/lib/prometheus/node-exporter/pcipass.prom|ReadWritePaths=/var/lib/prometheus/node-exporter"
if ! command -v systemd-analyze >/dev/null; then
	ok "systemd-analyze verify # SKIP systemd-analyze is not installed"
else
	systemd-analyze verify --man=no "$units/pcipass-metrics.service" "$units/pcipass-metrics.timer" \
		>"$TMP/verify.out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && grep -qi "bus\|PID 1\|not been booted" "$TMP/verify.out"; then
		ok "systemd-analyze verify # SKIP it cannot run here: $(head -1 "$TMP/verify.out")"
	else
		check_eq "systemd-analyze verify: the service and timer, exit 0 without a warning" \
			"$rc:$(paste -sd'|' "$TMP/verify.out")" "0:"
	fi
	check_eq "the timer fires every 30 s" \
		"$(systemd-analyze calendar "$(sed -n 's/^OnCalendar=//p' "$units/pcipass-metrics.timer")" | sed -n 's/^Normalized form: //p')" \
		"*-*-* *:*:00/30"
fi

# --- through tests/fakekernel: claims, leases, pools, transactions --------------------------------
if [ ! -x "$FAKEKERNEL" ] || [ ! -c /dev/fuse ]; then
	ok "claims, leases and pools # SKIP tests/fakekernel not built (libfuse3) or no /dev/fuse"
	finish
fi
root=$TMP/sys
M=$TMP/mnt
wait_idle() { wait_until same "(0, None)" status_eval '(d["status"]["queued"], d["status"]["transaction"])'; }
rm -f "$TMP/pol"/*
fs init --iommu dmar0
# The console GPU, which a start-up rule wants (the boot VGA guard blocks it); two GPUs with
# their HDMI audio functions, a pool; two NICs.
gpu_host
fs add 0000:00:04.0 vendor=0x8086 device=0x10d3 driver=e1000e group=5
cat >"$TMP/pol/10-console.policy" <<'EOF'
[Match]
Address=0000:00:02.0
[Assign]
Driver=vfio-pci
Apply=boot
EOF
gpu_pool_policy "$TMP/pol"
# A pool no function matches: its zeros, so that an alert on it fires.
cat >"$TMP/pol/60-ghost.policy" <<'EOF'
[Match]
Id=dead:*
[Assign]
Driver=vfio-pci
Apply=request
Pool=ghost
EOF
control ""
fakekernel_start "$root" "$M" || { not_ok "fakekernel mounts the tree"; finish; }
daemon_start "$M" --policy-dir "$TMP/pol" --config "$TMP/none.conf" --step-timeout 1 ||
	{ not_ok "pcipassd starts on fakekernel"; finish; }
wait_idle
metrics "$TMP/k0.prom" || { echo "# metrics failed:"; ctl metrics 2>&1 | tail -3 | sed "s/^/#   /"; }
check_eq "writable: read_only 0; devices and bound as in the tree" \
	"$(prom get "$TMP/k0.prom" pcipass_read_only pcipass_devices pcipass_devices_bound)" \
	"0 $(n_functions "$M") $(n_bound "$M")"
check_eq "the console GPU's start-up rule: one group blocked, by boot-vga" \
	"$(grep '^pcipass_blocked_groups' "$TMP/k0.prom")" 'pcipass_blocked_groups{reason="boot-vga"} 1'
check_eq "the pool: 2 groups, both free, none leased or blocked" \
	"$(prom get "$TMP/k0.prom" 'pcipass_pool_groups{pool="gpu"}' 'pcipass_pool_free_groups{pool="gpu"}' \
		'pcipass_pool_leased_groups{pool="gpu"}') $(grep -c '^pcipass_pool_blocked_groups' "$TMP/k0.prom")" \
	"2 2 0 0"
check_eq "a pool that matches nothing: zero groups, zero free, zero leased" \
	"$(prom get "$TMP/k0.prom" 'pcipass_pool_groups{pool="ghost"}' 'pcipass_pool_free_groups{pool="ghost"}' \
		'pcipass_pool_leased_groups{pool="ghost"}')" "0 0 0"
tx() { m "pcipass_transactions_total{kind=\"$1\",result=\"$2\"}"; }

ctl claim 0000:00:03.0 >/dev/null
check_eq "after a claim: claimed 1, claim/done 1" \
	"$(m pcipass_devices_claimed 'pcipass_transactions_total{kind="claim",result="done"}')" "1 1"
check_eq "…and bound unchanged (e1000e → vfio-pci)" "$(m pcipass_devices_bound)" "$(n_bound "$M")"
check "…udev events counted (fakekernel sends them)" \
	test "$(m pcipass_uevents_total)" -gt "$(prom get "$TMP/k0.prom" pcipass_uevents_total)"

owner='vm "one" \x'
ctl lease gpu --owner "$owner" >/dev/null
wait_idle
metrics "$TMP/k1.prom"
check_eq "after a lease from the pool: leases 1, 2 functions leased, 3 claimed, claim/done 2" \
	"$(prom get "$TMP/k1.prom" pcipass_leases pcipass_devices_leased pcipass_devices_claimed \
		'pcipass_transactions_total{kind="claim",result="done"}')" "1 2 3 2"
check_eq "…the pool: 1 free, 1 leased, of 2" \
	"$(prom get "$TMP/k1.prom" 'pcipass_pool_free_groups{pool="gpu"}' 'pcipass_pool_leased_groups{pool="gpu"}' \
		'pcipass_pool_groups{pool="gpu"}')" "1 1 2"
check_eq "…the lease's groups, its owner's quote and backslash escaped" \
	"$(grep '^pcipass_lease_groups' "$TMP/k1.prom")" \
	'pcipass_lease_groups{lease="1",owner="vm \"one\" \\x",pool="gpu"} 1'
check_eq "…which the parser reads back as the owner" \
	"$(prom get "$TMP/k1.prom" "pcipass_lease_groups{pool=\"gpu\",lease=\"1\",owner=\"vm \\\"one\\\" \\\\x\"}")" "1"
if command -v promtool >/dev/null; then
	check "…promtool accepts it" promtool check metrics <"$TMP/k1.prom"
fi

# A second pool group in use by a process, outside any lease: not free.
ctl claim --group 0000:02:00.0 >/dev/null
exec 7<"$TMP/dev/vfio/3"
check_eq "a pool group on vfio-pci whose node a process holds open: blocked by device-open" \
	"$(m 'pcipass_pool_free_groups{pool="gpu"}' 'pcipass_pool_blocked_groups{pool="gpu",reason="device-open"}')" "0 1"
exec 7<&-
check_eq "…free again once it is closed" "$(m 'pcipass_pool_free_groups{pool="gpu"}')" "1"
ctl release 0000:02:00.0 >/dev/null

# A claim that fails (the probe refuses) is rolled back, and counted as failed.
control "fail drivers_probe 0000:00:04.0 EIO once
"
ctl claim 0000:00:04.0 >/dev/null 2>&1
check_eq "a failed claim: claim/failed 1, claimed unchanged (3)" \
	"$(m 'pcipass_transactions_total{kind="claim",result="failed"}' pcipass_devices_claimed)" "1 3"

# A step that hangs in the kernel: stuck (after --step-timeout 1), a transaction running.
control "hang unbind 0000:00:04.0 held
"
ctl claim 0000:00:04.0 >/dev/null 2>&1 &
claimer=$!
check "a hung step: stuck_steps 1, transaction_running 1" wait_until same "1 1" m pcipass_stuck_steps pcipass_transaction_running
ctl metrics >"$TMP/k2.prom"
check "…metrics answer meanwhile, and parse" prom check "$TMP/k2.prom"
control ""
wait "$claimer"
check_eq "…once it ends: 0 and 0, claim/done 4 (the claims, the lease's, the group's)" \
	"$(m pcipass_stuck_steps pcipass_transaction_running 'pcipass_transactions_total{kind="claim",result="done"}')" \
	"0 0 4"

release_done=$(tx release done)
ctl release 0000:00:03.0 >/dev/null
ctl unlease --owner "$owner" >/dev/null
wait_idle
check_eq "a release, and the lease's end (AfterLease=release): release/done +2, no lease" \
	"$(tx release done) $(m pcipass_leases pcipass_devices_leased 'pcipass_pool_leased_groups{pool="gpu"}')" \
	"$((release_done + 2)) 0 0 0"
check_eq "…the pool's groups both free again" "$(m 'pcipass_pool_free_groups{pool="gpu"}')" "2"
check_eq "…and no lease_groups sample" "$(grep -c '^pcipass_lease_groups' "$TMP/now.prom")" "0"
metrics "$TMP/k3.prom"
check "the last text parses" prom check "$TMP/k3.prom"
check "pcipassd stops cleanly" daemon_stop
check "fakekernel stops cleanly" fakekernel_stop
finish
