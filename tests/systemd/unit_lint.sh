#!/usr/bin/env bash
# tests/systemd/unit_lint.sh: the shipped systemd files, offline (no systemd as PID 1 needed).
#   - `systemd-analyze verify` prints nothing for zxvmd.service + zxvmd.socket (it exits 0 on
#     unknown keys and bad values, so any output is a failure);
#   - `systemd-analyze security --offline=yes` exposure of zxvmd.service is at most 2.5;
#   - sysusers.d and tmpfiles.d entries apply cleanly to an empty root, and /run/zxvmd gets
#     exactly the owner and mode of the unit's RuntimeDirectory= (else systemd re-owns the
#     directory, and the socket in it, when the service starts);
#   - the socket path is the daemon's and the CLI's default;
#   - /etc/zxvmd/zxvmd.conf documents every option of `zxvmd --help`, and parses when every
#     commented setting is switched on.
# Usage: unit_lint.sh SOURCE_DIR ZXVMD ZXVM
set -euo pipefail

src=${1:?usage: unit_lint.sh SOURCE_DIR ZXVMD ZXVM}
zxvmd=$(realpath "${2:?}")
zxvm=$(realpath "${3:?}")
max_exposure=2.5

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi

T=$(mktemp -d /tmp/zxvm-unit-lint.XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# verify needs an ExecStart= that exists: the built daemon, same arguments.
sed "s#^ExecStart=/usr/sbin/zxvmd #ExecStart=$zxvmd #" "$src/zxvmd.service" >"$T/zxvmd.service"
grep -q "^ExecStart=$zxvmd --config /etc/zxvmd/zxvmd.conf$" "$T/zxvmd.service" ||
	fail "zxvmd.service: ExecStart= is not '/usr/sbin/zxvmd --config /etc/zxvmd/zxvmd.conf'"
cp "$src/packaging/zxvmd.socket" "$T/"
out=$(systemd-analyze verify --man=no "$T/zxvmd.service" "$T/zxvmd.socket" 2>&1) || true
if [ -n "$out" ]; then
	fail "systemd-analyze verify printed:"
	echo "$out"
else
	echo "ok: systemd-analyze verify is silent"
fi

sec=$(systemd-analyze security --offline=yes "$T/zxvmd.service" 2>&1) || true
exposure=$(echo "$sec" | sed -n 's/.*Overall exposure level for zxvmd.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
	fail "systemd-analyze security gave no exposure level:"
	echo "$sec"
elif awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e > m) }'; then
	fail "exposure $exposure > $max_exposure; what is still open:"
	echo "$sec" | grep '✗'
else
	echo "ok: exposure $exposure (at most $max_exposure)"
fi

# The unit's identity and runtime directory, as tmpfiles.d must reproduce them.
key() { sed -n "s/^$1=//p" "$src/zxvmd.service" | tail -n 1; }
user=$(key User)
group=$(key Group)
rtdir=$(key RuntimeDirectory)
rtmode=$(key RuntimeDirectoryMode)
[ "$(key RuntimeDirectoryPreserve)" = yes ] ||
	fail "RuntimeDirectoryPreserve= is not yes: zxvmd.socket's socket lives in /run/$rtdir"

R=$T/root
mkdir -p "$R/etc"
out=$(systemd-sysusers --root="$R" "$src/packaging/zxvmd.sysusers" 2>&1) ||
	fail "systemd-sysusers failed"
echo "$out" | grep -v '^Creating \(group\|user\) ' | grep . && fail "systemd-sysusers complained"
grep -q "^$user:" "$R/etc/passwd" || fail "sysusers.d does not create user $user"
grep -q "^$group:" "$R/etc/group" || fail "sysusers.d does not create group $group"
grep -q "^kvm:" "$R/etc/group" ||
	fail "sysusers.d does not create group kvm (SupplementaryGroups=kvm)"
grep -Eq "^zxvm:[^:]*:[0-9]+:(.*,)?$user(,|$)" "$R/etc/group" ||
	fail "$user is not a member of zxvm (it could not give a socket it creates to that group)"
out=$(systemd-tmpfiles --root="$R" --create "$src/packaging/zxvmd.tmpfiles" 2>&1) ||
	fail "systemd-tmpfiles failed"
[ -z "$out" ] || fail "systemd-tmpfiles printed: $out"
uid=$(awk -F: -v u="$user" '$1 == u { print $3 }' "$R/etc/passwd")
gid=$(awk -F: -v g="$group" '$1 == g { print $3 }' "$R/etc/group")
want="$uid:$gid ${rtmode#0}"
got=$(stat -c '%u:%g %a' "$R/run/$rtdir" 2>/dev/null || echo missing)
if [ "$got" = "$want" ]; then
	echo "ok: tmpfiles.d creates /run/$rtdir as $user:$group $rtmode, like RuntimeDirectory="
else
	fail "/run/$rtdir from tmpfiles.d is '$got', RuntimeDirectory= makes it '$want'"
fi

sock=$(sed -n 's/^ListenStream=//p' "$src/packaging/zxvmd.socket")
[ "$sock" = "/run/$rtdir/zxvmd.sock" ] || fail "ListenStream=$sock is not in /run/$rtdir"
"$zxvmd" --help | grep -q "default unix:$sock" || fail "zxvmd's default socket is not $sock"
"$zxvm" --help | grep -q "unix:$sock" || fail "zxvm's default address is not unix:$sock"
grep -q "^SocketMode=0660$" "$src/packaging/zxvmd.socket" || fail "SocketMode is not 0660"
grep -q "^SocketGroup=zxvm$" "$src/packaging/zxvmd.socket" || fail "SocketGroup is not zxvm"

# Every long option but help/version/config is a documented, commented-out setting.
conf=$src/packaging/zxvmd.conf
for opt in $("$zxvmd" --help | grep -o '^  --[a-z-]*' | sed 's/^  --//'); do
	case $opt in help | version | config) continue ;; esac
	grep -q "^#$opt = " "$conf" || fail "zxvmd.conf has no commented '#$opt = ...' line"
done
if grep -v '^#' "$conf" | grep -q .; then
	fail "zxvmd.conf sets something: every setting must stay commented out (= the default)"
fi
sed -n 's/^#\([a-z-]* = .*\)/\1/p' "$conf" >"$T/all.conf"
if out=$("$zxvmd" --config "$T/all.conf" --version 2>&1); then
	echo "ok: zxvmd.conf documents every option and parses ($(wc -l <"$T/all.conf") settings)"
else
	fail "zxvmd rejects zxvmd.conf with every setting on: $out"
fi

if [ "$failures" -gt 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
