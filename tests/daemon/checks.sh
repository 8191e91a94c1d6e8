# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # LINE is for the caller; client is set by the caller
# Check counters for the scenario scripts (daemon_test.sh, faults/faults_test.sh): each call
# prints one line and counts it in passed / failed / skipped, which the caller sets to 0. Also
# their client process: start it, read its report line by line, end it.

# ok WHAT EXPECTED ACTUAL: one check, printed either way.
ok()
{
	if [ "$2" = "$3" ]; then
		echo "ok   $1: $3"
		passed=$((passed + 1))
	else
		echo "FAIL $1: expected '$2', got '$3'"
		failed=$((failed + 1))
	fi
}

fail()
{
	echo "FAIL $*"
	failed=$((failed + 1))
}

skip()
{
	echo "SKIP $*"
	skipped=$((skipped + 1))
}

# ---- the scenario's client process ($client, set by the caller) ----

# start_client [RUNNER...] -- ARGS...: start $client ARGS (behind RUNNER, e.g. setpriv) with its
# stdout on a fifo read through CLIENT_FD; CLIENT_PID is its pid (RUNNER execs it).
start_client()
{
	local runner=()
	while [ "$1" != -- ]; do
		runner+=("$1")
		shift
	done
	shift
	local fifo
	fifo=$(mktemp -u "$ZXD_DIR/client.XXXXXX")
	mkfifo -m 0600 "$fifo"
	"${runner[@]}" "$client" "$@" >"$fifo" 2>&2 </dev/null &
	CLIENT_PID=$!
	exec {CLIENT_FD}<"$fifo"
	rm -f "$fifo"
}

# client_line SECONDS: the client's next line in LINE (false at EOF or the deadline).
client_line()
{
	LINE=
	IFS= read -r -t "$1" LINE <&"$CLIENT_FD"
}

# end_client [SECONDS]: wait for the client to exit (10 s unless said), kill it after that, and
# close its output.
# shellcheck disable=SC2120 # SECONDS is optional
end_client()
{
	zxd_wait_pid "$CLIENT_PID" "${1:-10}"
	[ "$ZXD_WAITED" = 124 ] && kill -KILL "$CLIENT_PID" 2>/dev/null
	exec {CLIENT_FD}<&-
	CLIENT_PID=
}
