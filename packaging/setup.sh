#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine and build zxvm: install the build and test dependencies
# from Debian (only those missing), then configure and build into build/ (or $ZXVM_BUILD).
# Usage: packaging/setup.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

ZXVM_DEPS=(build-essential cmake ninja-build pkg-config binutils
	libgrpc-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev libsystemd-dev libseccomp-dev
	python3 python3-grpcio python3-grpc-tools python3-protobuf openssl clang libclang-rt-14-dev
	systemd-container debootstrap debhelper dpkg-dev rsync)

missing=()
for p in "${ZXVM_DEPS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build=${ZXVM_BUILD:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
ninja -C "$build"
