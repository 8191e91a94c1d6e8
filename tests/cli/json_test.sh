#!/usr/bin/env bash
# --json: every verb that prints prints exactly one JSON object, with the values the text
# form shows, whether --json comes before the verb or after it. Runs in the named session
# "json-test" (--session) to show the global option too.
source "$(dirname "$0")/lib.sh"
: "${SESSION_BIN:?}"

require_kvm
start_zxvmd
page_tables "$TMP/pt.bin"

# j ARGS...: zxvm --session json-test --json ARGS..., must succeed and print one object.
j()
{
	must --session json-test --json "$@"
	expect_json
}

j session open
expect_eq json-test "$(json 'd["session"]')" "session open: name"
expect_match '^[0-9]+$' "$(json 'd["hypervisor_resource"]')" "session open: resource"

j guest create
guest=$(json 'd["guest"]')
vmar=$(json 'd["vmar"]')
expect_match '^[0-9]+$' "$guest" "guest create: guest"
expect_match '^[0-9]+$' "$vmar" "guest create: vmar"

j vmo create 2M --executable 1
vmo=$(json 'd["vmo"]')

j vmo write "$vmo" "$TMP/pt.bin"
expect_eq 12288 "$(json 'd["bytes"]')" "vmo write: bytes"
j vmo write "$vmo" "$SESSION_BIN" --offset 0x100000
j vmo read "$vmo" --size 8 --offset 0x1000
# The PDPT's first entry: 0x2003, little endian.
expect_eq 0320000000000000 "$(json 'd["hex"]')" "vmo read: hex"
expect_eq 4096 "$(json 'd["offset"]')" "vmo read: offset"
expect_eq 8 "$(json 'd["size"]')" "vmo read: size"

j vmar map "$vmar" "$vmo" --addr 0 --len 2M
expect_eq 0 "$(json 'd["addr"]')" "vmar map: addr"

must --session json-test trap set "$guest" --kind io --addr 0x80 --size 2 --key 9

j vcpu create "$guest" --entry 0x100000
vcpu=$(json 'd["vcpu"]')

j vcpu enter "$vcpu"
expect_eq GUEST_IO "$(json 'd["type"]')" "vcpu enter: type"
expect_eq 9 "$(json 'd["key"]')" "vcpu enter: key"
expect_eq 128 "$(json 'd["port"]')" "vcpu enter: port"
expect_eq 1 "$(json 'd["input"]')" "vcpu enter: input"

j vcpu read-state "$vcpu"
expect_eq 4660 "$(json 'd["rbx"]')" "vcpu read-state: rbx (0x1234)"
expect_eq 17 "$(json 'len(d)')" "vcpu read-state: 16 registers and rflags"

j port create
port=$(json 'd["port"]')
must --session json-test port queue "$port" --key 7 --data 42
j port wait "$port" --timeout 1000
expect_eq USER "$(json 'd["type"]')" "port wait: type"
expect_eq 7 "$(json 'd["key"]')" "port wait: key"
expect_eq 42 "$(json 'd["u64_0"]')" "port wait: first word"

j handle duplicate "$vcpu" --rights 0x4
dup=$(json 'd["handle"]')
j handle info "$dup"
expect_eq vcpu "$(json 'd["type"]')" "handle info: type"
expect_eq 4 "$(json 'd["rights"]')" "handle info: rights of the duplicate"
j handle info "$vcpu"
expect_eq no "$(json 'd["kicked"]')" "handle info: kicked"
j handle replace "$dup" --rights 0
expect_match '^[0-9]+$' "$(json 'd["handle"]')" "handle replace: handle"

j session list
expect_eq '["json-test"]' "$(json '[s["name"] for s in d["sessions"]]')" "session list: names"
expect_eq 1 "$(json 'd["sessions"][0]["vcpus"]')" "session list: VCPUs"

j stats
expect_eq 1 "$(json 'd["guests"]')" "stats: guests"
expect_eq 1 "$(json 'len(d["vcpu"])')" "stats: one VCPU"
expect_eq json-test "$(json 'd["vcpu"][0]["session"]')" "stats: the VCPU's session"
expect_eq 1 "$(json 'd["vcpu"][0]["exits"]["io"]')" "stats: its IO exits"

# --json after the verb works too, for two-word and one-word verbs.
must --session json-test port create --json
expect_json
must stats --json
expect_json

# Verbs that print nothing print nothing with --json as well.
must --session json-test --json handle close "$port"
expect_eq "" "$out" "handle close --json: stdout"

must --session json-test session close
finish
