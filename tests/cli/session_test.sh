#!/usr/bin/env bash
# A guest built and run from the shell one zxvm invocation at a time, all in the daemon's
# persistent session "default": each invocation is a new process, so every step proves the
# session kept the handles (and the VCPU's thread binding, spec §2.3) of the ones before.
#
# The guest (tests/cli/session.S) does `in` from port 0x80, writes al to port 0x81, then
# loops writing al + cl to port 0x81. The script answers the `in` with write-state --kind io
# and sets rax/rcx with write-state --set (and from JSON on stdin), and reads each result
# back from the packet of the next exit. Then: kick, stats, session list, session close.
source "$(dirname "$0")/lib.sh"
: "${SESSION_BIN:?}"

require_kvm
start_zxvmd

page_tables "$TMP/pt.bin"

must guest create
read -r guest vmar <<<"$out"
expect_match '^[0-9]+$' "$guest" "guest handle"
expect_match '^[0-9]+$' "$vmar" "guest VMAR handle"

must vmo create 2M --executable 1
vmo=$out

must vmo write "$vmo" "$TMP/pt.bin"
expect_eq 12288 "$out" "bytes written (page tables)"
must vmo write "$vmo" --offset 0x100000 - <"$SESSION_BIN"
expect_eq "$(stat -c %s "$SESSION_BIN")" "$out" "bytes written (guest code from stdin)"

# What was written reads back byte for byte.
zx vmo read "$vmo" --offset 0x100000 --size "$(stat -c %s "$SESSION_BIN")"
expect_rc 0
if cmp -s "$TMP/out" "$SESSION_BIN"; then ok; else fail "vmo read differs from the image"; fi

must vmar map "$vmar" "$vmo" --addr 0 --len 2M
expect_eq 0x0 "$out" "mapped guest-physical address"

must trap set "$guest" --kind io --addr 0x80 --size 2 --key 5

must vcpu create "$guest" --entry 0x100000
vcpu=$out

# Exit 1: `in $0x80, %al`.
must vcpu enter "$vcpu"
expect_eq GUEST_IO "$(kv type)" "packet type"
expect_eq 0x5 "$(kv key)" "trap key"
expect_eq 0x80 "$(kv port)" "port of the in"
expect_eq 1 "$(kv input)" "in is an input"
expect_eq 1 "$(kv access_size)" "access size of the in"

# The VMM's answer to the `in`; the guest echoes it on port 0x81.
must vcpu write-state "$vcpu" --kind io --size 1 --data 0x5a
must vcpu enter "$vcpu"
expect_eq 0x81 "$(kv port)" "port of the out"
expect_eq 0 "$(kv input)" "out is an output"
expect_eq 0x5a "$(kv data)" "the in's value, echoed (write-state --kind io)"

# The registers as the guest left them.
must vcpu read-state "$vcpu"
expect_eq 0x5a "$(kv rax)" "rax after the in"
expect_eq 0x1234 "$(kv rbx)" "rbx set by the guest"
expect_eq 0x0 "$(kv rcx)" "rcx (zero at creation, spec §5.1)"
# Zircon reports only the guest-controllable RFLAGS bits (spec §2.7): not reserved bit 1.
expect_eq 0x0 "$(kv rflags)" "rflags (RFLAGS & X86_FLAGS_USER)"

# write-state --set changes what it names; the guest writes al + cl.
must vcpu write-state "$vcpu" --set rax=0x77 --set rcx=3
must vcpu enter "$vcpu"
expect_eq 0x7a "$(kv data)" "al + cl after --set rax=0x77 --set rcx=3"
must vcpu read-state "$vcpu"
expect_eq 0x1234 "$(kv rbx)" "rbx kept by write-state --set (not named)"

# Registers as a JSON object on stdin.
must vcpu write-state "$vcpu" <<<'{"rax": "0x10", "rcx": 1}'
must vcpu enter "$vcpu"
expect_eq 0x11 "$(kv data)" "al + cl after JSON {rax: 0x10, rcx: 1}"

# A kick is sticky: the next enter returns ZX_ERR_CANCELED without running the guest, the
# one after resumes it (spec §2.4, §2.5).
must vcpu kick "$vcpu"
must handle info "$vcpu"
expect_eq vcpu "$(kv type)" "handle info type"
expect_eq yes "$(kv kicked)" "kick pending in ZX_INFO_VCPU"
zx vcpu enter "$vcpu"
expect_rc 3
expect_match 'ZX_ERR_CANCELED' "$err" "enter after a kick"
must handle info "$vcpu"
expect_eq no "$(kv kicked)" "kick consumed by the enter"
must vcpu enter "$vcpu"
expect_eq 0x12 "$(kv data)" "the guest resumed after the kick"

# Only the creating thread id may enter (spec §2.3); another may kick.
zx --thread 2 vcpu enter "$vcpu"
expect_rc 3
expect_match 'ZX_ERR_BAD_STATE' "$err" "enter from another client thread"

# Five IO exits reached the VMM (in, then four outs); one kick.
must stats
line=$(grep '^vcpu session=default ' <<<"$out")
expect_match ' vpid=1 ' "$line" "stats: the VCPU of session default"
expect_match ' io=5( |$)' "$line" "stats: io exits of the VCPU"
expect_match ' kick=1( |$)' "$line" "stats: kicks of the VCPU"
must --json stats
expect_eq 5 "$(json '[v for v in d["vcpu"] if v["session"] == "default"][0]["exits"]["io"]')" \
	"stats --json: io exits"

must session list
expect_match '^default handles=[0-9]+ guests=1 vcpus=1$' "$out" "session list"

# Closing the session releases everything in it.
must session close
must session list
expect_eq "" "$out" "session list after session close"
must --json stats
expect_eq 0 "$(json 'd["guests"]')" "guests after session close"
expect_eq 0 "$(json 'd["vcpus"]')" "VCPUs after session close"
zx handle info "$vcpu"
expect_rc 3
expect_match 'ZX_ERR_BAD_HANDLE' "$err" "a handle of the closed session (a new one now)"

finish
