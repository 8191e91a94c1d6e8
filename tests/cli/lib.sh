# tests/cli/lib.sh: sourced by every tests/cli/*_test.sh.
#
# Each test program gets a private zxvmd from tests/daemon/zxvmd-lib.sh (shared with the daemon
# tests): on a unix socket in a fresh temporary directory (or on loopback TCP with mutual TLS),
# started once it logged "ready" (a blocking read of its log, no polling), stopped with SIGTERM
# at exit, where it must exit 0. Its log is printed if a check failed.
#
# Checks print what they expected and what they got, count failures, and go on; `finish`
# exits 1 if any failed. `must` stops the program at a failure later steps depend on.
#
# Environment (set by tests/cli/CMakeLists.txt): ZXVM, ZXVMD, and the guest images.

set -u
set -o pipefail

: "${ZXVM:?path of the zxvm CLI}" "${ZXVMD:?path of zxvmd}"

# shellcheck source=../daemon/zxvmd-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../daemon/zxvmd-lib.sh"
ZXD_NOTE_PREFIX=cli-test

SKIP=77
failures=0
checks=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zxvm-cli-test.XXXXXX")

cleanup()
{
	local status=$?
	stop_zxvmd
	if ((failures)) && [[ -n $ZXD_LOG && -s $ZXD_LOG ]]; then
		echo "---- zxvmd log ----" >&2
		cat "$ZXD_LOG" >&2
	fi
	zxd_cleanup
	rm -rf "$TMP"
	# A daemon that failed to stop fails a program whose checks passed.
	if ((failures && status == 0)); then
		exit 1
	fi
}
trap cleanup EXIT

skip()
{
	echo "SKIP: $*"
	exit $SKIP
}

require_python()
{
	command -v python3 >/dev/null || skip "python3 is needed to check JSON output"
	# The interpreter itself: version-manager shims cost a process or two per call.
	PYTHON=$(python3 -c 'import sys; print(sys.executable)')
}

# The daemon runs guests for root and the members of group zxvm (zxvmd(8)).
require_kvm()
{
	[[ -r /dev/kvm && -w /dev/kvm ]] || skip "/dev/kvm is not usable here"
	if ((EUID != 0)) && ! id -nG | tr ' ' '\n' | grep -qx zxvm; then
		skip "neither root nor in group zxvm"
	fi
	require_python
}

# start_zxvmd [unix|tls] [OPTION]...: a private zxvmd (unix by default); exports ZXVM_ADDR
# (and the ZXVM_TLS_* variables for tls). Call require_kvm first where guests run.
start_zxvmd()
{
	local mode=unix
	if [[ ${1-} == unix || ${1-} == tls ]]; then
		mode=$1
		shift
	fi
	if ! zxd_start "$mode" "$@"; then
		failures=$((failures + 1))
		exit 1
	fi
}

stop_zxvmd()
{
	[[ -n $ZXD_PID ]] || return 0
	if ! zxd_stop 10; then
		fail "zxvmd did not stop cleanly on SIGTERM: status $ZXD_RC after $ZXD_STOP_MS ms"
	fi
}

# zx CMD...: runs the CLI; stdout in $out (and $TMP/out, byte exact), stderr in $err and
# the exit status in $rc. Stdin is the caller's.
zx()
{
	rc=0
	"$ZXVM" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	out=$(tr -d '\0' <"$TMP/out") # binary output (vmo read) is compared from the file
	err=$(cat "$TMP/err")
	last="zxvm $*"
}

fail()
{
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

ok()
{
	checks=$((checks + 1))
}

# expect_rc WANT: the exit status of the last zx.
expect_rc()
{
	if [[ $rc == "$1" ]]; then
		ok
	else
		fail "$last: exit status $rc, expected $1${err:+; stderr: $err}"
	fi
}

# expect_eq WANT GOT WHAT
expect_eq()
{
	if [[ $2 == "$1" ]]; then
		ok
	else
		fail "$3: got '$2', expected '$1' (after: $last)"
	fi
}

# expect_match REGEX GOT WHAT (bash extended regular expression)
expect_match()
{
	if [[ $2 =~ $1 ]]; then
		ok
	else
		fail "$3: '$2' does not match /$1/ (after: $last)"
	fi
}

# must: like expect_rc 0, but later steps need the result, so stop here.
must()
{
	zx "$@"
	if ((rc != 0)); then
		fail "$last: exit status $rc${err:+; stderr: $err}"
		finish
	fi
	ok
}

# kv KEY: the value of a "key value" line of $out (packets, read-state, handle info).
kv()
{
	awk -v k="$1" '$1 == k { print $2; exit }' <<<"$out"
}

# json EXPR: evaluates a Python expression over the JSON document in $TMP/out (as d);
# fails the check (and prints "<invalid JSON>") if stdout is not exactly one document.
json()
{
	"$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$TMP/out" "$1" 2>"$TMP/json-err" ||
		{ echo "<invalid JSON>"; return 1; }
}

# expect_json: the last command printed one JSON object.
expect_json()
{
	if "$PYTHON" -c 'import json, sys; assert isinstance(json.load(open(sys.argv[1])), dict)' \
		"$TMP/out" 2>"$TMP/json-err"; then
		ok
	else
		fail "$last: stdout is not one JSON object: '$out' ($(tail -1 "$TMP/json-err"))"
	fi
}

# page_tables FILE: identity page tables for GPA 0 (CR3 = 0 at the BSP's start, spec §5.1):
# PML4 at 0, PDPT at 0x1000, one PD at 0x2000 mapping the first GiB with 2 MiB pages
# (P | RW | PS). 12 KiB, for `zxvm vmo write VMO FILE`.
page_tables()
{
	"$PYTHON" - >"$1" <<'EOF'
import struct, sys
pt = [0] * (0x3000 // 8)
pt[0] = 0x1000 | 3
pt[0x1000 // 8] = 0x2000 | 3
for i in range(512):
	pt[0x2000 // 8 + i] = (i << 21) | 0x83
sys.stdout.buffer.write(struct.pack("<%dQ" % len(pt), *pt))
EOF
}

finish()
{
	if ((failures)); then
		echo "$failures of $((checks + failures)) checks failed"
		exit 1
	fi
	echo "all $checks checks passed"
	exit 0
}
