#!/usr/bin/env bash
# `zxvm run IMAGE`: the examples produce their exact output and exit codes; a flat image at
# another load address and an ELF64 image boot the same; a guest that faults, one that runs
# past --timeout and one interrupted with SIGINT end with 3, 124 and 130, and leave no guest
# behind in the daemon.
source "$(dirname "$0")/lib.sh"
: "${HELLO_BIN:?}" "${ECHO_BIN:?}" "${FAULT_BIN:?}" "${HELLO_ELF:?}" "${SPIN_BIN:?}"

require_kvm
start_zxvmd

# quoted FILE: its bytes as a $'...' string, trailing newlines included.
quoted()
{
	local s
	s=$(cat "$1"; echo .)
	printf '%q' "${s%.}"
}

# expect_stdout TEXT WHAT: the last command's stdout is exactly TEXT (printf format).
expect_stdout()
{
	# shellcheck disable=SC2059
	printf "$1" >"$TMP/want"
	if cmp -s "$TMP/want" "$TMP/out"; then
		ok
	else
		fail "$2: stdout $(quoted "$TMP/out"), expected $(quoted "$TMP/want")"
	fi
}

# No guest or VCPU is left in the daemon (`zxvm stats` counts its own session only).
expect_no_guests()
{
	local saved_last=$last
	must --json stats
	expect_eq 0 "$(json 'd["guests"]')" "guests left after $saved_last"
	expect_eq 0 "$(json 'd["vcpus"]')" "VCPUs left after $saved_last"
}

hello='Hello from a zxvm guest!\n'

zx run "$HELLO_BIN"
expect_rc 0
expect_stdout "$hello" "hello"
expect_eq "" "$err" "stderr of hello (not a terminal: no banner)"

# The hello guest is position independent: load it elsewhere.
zx run "$HELLO_BIN" --load 0x280000 --mem 4M
expect_rc 0
expect_stdout "$hello" "hello loaded at 0x280000"

zx run "$HELLO_ELF" --timeout 10
expect_rc 0
expect_stdout "$hello" "hello as an ELF64 image"

# The echo guest polls the line status before each byte and reads the receive buffer;
# zxvm run answers 0x60 and 0.
zx run "$ECHO_BIN"
expect_rc 7
expect_stdout 'lsr=0x60 rbr=0x00\ncrc32(123456789)=0xcbf43926\n' "echo"

# ud2 with Zircon's initial IDT escalates to a triple fault: an unhandled exit.
zx run "$FAULT_BIN"
expect_rc 3
expect_stdout 'about to execute ud2\n' "fault, before the ud2"
expect_match 'zx_vcpu_enter: ZX_ERR_NOT_SUPPORTED' "$err" "fault: stderr names the status"

zx run "$SPIN_BIN" --timeout 1
expect_rc 124
expect_stdout 'spinning\n' "spin until --timeout"
expect_match 'timed out after 1 s' "$err" "timeout message"
expect_no_guests

# SIGINT while the guest runs: the guest prints a line once it is inside zx_vcpu_enter, the
# script reads that line from a fifo and then sends the signal.
mkfifo "$TMP/spin.fifo"
"$ZXVM" run "$SPIN_BIN" --timeout 30 >"$TMP/spin.fifo" 2>"$TMP/err" &
run_pid=$!
exec {spin_fd}<"$TMP/spin.fifo"
line=
IFS= read -r -t 20 line <&"$spin_fd"
expect_eq spinning "$line" "first line of the spinning guest"
kill -INT "$run_pid"
rc=0
wait "$run_pid" || rc=$?
exec {spin_fd}<&-
err=$(cat "$TMP/err")
last="zxvm run spin.bin (SIGINT)"
expect_rc 130
expect_match 'interrupted; the guest was stopped' "$err" "SIGINT message"
expect_no_guests

finish
