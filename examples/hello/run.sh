#!/usr/bin/env bash
# The main job (README): on a fresh Debian 12 machine, install what is needed, build, start
# zxvmd on a private socket (no config needed), and boot the hello guest through it with the
# zxvm CLI. The guest's serial output appears on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
packaging/setup.sh >&2

dir=$(mktemp -d)
daemon=
cleanup() {
	if [ -n "$daemon" ]; then
		kill -TERM "$daemon" 2>/dev/null || true
		wait "$daemon" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

# Start zxvmd and wait for its "ready" line (read from a fifo, no polling).
mkfifo "$dir/log"
build/daemon/zxvmd --listen "unix:$dir/zxvmd.sock" 2>"$dir/log" &
daemon=$!
exec 3<"$dir/log"
while IFS= read -r -t 10 line <&3; do
	echo "zxvmd: $line" >&2
	case "$line" in *" ready") break ;; esac
done
# Keep draining the daemon's log so it never blocks on a full pipe.
cat <&3 >"$dir/zxvmd.log" &

ZXVM_ADDR="unix:$dir/zxvmd.sock" build/cli/zxvm run build/examples/hello/hello.bin --timeout 30
