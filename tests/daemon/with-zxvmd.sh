#!/usr/bin/env bash
# Run a test program against a private zxvmd (STYLE.md "Tests": one body, many fixtures).
#
# Usage: with-zxvmd.sh [--zxvmd PATH] MODE PROGRAM [ARGS...]
#   MODE unix: zxvmd listens on a socket in a fresh temporary directory;
#   MODE tls:  zxvmd listens on 127.0.0.1:0 with mutual TLS (throw-away CA, server and client
#              certificates, made here with openssl); the port comes from its log.
# zxvmd is --zxvmd PATH, else $ZXVMD. PROGRAM runs with ZXVM_TEST_TARGET (and for tls the
# ZXVM_TLS_* variables) set; zxvmd is then stopped with SIGTERM and must exit 0. The exit
# status is PROGRAM's (77, "skipped", stays 77), or 1 when PROGRAM passed but zxvmd did not
# stop cleanly. Extra zxvmd flags may be given in $ZXVMD_FLAGS (split on spaces).
set -u
here=$(dirname "$(readlink -f "$0")")
. "$here/zxvmd-lib.sh"
ZXD_NOTE_PREFIX=with-zxvmd

if [ "${1:-}" = --zxvmd ]; then
	ZXVMD=$2
	shift 2
fi
if [ $# -lt 2 ]; then
	echo "usage: with-zxvmd.sh [--zxvmd PATH] unix|tls PROGRAM [ARGS...]" >&2
	exit 2
fi
mode=$1
shift

trap zxd_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# What cannot run here is skipped, as the in-process harness does without /dev/kvm.
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "skipped: /dev/kvm is not usable here; zxvmd needs KVM"
	exit 77
fi
if [ "$mode" = tls ] && ! command -v openssl >/dev/null; then
	echo "skipped: no openssl to make the TLS test certificates"
	exit 77
fi

# shellcheck disable=SC2086 # ZXVMD_FLAGS is a list of flags
if ! zxd_start "$mode" ${ZXVMD_FLAGS:-}; then
	exit 1
fi

"$@"
rc=$?

if ! zxd_stop 10; then
	zxd_note "zxvmd did not stop cleanly on SIGTERM: status $ZXD_RC after $ZXD_STOP_MS ms"
	[ "$rc" = 0 ] || [ "$rc" = 77 ] && rc=1
fi
if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
	zxd_note "zxvmd's log:"
	sed 's/^/  /' "$ZXD_LOG" >&2
fi
exit "$rc"
