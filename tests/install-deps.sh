#!/bin/sh
# Installs what building and testing pcipass needs on Debian 12 (run as root). QEMU, the Debian
# kernel, busybox-static, cpio, kmod and udev are for the real-kernel tests and the demo
# (tests/vm): the kernel boots in a QEMU guest, never on this machine. Go and its Varlink library
# check that Go clients accept the interface the daemon serves (tests/idlcheck.go) and build
# pcipass-k8s, the Kubernetes device plugin, with gRPC and protobuf. bash-completion
# and zsh test the shell completion; prometheus brings promtool, which checks `pcipassctl metrics`.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q -o DPkg::Lock::Timeout=600
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
	build-essential autoconf automake pkgconf \
	libsystemd-dev libudev-dev libjson-c-dev libkmod-dev libinih-dev \
	scdoc python3 cppcheck util-linux iproute2 pciutils tar gzip xz-utils ca-certificates \
	libfuse3-dev fuse3 \
	qemu-system-x86 linux-image-amd64 busybox-static cpio kmod udev \
	golang-go golang-github-varlink-go-dev golang-google-grpc-dev golang-google-protobuf-dev \
	golang-github-golang-protobuf-1-5-dev \
	dpkg-dev debhelper lintian fakeroot git mmdebstrap e2fsprogs \
	bash-completion zsh prometheus
