#!/usr/bin/env bash
# zxvmd at the process level: who may run guests, a client killed inside enter, SIGTERM with
# guests running, and TLS certificates replaced while serving. Each scenario starts its own
# zxvmd (zxvmd-lib.sh) and drives client processes (zxvm-test-client,
# tests/daemon/daemon_client.c). Every wait is a blocking read of a log or client line, or a
# process wait, each with a deadline; nothing polls or sleeps.
#
# Usage: daemon_test.sh [--zxvmd PATH] [--client PATH] SCENARIO...
#   peers          a unix peer that is neither root nor in the admitted group (uid 65534 against
#                  a zxvmd whose --group does not exist) connects, but zx_guest_create fails
#                  ZX_ERR_ACCESS_DENIED and zxvmd logs it; a peer in the group (uid/gid 65534
#                  against --group nogroup) runs guests. Needs root (setpriv).
#   kill-in-enter  a client SIGKILLed while its VCPUs run guest code inside enter: the session
#                  is closed, its VCPUs are kicked (the session is freed only once every enter
#                  returned), and zxvmd's open fds return to their baseline.
#   sigterm        SIGTERM while three clients have VCPUs inside enter: zxvmd exits 0 within 2 s
#                  and every client's enter returns an error status.
#   tls-rotation   zxvmd serves mutual TLS from certificate set 1; its three files are replaced
#                  by set 2 (another CA) by rename: set-2 clients get in, set-1 clients and a
#                  client certificate of CA 1 are refused. A certificate file of garbage and
#                  SIGHUP: the reload is refused and logged, set 2 stays. An in-place rewrite
#                  back to set 1 is picked up; SIGHUP with nothing changed reloads nothing.
# zxvmd is --zxvmd PATH or $ZXVMD; the client --client PATH or $ZXVM_TEST_CLIENT. Exit status 0
# when every check passed, 1 when one failed, 77 when no scenario could run here.
set -u
here=$(dirname "$(readlink -f "$0")")
. "$here/zxvmd-lib.sh"
. "$here/checks.sh"
ZXD_NOTE_PREFIX=daemon_test

client=${ZXVM_TEST_CLIENT:-}
while [ $# -gt 0 ]; do
	case $1 in
	--zxvmd) ZXVMD=$2; shift 2 ;;
	--client) client=$2; shift 2 ;;
	*) break ;;
	esac
done
if [ $# -eq 0 ] || [ -z "$client" ]; then
	echo "usage: daemon_test.sh [--zxvmd PATH] [--client PATH] SCENARIO..." >&2
	exit 2
fi

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "skipped: /dev/kvm is not usable here; zxvmd needs KVM"
	exit 77
fi

passed=0 failed=0 skipped=0
CLIENT_PID=
CLIENT_FD=
TLS_SETS=

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup()
{
	[ "$BASHPID" = "$$" ] || return 0
	[ -n "$CLIENT_PID" ] && kill -KILL "$CLIENT_PID" 2>/dev/null
	zxd_cleanup
	[ -n "$TLS_SETS" ] && rm -rf "$TLS_SETS"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# guest_create_as WHO [RUNNER...]: run `zxvm-test-client guest-create` and check its report.
# Sets RESOURCE and GUEST_CREATE; the client's pid in PEER_PID.
guest_create_as()
{
	local who=$1
	shift
	start_client "$@" -- guest-create
	PEER_PID=$CLIENT_PID
	RESOURCE='' GUEST_CREATE='' VMO_CREATE=
	while client_line 20; do
		case $LINE in
		resource\ *) RESOURCE=${LINE#resource } ;;
		guest_create\ *) GUEST_CREATE=${LINE#guest_create } ;;
		vmo_create\ *) VMO_CREATE=${LINE#vmo_create } ;;
		*) echo "  $who: $LINE" ;;
		esac
	done
	end_client
	ok "$who: zx_vmo_create (connected, no resource needed)" ZX_OK "$VMO_CREATE"
}

# ---- peers ----

scenario_peers()
{
	local nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	local absent=zxvm-test-no-such-group
	if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
		skip "peers: needs root and setpriv to run a client as uid 65534"
		return
	fi
	if getent group "$absent" >/dev/null || ! getent group nogroup >/dev/null; then
		skip "peers: needs group nogroup and no group $absent"
		return
	fi
	if ! "${nobody[@]}" test -x "$client"; then
		skip "peers: uid 65534 cannot run $client (build in a folder others can read)"
		return
	fi

	# Not admitted: zxvmd's group does not exist, so only root may run guests. The socket is
	# made reachable (its mode does not decide admission: SO_PEERCRED does).
	zxd_start unix --group "$absent" || { fail "peers: zxvmd did not start"; return; }
	local sock=${ZXD_TARGET#unix:}
	ok "socket mode" 660 "$(stat -c %a "$sock")"
	chmod 0711 "$ZXD_DIR"
	chmod 0666 "$sock"
	guest_create_as "uid 65534, group $absent" "${nobody[@]}"
	ok "uid 65534: hypervisor resource" 0 "$RESOURCE"
	ok "uid 65534: zx_guest_create" ZX_ERR_ACCESS_DENIED "$GUEST_CREATE"
	if zxd_wait_log "unix peer uid 65534 pid $PEER_PID is not root or in group $absent" 10; then
		ok "zxvmd logged the refused peer" yes yes
	else
		fail "zxvmd logged nothing about uid 65534 pid $PEER_PID (log: $ZXD_LOG)"
	fi
	# A socket the client may not open: connect is refused with ZX_ERR_ACCESS_DENIED (the
	# daemon is there; gRPC alone would only say UNAVAILABLE).
	chmod 0660 "$sock"
	start_client "${nobody[@]}" -- guest-create
	client_line 20 || LINE=
	end_client
	ok "uid 65534, socket mode 0660, not in its group: zxvm_connect" "connect ZX_ERR_ACCESS_DENIED" "$LINE"
	zxd_stop 10
	ok "zxvmd exit status" 0 "$ZXD_RC"
	zxd_cleanup

	# Admitted: --group nogroup, and the client's gid is nogroup's (65534). root is admitted
	# whatever the group.
	zxd_start unix --group nogroup || { fail "peers: zxvmd did not start"; return; }
	sock=${ZXD_TARGET#unix:}
	ok "socket group" nogroup "$(stat -c %G "$sock")"
	chmod 0711 "$ZXD_DIR"
	chmod 0666 "$sock"
	guest_create_as "uid 65534, group nogroup" "${nobody[@]}"
	ok "uid 65534 in nogroup: has a hypervisor resource" yes \
		"$([ "${RESOURCE:-0}" != 0 ] && echo yes || echo "no ($RESOURCE)")"
	ok "uid 65534 in nogroup: zx_guest_create" ZX_OK "$GUEST_CREATE"
	local opened="session [0-9a-f]{8} opened \(ephemeral\) by unix uid 65534 pid $PEER_PID(.*)"
	if zxd_wait_log "$opened" 10; then
		ok "uid 65534 in nogroup: session authorized" "" "${BASH_REMATCH[1]}"
	else
		fail "zxvmd logged no session for uid 65534 pid $PEER_PID"
	fi
	guest_create_as "root"
	ok "root: zx_guest_create" ZX_OK "$GUEST_CREATE"
	zxd_stop 10
	ok "zxvmd exit status" 0 "$ZXD_RC"
	zxd_cleanup
}

# ---- kill-in-enter ----

scenario_kill_in_enter()
{
	# Debug level: zxvmd logs "session X freed" once the session holds no fd and no thread.
	zxd_start unix --log-level debug || { fail "kill-in-enter: zxvmd did not start"; return; }
	# The baseline is taken before any client connected: a client that exits normally is
	# freed before gRPC closes its socket, so no later moment is free of such a socket. The
	# killed client's socket, though, is closed before its session is freed: gRPC sees the
	# EOF first, and the last call of the session releases the connection.
	local base
	base=$(zxd_fd_count)

	start_client -- spin 2
	local pid=$CLIENT_PID tok
	client_line 20
	ok "client: both VCPUs inside enter" "running 2" "$LINE"
	local opened="session ([0-9a-f]{8}) opened \(ephemeral\) by unix uid [0-9]+ pid $pid$"
	if ! zxd_wait_log "$opened" 10; then
		fail "zxvmd logged no session for pid $pid"
		end_client
		return
	fi
	tok=${BASH_REMATCH[1]}
	local during
	during=$(zxd_fd_count)
	ok "zxvmd holds more fds while the guests run" yes \
		"$([ "$during" -gt "$base" ] && echo yes || echo "no ($during, baseline $base)")"

	kill -KILL "$pid"
	end_client
	local closed="session $tok closed \(ephemeral\): [0-9]+ handles, ([0-9]+) guests, ([0-9]+)"
	if zxd_wait_log "$closed" 10; then
		ok "session closed: guests, vcpus released" "2 2" \
			"${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
	else
		fail "zxvmd never logged 'session $tok closed' (log: $ZXD_LOG)"
	fi
	# Freed only after every VCPU thread was joined, i.e. after both enters returned.
	if zxd_wait_log "session $tok freed" 10; then
		ok "zxvmd fds back to the baseline" "$base" "$(zxd_fd_count)"
	else
		fail "session $tok was never freed: a VCPU stayed in enter? (log: $ZXD_LOG)"
	fi
	guest_create_as "after the kill"
	ok "after the kill: zx_guest_create" ZX_OK "$GUEST_CREATE"
	zxd_stop 10
	ok "zxvmd exit status" 0 "$ZXD_RC"
	zxd_cleanup
}

# ---- sigterm ----

scenario_sigterm()
{
	local pids=() fds=() i n=3
	zxd_start unix || { fail "sigterm: zxvmd did not start"; return; }
	for i in $(seq 1 $n); do
		start_client -- spin 2
		pids+=("$CLIENT_PID")
		fds+=("$CLIENT_FD")
		client_line 20
		ok "client $i: both VCPUs inside enter" "running 2" "$LINE"
	done
	zxd_stop 10
	ok "zxvmd exit status" 0 "$ZXD_RC"
	ok "zxvmd stopped within 2 s" yes \
		"$([ "$ZXD_STOP_MS" -le 2000 ] && echo yes || echo "no: $ZXD_STOP_MS ms")"
	echo "     (zxvmd stopped $ZXD_STOP_MS ms after SIGTERM)"
	for i in $(seq 0 $((n - 1))); do
		CLIENT_PID=${pids[$i]} CLIENT_FD=${fds[$i]}
		local errors=0 oks=0
		while client_line 10; do
			case $LINE in
			"enter ZX_OK") oks=$((oks + 1)) ;;
			enter\ ZX_ERR_*) errors=$((errors + 1)) ;;
			esac
		done
		end_client
		ok "client $((i + 1)): enters ended with an error status" "2 errors, 0 ok" \
			"$errors errors, $oks ok"
		ok "client $((i + 1)): exited" 0 "$ZXD_WAITED"
	done
	zxd_cleanup
}

# ---- tls-rotation ----

# tls_client TRUST_DIR CERT_DIR: `zxvm-test-client guest-create` over TLS, trusting the CA of
# TRUST_DIR for the server and presenting the client certificate of CERT_DIR (folders made by
# zxd_make_certs). TLS_RESULT is "connected" or "refused: STATUS".
tls_client()
{
	start_client env ZXVM_TLS_CA="$1/ca.pem" ZXVM_TLS_CERT="$2/client.pem" \
		ZXVM_TLS_KEY="$2/client.key" -- guest-create
	TLS_RESULT="no answer"
	while client_line 20; do
		case $LINE in
		connect\ *) TLS_RESULT="refused: ${LINE#connect }" ;;
		"vmo_create ZX_OK") TLS_RESULT=connected ;;
		vmo_create\ *) TLS_RESULT="connected, but $LINE" ;;
		esac
	done
	end_client
}

# tls_install FROM_DIR TO_DIR: replace TO_DIR's server.pem, server.key and ca.pem with FROM_DIR's,
# each written under a temporary name and renamed over the old one (as deployment tools do).
tls_install()
{
	local f
	for f in server.pem server.key ca.pem; do
		cp "$1/$f" "$2/.$f.new" && mv -f "$2/.$f.new" "$2/$f" || return 1
	done
}

# logged WHAT REGEX: a check that zxvmd logs a line matching REGEX (within 10 s).
logged()
{
	if zxd_wait_log "$2" 10; then
		ok "$1" logged logged
	else
		fail "$1: zxvmd logged no line matching '$2' (log: $ZXD_LOG)"
	fi
}

scenario_tls_rotation()
{
	if ! command -v openssl >/dev/null; then
		skip "tls-rotation: no openssl to make the certificates"
		return
	fi
	TLS_SETS=$(mktemp -d "${TMPDIR:-/tmp}/zxvmd-tls.XXXXXX") || return
	local set1=$TLS_SETS/set1 set2=$TLS_SETS/set2 live=$TLS_SETS/live
	mkdir "$set1" "$set2" "$live"
	if ! zxd_make_certs "$set1" || ! zxd_make_certs "$set2" || ! tls_install "$set1" "$live"
	then
		fail "tls-rotation: openssl could not make the certificates"
		return
	fi
	# zxvmd reads its certificate, key and client CA from live/; every client below names
	# its own files.
	ZXD_CERTS=$live zxd_start tls || { fail "tls-rotation: zxvmd did not start"; return; }

	tls_client "$set1" "$set1"
	ok "set 1 served: set-1 client" connected "$TLS_RESULT"
	tls_client "$set2" "$set2"
	ok "set 1 served: set-2 client" "refused: ZX_ERR_PEER_CLOSED" "$TLS_RESULT"

	# Rotation by rename: the next handshake sees other files and reads them.
	tls_install "$set2" "$live" || fail "tls-rotation: cannot install set 2"
	tls_client "$set2" "$set2"
	ok "set 2 renamed in: set-2 client" connected "$TLS_RESULT"
	logged "set 2 renamed in: reload logged" \
		"<5>TLS certificates reloaded from $live/server.pem"
	tls_client "$set1" "$set1"
	ok "set 2 renamed in: set-1 client" "refused: ZX_ERR_PEER_CLOSED" "$TLS_RESULT"
	# This client trusts the new server certificate: only zxvmd's check of the client
	# certificate (against CA 2 now) can refuse it.
	tls_client "$set2" "$set1"
	ok "set 2 renamed in: client certificate of CA 1" "refused: ZX_ERR_PEER_CLOSED" \
		"$TLS_RESULT"

	# A broken certificate and SIGHUP: no client connects in between, so the read that
	# refuses it is the one SIGHUP asked for.
	echo "not a certificate" >"$live/server.pem"
	kill -HUP "$ZXD_PID"
	logged "garbage certificate + SIGHUP: refusal logged" \
		"<3>TLS reload refused: certificate $live/server.pem: not PEM"
	tls_client "$set2" "$set2"
	ok "garbage certificate: set-2 client (set 2 stays)" connected "$TLS_RESULT"
	tls_client "$set1" "$set1"
	ok "garbage certificate: set-1 client" "refused: ZX_ERR_PEER_CLOSED" "$TLS_RESULT"

	# Back to set 1 by rewriting the same files in place (same inodes): the next handshake
	# sees their new size and time.
	local f
	for f in server.pem server.key ca.pem; do
		cat "$set1/$f" >"$live/$f"
	done
	tls_client "$set1" "$set1"
	ok "set 1 rewritten in place: set-1 client" connected "$TLS_RESULT"
	logged "set 1 rewritten in place: reload logged" \
		"<5>TLS certificates reloaded from $live/server.pem"
	tls_client "$set2" "$set2"
	ok "set 1 rewritten in place: set-2 client" "refused: ZX_ERR_PEER_CLOSED" "$TLS_RESULT"
	kill -HUP "$ZXD_PID"
	logged "SIGHUP, nothing changed: nothing reloaded" \
		"<5>TLS certificate files unchanged: nothing new"

	# Well-formed PEM that gRPC would still refuse: set 2's key with set 1's certificate.
	cat "$set2/server.key" >"$live/server.key"
	kill -HUP "$ZXD_PID"
	logged "key of another certificate + SIGHUP: refusal logged" \
		"<3>TLS reload refused: the key does not belong to the certificate"
	tls_client "$set1" "$set1"
	ok "key of another certificate: set-1 client (set 1 stays)" connected "$TLS_RESULT"

	zxd_stop 10
	ok "zxvmd exit status" 0 "$ZXD_RC"
	zxd_cleanup
	rm -rf "$TLS_SETS"
	TLS_SETS=
}

for s in "$@"; do
	echo "== $s"
	case $s in
	peers) scenario_peers ;;
	kill-in-enter) scenario_kill_in_enter ;;
	sigterm) scenario_sigterm ;;
	tls-rotation) scenario_tls_rotation ;;
	*) fail "unknown scenario '$s'" ;;
	esac
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -gt 0 ] && exit 1
[ "$passed" -eq 0 ] && exit 77
exit 0
