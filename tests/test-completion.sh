#!/bin/bash
# Shell completion of pcipassctl (client/completion): the bash function called as bash calls
# it (COMP_WORDS split at COMP_WORDBREAKS, COMP_LINE, COMP_POINT), with bash-completion and
# without it, and the zsh function in a real interactive zsh on a pseudo-terminal (zpty),
# matches captured from compadd. Verbs, options, option values and files offline; PCI
# addresses and pools from the real pcipassd on a synthetic tree (--read-only); lease ids and
# owners, and the --socket passed on, from a stand-in pcipassctl; nothing, and nothing on
# stderr, when no daemon answers. Then every verb of `pcipassctl --help` must be offered, and
# `make install` must put the files where bash-completion and zsh look.
. "${top_srcdir:-.}/tests/lib.sh"
# In a private network namespace when it can be had (root), as the other tests: no real
# udevd's uevents reach the daemon. Without one (not root) it hears them, and, --read-only on
# its own tree, lists the same functions all the same.
if [ -z "${PCIPASS_TEST_NETNS:-}" ] && [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
	rm -rf "$TMP"	# exec skips the EXIT trap; the new process makes its own
	PCIPASS_TEST_NETNS=1 exec unshare -n "$BASH" "$0" "$@"
fi

export LC_ALL=C	# one collation for sort, compgen and zsh
BASH_SCRIPT=$top_srcdir/client/completion/pcipassctl.bash
ZSH_SCRIPT=$top_srcdir/client/completion/_pcipassctl
BASH_COMPLETION=${BASH_COMPLETION:-/usr/share/bash-completion/bash_completion}
[ -x "$PCIPASSCTL" ] || skip_all "$PCIPASSCTL not built"
PATH=$(cd "$top_builddir/client" && pwd):$PATH
SRC_ABS=$(cd "$top_srcdir" && pwd)
BUILD_ABS=$(cd "$top_builddir" && pwd)

# The verbs and long options `pcipassctl --help` lists; the verbs offered are those, and tree
# (which the client has just gained).
HELP_VERBS=$("$PCIPASSCTL" --help | sed -n '/^Verbs/,/^Options/s/^  \([a-z][a-z]*\).*/\1/p' | sort -u |
	paste -sd' ')
HELP_OPTIONS=$("$PCIPASSCTL" --help | sed -n '/^Options/,$p' | grep -o -- '--[a-z][a-z-]*' | sort -u |
	paste -sd' ')
ALL_VERBS=$(printf '%s\n' $HELP_VERBS tree | sort -u | paste -sd' ')

# --- a synthetic host, and pcipassd on it ----------------------------------------------------
root=$TMP/root
"$FAKESYS" "$root" init --iommu dmar0 >/dev/null
"$FAKESYS" "$root" add 0000:00:03.0 driver=e1000e group=0 >/dev/null
"$FAKESYS" "$root" add 0000:00:04.0 group=1 >/dev/null
"$FAKESYS" "$root" add 0000:01:00.0 vendor=0x10de device=0x1eb8 class=0x030000 group=2 mf=1 >/dev/null
"$FAKESYS" "$root" add 0000:01:00.1 vendor=0x10de device=0x10f8 class=0x040300 group=2 mf=1 >/dev/null
mkdir -p "$TMP/pol" "$TMP/dev"
printf '[Match]\nId=10de:*\n[Assign]\nDriver=vfio-pci\nGroup=claim\nPool=gpu\nApply=request\n' \
	>"$TMP/pol/50-gpu.policy"
printf '[Match]\nAddress=0000:00:04.0\n[Assign]\nDriver=vfio-pci\nPool=nic\nApply=request\n' \
	>"$TMP/pol/60-nic.policy"
: >"$TMP/none.conf"
daemon_start "$root" --read-only --policy-dir "$TMP/pol" --config "$TMP/none.conf" ||
	{ not_ok "pcipassd starts"; finish; }
NOSOCK=$TMP/nosuch/io.pcipass
export PCIPASS_SOCKET=$NOSOCK	# never this machine's own daemon

# A stand-in pcipassctl: leases of its own, and a log of how it was called.
mkdir -p "$TMP/stub"
cat >"$TMP/stub/pcipassctl" <<EOF
#!/bin/sh
echo "\$*" >>"$TMP/stub.log"
echo '{"leases":[{"id":"1","owner":"vm1","pool":"gpu","groups":[2],"devices":[{"address":"0000:01:00.0","device_id":7864,"iommu_group":2}]},{"id":"7","owner":"vm-two","pool":null,"groups":[1]},{"id":"9","owner":"\$(touch $TMP/pwned)","groups":[3]}]}'
EOF
chmod +x "$TMP/stub/pcipassctl"
STUB=$TMP/stub/pcipassctl

# Files for the file arguments, alone in a directory.
mkdir -p "$TMP/files"
: >"$TMP/files/50-a.policy"
: >"$TMP/files/gpu.rom"

# --- bash ------------------------------------------------------------------------------------
# bcomp LINE: completes LINE (the cursor at its end) as bash does, and prints COMPREPLY sorted,
# space-separated, then "|nospace" if the function asked for no space; stderr to $TMP/comp.err.
compopt() { COMPOPT+=" $*"; }	# the builtin works only inside real completion
bcomp() {
	local line=$1 w
	local -a split
	COMP_LINE=$line COMP_POINT=${#line} COMP_WORDS=() COMPREPLY=() COMPOPT=
	read -ra split <<<"$line"
	for w in "${split[@]}"; do
		# readline's words: runs of COMP_WORDBREAKS characters (here = and :) are words
		while [[ $w =~ ^([^=:]+|[=:]+)(.*)$ ]]; do
			COMP_WORDS+=("${BASH_REMATCH[1]}")
			w=${BASH_REMATCH[2]}
		done
	done
	[[ $line == *' ' ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	_pcipassctl "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" \
		2>"$TMP/comp.err"
	printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' '
	[[ $COMPOPT == *nospace* ]] && echo "|nospace"
}
# bcheck NAME LINE WANT: and nothing on stderr.
bcheck() {
	check_eq "$1" "$(bcomp "$2")" "$3"
	[ -s "$TMP/comp.err" ] && not_ok "…$1: stderr is empty" && sed 's/^/#   /' "$TMP/comp.err"
}

bash_cases() {
	local m=$1 s=--socket=$SOCK
	bcheck "bash $m: all verbs" "pcipassctl " "$ALL_VERBS"
	bcheck "bash $m: verbs from a prefix" "pcipassctl le" "lease leases"
	bcheck "bash $m: a verb after an option" "pcipassctl -j s" "show status"
	bcheck "bash $m: a verb after an option and its value" "pcipassctl --socket /x r" \
		"release reload rom"
	bcheck "bash $m: claim's options" "pcipassctl claim --d" "--driver= --dry-run"
	bcheck "bash $m: --driver=, and no space after it" "pcipassctl claim --dri" "--driver=
|nospace"
	bcheck "bash $m: qemu's options, no claim option" "pcipassctl qemu --" \
		"--format= --help --iommufd --json --no-legend --pretty --socket= --version"
	bcheck "bash $m: metrics' options: -o, no JSON or table option" "pcipassctl metrics -" \
		"--help --output= --socket= --version -h -o"
	bcheck "bash $m: short options" "pcipassctl monitor -" \
		"--help --initial --json --no-legend --pretty --socket= --version -h -j -n -p"
	bcheck "bash $m: options before a verb: all of them" "pcipassctl --c" "--check --count="
	bcheck "bash $m: --driver=" "pcipassctl claim --driver=" "igb_uio uio_pci_generic vfio-pci"
	bcheck "bash $m: --driver NAME" "pcipassctl claim --driver u" "uio_pci_generic"
	bcheck "bash $m: --format=" "pcipassctl qemu --format=" "libvirt proxmox qemu"
	bcheck "bash $m: --format=l" "pcipassctl --format=l" "libvirt"
	bcheck "bash $m: --count: no guess" "pcipassctl lease --count " ""
	bcheck "bash $m: --user=ro" "pcipassctl lease --user=ro" "$(compgen -u -- ro | sort | paste -sd' ')"
	bcheck "bash $m: --user=root:GROUP" "pcipassctl lease --user=root:ro" \
		"$(compgen -g -- ro | sort | paste -sd' ')"
	check "bash $m: --pid offers this shell's pid" eval '[[ " $(bcomp "pcipassctl lease --pid=$$") " == *" $$ "* ]]'
	bcheck "bash $m: policy: check" "pcipassctl policy " "check"
	bcheck "bash $m: the verbs without arguments" "pcipassctl $s status " ""
	cd "$TMP/files" || return
	bcheck "bash $m: policy check FILE" "pcipassctl policy check " "50-a.policy gpu.rom"
	bcheck "bash $m: policy check FILE, a prefix" "pcipassctl policy check 5" "50-a.policy"
	bcheck "bash $m: rom check FILE…" "pcipassctl rom check gpu.rom " "50-a.policy gpu.rom"
	bcheck "bash $m: rom --check FILE" "pcipassctl rom --check g" "gpu.rom"
	bcheck "bash $m: rom ADDRESS -o FILE" "pcipassctl rom 0000:01:00.0 -o g" "gpu.rom"
	bcheck "bash $m: --output=FILE" "pcipassctl rom 0000:01:00.0 --output=" "50-a.policy gpu.rom"
	bcheck "bash $m: metrics: -o FILE" "pcipassctl metrics -o g" "gpu.rom"
	bcheck "bash $m: --socket=FILE" "pcipassctl --socket=" "50-a.policy gpu.rom"
	cd "$OLDPWD" || return

	# From the daemon.
	bcheck "bash $m: the addresses for show 0000:" "pcipassctl $s show 0000:" \
		"00:03.0 00:04.0 01:00.0 01:00.1"
	bcheck "bash $m: …0000:01:" "pcipassctl $s show 0000:01:" "00.0 00.1"
	bcheck "bash $m: …0000:00:03" "pcipassctl $s show 0000:00:03" "03.0"
	bcheck "bash $m: the addresses, --socket PATH" "pcipassctl --socket $SOCK release " \
		"0000:00:03.0 0000:00:04.0 0000:01:00.0 0000:01:00.1"
	PCIPASS_SOCKET=$SOCK bcheck "bash $m: the addresses, \$PCIPASS_SOCKET" "pcipassctl plan 0" \
		"0000:00:03.0 0000:00:04.0 0000:01:00.0 0000:01:00.1"
	# (bash replaces what follows the last colon: 00.0 completes 0000:01:00.)
	bcheck "bash $m: the socket after the verb" "pcipassctl show $s 0000:01:00." "00.0 00.1"
	bcheck "bash $m: show takes one address" "pcipassctl $s show 0000:00:03.0 " ""
	bcheck "bash $m: claim takes several" "pcipassctl $s claim 0000:00:03.0 --group 0000:01:" "00.0 00.1"
	bcheck "bash $m: qemu ADDRESS…" "pcipassctl $s qemu --format=libvirt 0000:01:00." "00.0 00.1"
	bcheck "bash $m: rom: check or an address" "pcipassctl $s rom " \
		"0000:00:03.0 0000:00:04.0 0000:01:00.0 0000:01:00.1 check"
	bcheck "bash $m: lease: pools and addresses" "pcipassctl $s lease --owner vm1 " \
		"0000:00:03.0 0000:00:04.0 0000:01:00.0 0000:01:00.1 gpu nic"
	bcheck "bash $m: lease: a pool from a prefix" "pcipassctl $s lease g" "gpu"
	bcheck "bash $m: lease: after a pool, nothing" "pcipassctl $s lease gpu " ""
	bcheck "bash $m: lease: after an address, addresses" "pcipassctl $s lease 0000:00:04.0 0000:01:00.0" \
		"00.0"
	bcheck "bash $m: unlease: no lease, nothing" "pcipassctl $s unlease " ""

	# Lease ids and owners: the stand-in, which logs the --socket it was given.
	: >"$TMP/stub.log"
	bcheck "bash $m: unlease ID" "$STUB --socket=/some/sock unlease " "1 7 9"
	check_eq "…pcipassctl -j leases, at the --socket of the line" "$(cat "$TMP/stub.log")" \
		"--socket=/some/sock -j leases"
	printf -v q %q "\$(touch $TMP/pwned)"
	bcheck "bash $m: --owner=, each quoted as the shell reads it back" "$STUB unlease --owner=" \
		"$q vm-two vm1"
	check "bash $m: …an owner is text, never run" test ! -e "$TMP/pwned"
	check "bash $m: …and on the command line it is still text: Enter runs nothing" \
		bash -c "eval \"printf '%s\\n' \$1\" >/dev/null; test ! -e '$TMP/pwned'" _ "$q"
	bcheck "bash $m: unlease --owner: no id" "$STUB unlease --owner vm1 " ""

	# No daemon: nothing, quietly.
	bcheck "bash $m: no daemon: no address" "pcipassctl show 0000:" ""
	bcheck "bash $m: no daemon at --socket: no address" "pcipassctl --socket=$TMP/x show " ""
	bcheck "bash $m: no daemon: no pool" "pcipassctl lease " ""
	bcheck "bash $m: no daemon: no lease" "pcipassctl unlease " ""
	bcheck "bash $m: no daemon: rom: check" "pcipassctl rom " "check"
}

. "$BASH_SCRIPT"
check "the bash script registers _pcipassctl for pcipassctl" \
	eval '[[ $(complete -p pcipassctl) == "complete -F _pcipassctl pcipassctl" ]]'
bash_cases "(without bash-completion)"
if [ -r "$BASH_COMPLETION" ]; then
	# shellcheck disable=SC1090
	. "$BASH_COMPLETION"
	. "$BASH_SCRIPT"
	bash_cases "(bash-completion)"
else
	ok "bash-completion # SKIP $BASH_COMPLETION is not installed (apt-get install bash-completion)"
fi
verbs=$(bcomp "pcipassctl ")
missing=$(comm -23 <(printf '%s\n' $HELP_VERBS) <(printf '%s\n' $verbs) | paste -sd' ')
check_eq "bash: every verb of pcipassctl --help is offered" "$missing" ""
options=$(bcomp "pcipassctl --" | tr ' ' '\n' | sed 's/=$//' | sort -u)
missing=$(comm -23 <(printf '%s\n' $HELP_OPTIONS) <(printf '%s\n' $options) | paste -sd' ')
check_eq "bash: every long option of pcipassctl --help is offered" "$missing" ""

# --- zsh -------------------------------------------------------------------------------------
if ! command -v zsh >/dev/null; then
	ok "zsh # SKIP zsh is not installed"
else
	check "zsh -n _pcipassctl" zsh -n "$ZSH_SCRIPT"
	check_eq "zsh: the first line is #compdef pcipassctl" "$(head -1 "$ZSH_SCRIPT")" "#compdef pcipassctl"
	zverbs=$(sed -n '/local -a verbs=(/,/^  )/s/^ *'"'"'\([a-z]*\):.*/\1/p' "$ZSH_SCRIPT" | sort | paste -sd' ')
	check_eq "zsh: the verb list is the verbs of --help (and tree)" "$zverbs" "$ALL_VERBS"

	# zcomp LINE…: each LINE completed in an interactive zsh (zpty): "matches" per line,
	# sorted, as compadd matched them.
	cat >"$TMP/zcomp.zsh" <<'EOF'
zmodload zsh/zpty || exit 77
dir=$1 out=$2
shift 2
export TERM=vt100
zpty z zsh -f -i || exit 77
zpty -w z "bindkey -e; PS1='> '; unset RPS1; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a __m; builtin compadd -O __m "$@"; (( $#__m )) && print -rl -- $__m >>'${(q)out}'
  builtin compadd "$@"
}'
zpty -w z "_zt() { zle complete-word; print -r -- '<done>' >>${(q)out}; }; zle -N _zt; bindkey '^I' _zt"
zpty -w z "print -r -- '<ready>' >${(q)out}"
drain() { local x; while zpty -r -t z x; do print -rn -- $x >>$out.pty; done; }
waitdone() {
  local i
  for i in {1..400}; do
    drain
    [[ -f $out ]] && grep -q "^$1\$" $out && return 0
    sleep 0.05
  done
  return 1
}
waitdone '<ready>' || { print "no zsh prompt"; exit 1 }
for line in "$@"; do
  : >$out
  zpty -w -n z "$line"$'\t'
  if waitdone '<done>'; then
    m=( ${(f)"$(grep -v '^<done>$' $out)"} )
    print -r -- ${(ou)m}
  else
    print -r -- "(timeout)"
  fi
  zpty -w -n z $'\C-u'
  drain
done
zpty -d z
EOF
	zlines=(
		"pcipassctl "
		"pcipassctl le"
		"pcipassctl -j s"
		"pcipassctl --"
		"pcipassctl claim --d"
		"pcipassctl claim 0000:00:03.0 --gr"
		"pcipassctl rom --check "
		"pcipassctl --driver="
		"pcipassctl qemu --format="
		"pcipassctl policy "
		"pcipassctl --socket=$SOCK show 0000:"
		"pcipassctl show --socket=$SOCK 0000:01:"
		"pcipassctl --socket $SOCK claim 0000:00:03.0 0000:0"
		"pcipassctl --socket=$SOCK lease "
		"pcipassctl --socket=$SOCK lease 0000:01:00.0 0000:01:00."
		"pcipassctl --socket=$SOCK rom "
		"pcipassctl show 0000:"
		"pcipassctl unlease "
		"pcipassctl rom check "
		"$STUB unlease "
		"$STUB lease --owner="
	)
	zwant=(
		"$ALL_VERBS"
		"lease leases"
		"show status"
		"--check --count --driver --dry-run --force --format --group --help --initial --iommufd --json --no-legend --numa --output --owner --pid --pretty --socket --user --version"
		"--driver --dry-run"
		"--group"
		"50-a.policy gpu.rom"
		"igb_uio uio_pci_generic vfio-pci"
		"libvirt proxmox qemu"
		"check"
		"0000:00:03.0 0000:00:04.0 0000:01:00.0 0000:01:00.1"
		"0000:01:00.0 0000:01:00.1"
		"0000:00:03.0 0000:00:04.0 0000:01:00.0 0000:01:00.1"
		"0000:00:03.0 0000:00:04.0 0000:01:00.0 0000:01:00.1 gpu nic"
		"0000:01:00.0 0000:01:00.1"
		"0000:00:03.0 0000:00:04.0 0000:01:00.0 0000:01:00.1 check"
		""
		""
		"50-a.policy gpu.rom"
		"1 7 9"
		"\$(touch $TMP/pwned) vm-two vm1"
	)
	mkdir -p "$TMP/zfpath"
	cp "$ZSH_SCRIPT" "$TMP/zfpath/"
	# (in the directory of the files, for rom check FILE)
	(cd "$TMP/files" && exec zsh -f "$TMP/zcomp.zsh" "$TMP/zfpath" "$TMP/zcomp.out" "${zlines[@]}") \
		>"$TMP/zgot" 2>"$TMP/zerr"
	rc=$?
	if [ "$rc" -eq 77 ]; then
		ok "zsh completion in a zpty # SKIP no zsh/zpty module"
	else
		mapfile -t zgot <"$TMP/zgot"
		for i in "${!zlines[@]}"; do
			check_eq "zsh: ${zlines[i]//"$TMP"/\$TMP}" "${zgot[i]-(nothing)}" "${zwant[i]}"
		done
		# What the completion would have printed on the terminal: error lines of pcipassctl
		# or of the zsh functions.
		check_eq "zsh: no error on the terminal" \
			"$(cat "$TMP/zerr"; grep -a 'pcipassctl: \|_pcipassctl[a-z_]*:[0-9]' "$TMP/zcomp.out.pty")" ""
		check "zsh: …an owner is text, never run" test ! -e "$TMP/pwned"
		zmissing=$(comm -23 <(printf '%s\n' $HELP_VERBS) <(printf '%s\n' ${zgot[0]-}) | paste -sd' ')
		check_eq "zsh: every verb of pcipassctl --help is offered" "$zmissing" ""
		zmissing=$(comm -23 <(printf '%s\n' $HELP_OPTIONS) <(printf '%s\n' ${zgot[3]-}) | paste -sd' ')
		check_eq "zsh: every long option of pcipassctl --help is offered" "$zmissing" ""
	fi
fi

# --- make install ----------------------------------------------------------------------------
if [ -f "$top_builddir/Makefile" ] && command -v make >/dev/null; then
	dirs=$(printf 'print-dirs:\n\t@echo $(prefix) $(bashcompletiondir) $(zshcompletiondir)\n' |
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$BUILD_ABS" \
			-f Makefile -f - print-dirs 2>/dev/null | tail -n 1)	# (after any Makefile rebuild)
	read -r prefix bdir zdir <<<"$dirs"
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$BUILD_ABS" \
		install-bashcompletionDATA install-zshcompletionDATA \
		DESTDIR="$TMP/inst" >/dev/null 2>"$TMP/install.err"
	check "make install: bash's file in \$(bashcompletiondir) ($bdir), named pcipassctl" \
		cmp -s "$TMP/inst$bdir/pcipassctl" "$SRC_ABS/client/completion/pcipassctl.bash"
	check "make install: zsh's file in \$(zshcompletiondir) ($zdir)" \
		cmp -s "$TMP/inst$zdir/_pcipassctl" "$SRC_ABS/client/completion/_pcipassctl"
	[ -s "$TMP/install.err" ] && sed 's/^/#   make install: /' "$TMP/install.err"
	if [ "$prefix" = /usr ]; then
		check_eq "prefix /usr: where Debian's bash-completion and zsh look" "$bdir $zdir" \
			"$(pkg-config --variable=completionsdir bash-completion 2>/dev/null ||
				echo /usr/share/bash-completion/completions) /usr/share/zsh/vendor-completions"
	fi
else
	ok "make install # SKIP no Makefile in $top_builddir"
fi

daemon_stop
finish
