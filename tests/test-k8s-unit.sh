#!/bin/bash
# The Go unit tests of pcipass-k8s (go test): the KubeVirt variable name, device ids, the
# preferred allocation by NUMA node, the health rule; and go vet and gofmt on the Go code.
# Built as the plugin is (offline, against Debian's Go packages).
. "${top_srcdir:-.}/tests/lib.sh"

[ -x "$top_builddir/k8s/pcipass-k8s" ] ||
	skip_all "pcipass-k8s was not built (configure found no go or not Debian's Go packages: golang-google-grpc-dev golang-google-protobuf-dev golang-github-varlink-go-dev)"
gopath=$(cd "$top_builddir/k8s/gopath" && pwd)
out=$(cd "$gopath/src/pcipass" && GOPATH="$gopath:${GOCODE:-/usr/share/gocode}" GO111MODULE=off \
	GOFLAGS= GOCACHE="$TMP/gocache" "${GO:-go}" test -v pcipass/k8s/cmd/pcipass-k8s 2>&1)
rc=$?
while read -r line; do
	case $line in
	"--- PASS: "*) t=${line#--- PASS: }; ok "${t%% *}" ;;
	"--- FAIL: "*) t=${line#--- FAIL: }; not_ok "${t%% *}" ;;
	esac
done <<<"$out"
[ "$rc" -eq 0 ] || { not_ok "go test exits 0"; sed 's/^/# /' <<<"$out"; }
[ "$T" -gt 0 ] || not_ok "go test ran no test"
vet=$(cd "$gopath/src/pcipass" && GOPATH="$gopath:${GOCODE:-/usr/share/gocode}" GO111MODULE=off \
	GOFLAGS= GOCACHE="$TMP/gocache" "${GO:-go}" vet pcipass/k8s/cmd/pcipass-k8s pcipass/k8s/cmd/fakekubelet 2>&1)
check_eq "go vet: the plugin and the fake kubelet" "$?:$vet" "0:"
gofmt=$(dirname "$(command -v "${GO:-go}")")/gofmt
if [ -x "$gofmt" ]; then
	check_eq "gofmt: every Go file as gofmt writes it" "$("$gofmt" -l "$top_srcdir/k8s")" ""
fi
finish
