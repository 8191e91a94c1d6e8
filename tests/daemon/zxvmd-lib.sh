# shellcheck shell=bash
# shellcheck disable=SC2034 # the ZXD_* results are for the scripts that source this file
# Start, watch and stop a private zxvmd for a test (sourced by with-zxvmd.sh and daemon_test.sh).
#
# zxd_start MODE [FLAGS...] starts $ZXVMD on a socket in a fresh temporary directory (MODE unix)
# or on 127.0.0.1:0 with mutual TLS and throw-away certificates (MODE tls; with ZXD_CERTS set,
# the server.pem, server.key and ca.pem of that folder instead), and returns once it logged
# "ready". Its stderr goes to a file; `tail -f` of that file is the event stream the caller
# reads lines from (zxd_wait_log), so the daemon never blocks on a full pipe and no test
# polls: every wait is a blocking read with a deadline. zxd_stop sends SIGTERM and waits for
# the exit with a deadline; zxd_cleanup (run from the caller's EXIT trap) kills whatever is left
# and removes the directory.
#
# After zxd_start: ZXD_DIR, ZXD_PID, ZXD_LOG (the file), ZXD_TARGET, and the exported client
# environment: ZXVM_TEST_TARGET, ZXVM_ADDR, and for tls ZXVM_TLS_CA, ZXVM_TLS_CERT,
# ZXVM_TLS_KEY, ZXVM_TLS_SERVER_NAME.

ZXD_DIR=
ZXD_PID=
ZXD_TAIL_PID=
ZXD_EVENTS=
ZXD_LOG=
ZXD_TARGET=
ZXD_LINE=       # the line zxd_wait_log matched
ZXD_RC=         # zxvmd's exit status, after zxd_stop
ZXD_STOP_MS=    # how long zxd_stop waited for the exit

zxd_note()
{
	echo "${ZXD_NOTE_PREFIX:-zxvmd-test}: $*" >&2
}

zxd_now_ms()
{
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# A throw-away CA, a server certificate for localhost/127.0.0.1 and a client certificate, all
# with P-256 keys, in DIR.
zxd_make_certs()
{
	local d=$1
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
		-subj "/CN=zxvm test CA" >/dev/null 2>&1 || return 1
	printf '%s\n' "subjectAltName = DNS:localhost, IP:127.0.0.1" \
		"extendedKeyUsage = serverAuth" >"$d/server.ext"
	printf '%s\n' "extendedKeyUsage = clientAuth" >"$d/client.ext"
	local who
	for who in server client; do
		openssl req -new "${ec[@]}" -keyout "$d/$who.key" -out "$d/$who.csr" \
			-subj "/CN=zxvm-test-$who" >/dev/null 2>&1 || return 1
		openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
			-CAcreateserial -days 2 -extfile "$d/$who.ext" -out "$d/$who.pem" \
			>/dev/null 2>&1 || return 1
	done
}

# zxd_wait_log REGEX SECONDS: read the daemon's log until a line matches REGEX (bash =~, the
# groups land in BASH_REMATCH); the line is in ZXD_LINE. Fails at the deadline or when zxvmd
# is gone.
zxd_wait_log()
{
	local re=$1 until=$(($(zxd_now_ms) + $2 * 1000)) left line
	while :; do
		left=$((until - $(zxd_now_ms)))
		[ "$left" -gt 0 ] || return 1
		IFS= read -r -t "$((left / 1000)).$(printf %03d $((left % 1000)))" line \
			<&"$ZXD_EVENTS" || return 1
		[ -n "${ZXD_VERBOSE:-}" ] && echo "  zxvmd| $line" >&2
		if [[ $line =~ $re ]]; then
			ZXD_LINE=$line
			return 0
		fi
	done
}

# zxd_wait_pid PID SECONDS: wait for a child to exit, at most SECONDS; its status in ZXD_WAITED
# (124 when the deadline passed first: the child is then still running).
zxd_wait_pid()
{
	local pid=$1 timer which rc=0
	# Already gone (bash reaped it and kept its status): wait -n would not find it.
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || rc=$?
		ZXD_WAITED=$rc
		return 0
	fi
	sleep "$2" >/dev/null 2>&1 &
	timer=$!
	wait -n -p which "$pid" "$timer" 2>/dev/null || rc=$?
	ZXD_WAITED=124
	if [ "${which:-}" = "$pid" ]; then
		ZXD_WAITED=$rc
		# SIGKILL: a timer still between fork and exec runs no trap of ours.
		kill -KILL "$timer" 2>/dev/null
		wait "$timer" 2>/dev/null
	fi
	return 0
}

# zxd_start MODE [FLAGS...]: MODE unix or tls; FLAGS go to zxvmd as they are.
zxd_start()
{
	local mode=$1
	shift
	local zxvmd=${ZXVMD:-}
	if [ -z "$zxvmd" ] || [ ! -x "$zxvmd" ]; then
		zxd_note "no zxvmd (set ZXVMD or pass --zxvmd PATH): '$zxvmd'"
		return 1
	fi
	ZXD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/zxvmd-test.XXXXXX") || return 1
	ZXD_LOG=$ZXD_DIR/zxvmd.log
	local listen
	case $mode in
	unix)
		listen=(--listen "unix:$ZXD_DIR/zxvmd.sock")
		ZXD_TARGET=unix:$ZXD_DIR/zxvmd.sock
		;;
	tls)
		local certs=${ZXD_CERTS:-$ZXD_DIR}
		if [ -z "${ZXD_CERTS:-}" ] && ! zxd_make_certs "$ZXD_DIR"; then
			zxd_note "openssl could not make the test certificates"
			return 1
		fi
		listen=(--listen 127.0.0.1:0 --tls-cert "$certs/server.pem"
			--tls-key "$certs/server.key" --tls-client-ca "$certs/ca.pem")
		export ZXVM_TLS_CA=$certs/ca.pem ZXVM_TLS_CERT=$certs/client.pem
		# No ZXVM_TLS_SERVER_NAME: the client checks the certificate against 127.0.0.1 (IP SAN).
		export ZXVM_TLS_KEY=$certs/client.key
		;;
	*)
		zxd_note "unknown mode '$mode' (unix or tls)"
		return 1
		;;
	esac
	: >"$ZXD_LOG"
	"$zxvmd" "${listen[@]}" "$@" </dev/null >/dev/null 2>>"$ZXD_LOG" &
	ZXD_PID=$!
	# The event stream: tail ends (EOF for the reader) once zxvmd is gone.
	exec {ZXD_EVENTS}< <(exec tail -n +1 -f --pid="$ZXD_PID" "$ZXD_LOG" 2>/dev/null)
	ZXD_TAIL_PID=$!
	local port=
	while zxd_wait_log '(listening on .* port ([0-9]+))|( ready$)' 10; do
		[ -n "${BASH_REMATCH[2]}" ] && port=${BASH_REMATCH[2]}
		if [ -n "${BASH_REMATCH[3]}" ]; then
			if [ "$mode" = tls ]; then
				[ -n "$port" ] || break
				ZXD_TARGET=127.0.0.1:$port
			fi
			export ZXVM_TEST_TARGET=$ZXD_TARGET ZXVM_ADDR=$ZXD_TARGET
			return 0
		fi
	done
	zxd_note "zxvmd did not get ready (within 10 s); its log:"
	sed 's/^/  /' "$ZXD_LOG" >&2
	return 1
}

# zxd_stop [SECONDS]: SIGTERM, then wait for the exit (default 10 s, then SIGKILL). ZXD_RC is
# its status (124 when it had to be killed), ZXD_STOP_MS how long it took.
zxd_stop()
{
	local t0
	ZXD_RC=
	[ -n "$ZXD_PID" ] || return 1
	t0=$(zxd_now_ms)
	kill -TERM "$ZXD_PID" 2>/dev/null
	zxd_wait_pid "$ZXD_PID" "${1:-10}"
	ZXD_STOP_MS=$(($(zxd_now_ms) - t0))
	ZXD_RC=$ZXD_WAITED
	if [ "$ZXD_RC" = 124 ]; then
		kill -KILL "$ZXD_PID" 2>/dev/null
		wait "$ZXD_PID" 2>/dev/null
	fi
	ZXD_PID=
	zxd_close_events
	[ "$ZXD_RC" = 0 ]
}

zxd_close_events()
{
	if [ -n "$ZXD_TAIL_PID" ]; then
		kill "$ZXD_TAIL_PID" 2>/dev/null
		wait "$ZXD_TAIL_PID" 2>/dev/null
		ZXD_TAIL_PID=
	fi
	if [ -n "$ZXD_EVENTS" ]; then
		exec {ZXD_EVENTS}<&-
		ZXD_EVENTS=
	fi
}

zxd_cleanup()
{
	# Only the shell that started zxvmd cleans up, never a subshell that inherited the trap.
	[ "$BASHPID" = "$$" ] || return 0
	if [ -n "$ZXD_PID" ]; then
		kill -KILL "$ZXD_PID" 2>/dev/null
		wait "$ZXD_PID" 2>/dev/null
		ZXD_PID=
	fi
	zxd_close_events
	[ -n "$ZXD_DIR" ] && rm -rf "$ZXD_DIR"
	ZXD_DIR=
}

# Count zxvmd's open file descriptors, but for files under /proc: a sanitizer runtime reads
# /proc/self/maps from a thread of its own at any time (ThreadSanitizer does).
zxd_fd_count()
{
	local fd n=0
	for fd in /proc/"$ZXD_PID"/fd/*; do
		case $(readlink "$fd") in
		/proc/*) ;;
		*) n=$((n + 1)) ;;
		esac
	done
	echo "$n"
}
