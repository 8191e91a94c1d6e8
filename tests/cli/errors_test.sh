#!/usr/bin/env bash
# Every kind of failure ends with its documented exit status and a message on stderr that
# says what was wrong (zxvm(1), EXIT STATUS): 1 usage, 2 no daemon (naming the address),
# 3 a failed call (naming the ZX status). Nothing goes to stdout on failure.
source "$(dirname "$0")/lib.sh"

require_kvm
start_zxvmd

# usage WHAT REGEX ARGS...: exit 1, stderr matches REGEX, stdout empty.
usage()
{
	local what=$1 regex=$2
	shift 2
	zx "$@"
	expect_rc 1
	expect_match "$regex" "$err" "$what: stderr"
	expect_match "Try 'zxvm.*--help'" "$err" "$what: points to --help"
	expect_eq "" "$out" "$what: stdout"
}

# `zxvm` alone prints the help to stderr (no "Try" line: it is the help).
zx
expect_rc 1
expect_match 'Usage: zxvm' "$err" "no verb: the help on stderr"
expect_eq "" "$out" "no verb: stdout"

usage "unknown verb" "unknown verb 'frob'" frob
usage "unknown verb of a noun" "unknown verb 'vcpu frob'" vcpu frob
usage "unknown global option" "unknown option '--bogus'" --bogus stats
usage "missing positional" 'zxvm vmo create: missing SIZE' vmo create
usage "missing second positional" 'zxvm vmar map: missing VMO' vmar map 1
usage "missing required option" 'zxvm vcpu create: missing --entry' vcpu create 1
usage "missing --size" 'zxvm vmo read: missing --size' vmo read 1
usage "bad number" "SIZE: expected a number, got '12x'" vmo create 12x
usage "negative number" "VCPU: expected a number, got '-1'" vcpu enter -1
usage "number too large" "expected a number" vmo create 99999999999999999999999
usage "option without its value" '--options needs a value' vmo create 2M --options
usage "bad --kind" '--kind: io, mem or bell' trap set 1 --kind pio --addr 0 --size 1
usage "bad --perm" "--perm: use letters r, w and x" vmar map 1 2 --len 4K --perm rwz
usage "bad --set" "--set: expected REG=VALUE" vcpu write-state 1 --set rax
usage "unknown register" "unknown register 'rip'" vcpu write-state 1 --set rip=0
usage "bad JSON registers" 'stdin: expected a JSON object' vcpu write-state 1 </dev/null
usage "global option without its value" '--addr needs a value' --addr
usage "bad session name" "session name 'a/b'" --session a/b guest create
usage "empty session name" "session name ''" session open ''
usage "thread 0" '--thread: 0 is not a thread id' --thread 0 stats
usage "run without image" 'zxvm run: missing IMAGE' run
usage "run with two images" "one IMAGE only" run a b
usage "run --mem" '--mem: a multiple of 2M' run "$0" --mem 3M
usage "run unknown option" "unknown option '--bogus'" run "$0" --bogus

zx run "$TMP/no-such-image"
expect_rc 1
expect_match 'no-such-image: No such file or directory' "$err" "run of a missing file"

# A shell script is neither ELF nor small enough to be wrong as a flat image; a file with
# ELF's magic but not an x86-64 ELF64 is refused before anything runs.
printf '\177ELF\001\001\001' >"$TMP/elf32"
zx run "$TMP/elf32"
expect_rc 1
expect_match 'not an ELF64 little-endian x86-64 image' "$err" "run of a 32-bit ELF"

# No daemon: exit 2, the message names the address tried.
ZXVM_ADDR=unix:/nonexistent zx guest create
expect_rc 2
expect_match 'cannot connect to unix:/nonexistent' "$err" "no daemon (\$ZXVM_ADDR)"
expect_eq "" "$out" "no daemon: stdout"
zx --addr unix:/nonexistent/zxvmd.sock stats
expect_rc 2
expect_match 'cannot connect to unix:/nonexistent/zxvmd.sock' "$err" "no daemon (--addr)"
ZXVM_ADDR=unix:/nonexistent zx run "$0"
expect_rc 2
expect_match 'cannot connect to unix:/nonexistent' "$err" "no daemon (run)"

# Failed calls: exit 3, the message names the call and the status.
zx handle close 12345
expect_rc 3
expect_match '^zxvm: handle close: ZX_ERR_BAD_HANDLE$' "$err" "bad handle"
expect_eq "" "$out" "bad handle: stdout"
zx vcpu enter 12345
expect_rc 3
expect_match 'ZX_ERR_BAD_HANDLE' "$err" "enter of a bad handle"
zx vcpu read-state 0
expect_rc 3
expect_match 'ZX_ERR_BAD_HANDLE' "$err" "read-state of ZX_HANDLE_INVALID"

must port create
port=$out
zx vcpu enter "$port"
expect_rc 3
expect_match 'ZX_ERR_WRONG_TYPE' "$err" "enter of a port"
zx port wait "$port" --timeout 10
expect_rc 3
expect_match 'port wait: ZX_ERR_TIMED_OUT' "$err" "wait on an empty port"
zx vmo create 2M --options 1
expect_rc 3
expect_match 'ZX_ERR_INVALID_ARGS' "$err" "vmo create with bad options"

must guest create
read -r guest _ <<<"$out"
zx trap set "$guest" --kind bell --addr 0x10000000 --size 4K
expect_rc 3
expect_match 'trap set: ZX_ERR_' "$err" "bell trap without a port"
must vcpu create "$guest" --entry 0x100000
vcpu=$out
zx vcpu interrupt "$vcpu" 300
expect_rc 3
expect_match 'ZX_ERR_OUT_OF_RANGE' "$err" "interrupt vector 300"
zx vcpu create "$guest" --entry 0x100000
expect_rc 3
expect_match 'ZX_ERR_BAD_STATE' "$err" "a second VCPU on the same client thread"
must handle replace "$vcpu" --rights 0x4
ro=$out
zx vcpu enter "$ro"
expect_rc 3
expect_match 'ZX_ERR_ACCESS_DENIED' "$err" "enter without ZX_RIGHT_EXECUTE"
zx handle info "$vcpu"
expect_rc 3
expect_match 'ZX_ERR_BAD_HANDLE' "$err" "a replaced handle is gone"

finish
