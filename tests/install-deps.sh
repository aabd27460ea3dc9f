#!/bin/sh
# Installs what building and testing pcipass needs on Debian 12 (run as root).
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential autoconf automake pkgconf \
	libsystemd-dev libudev-dev libjson-c-dev libkmod-dev libinih-dev \
	scdoc python3 cppcheck util-linux iproute2 pciutils tar gzip xz-utils ca-certificates \
	libfuse3-dev fuse3
