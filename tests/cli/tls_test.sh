#!/usr/bin/env bash
# The CLI over TCP with mutual TLS (zxvm(1), ENVIRONMENT): a private zxvmd on 127.0.0.1 with
# throw-away certificates; `zxvm run` and a persistent session work as over the unix socket,
# and without the client certificate the connection fails with exit 2 naming the address.
source "$(dirname "$0")/lib.sh"
: "${HELLO_BIN:?}"

require_kvm
command -v openssl >/dev/null || skip "no openssl to make the TLS test certificates"
start_zxvmd tls
expect_match '^127\.0\.0\.1:[0-9]+$' "$ZXVM_ADDR" "the daemon's TLS address"

zx run "$HELLO_BIN" --timeout 10
expect_rc 0
expect_eq "Hello from a zxvm guest!" "$out" "hello over TLS"

must --session tls guest create
read -r guest _ <<<"$out"
must --session tls vcpu create "$guest" --entry 0x100000
must --session tls session list
expect_match '^tls handles=[0-9]+ guests=1 vcpus=1$' "$out" "a named session over TLS"
must --json stats
expect_eq 1 "$(json 'd["guests"]')" "stats over TLS: guests"
expect_eq tls "$(json 'd["vcpu"][0]["session"]')" "stats over TLS: the VCPU's session"
must --session tls session close

# The same address without a client certificate: no connection.
ZXVM_TLS_KEY='' zx guest create
expect_rc 2
expect_match "cannot connect to $ZXVM_ADDR" "$err" "TLS without a client key"

finish
