#!/usr/bin/env bash
# tests/systemd/nspawn_test.sh: zxvmd as a packaged systemd service, for real. Builds the
# .debs of this tree, boots systemd 252 as PID 1 in systemd-nspawn on a Debian 12 rootfs
# (debootstrapped once and cached; each run gets a throw-away overlay of it), installs the
# packages with apt and checks, inside:
#   install   users/groups from sysusers.d, /run/zxvmd from tmpfiles.d, zxvmd.socket active,
#             zxvmd.service not started, socket root:zxvm 0660
#   activate  the first connection starts zxvmd.service; `zxvm run hello.bin` by a member of
#             zxvm works through it; the daemon runs as zxvmd with groups kvm and zxvm, no
#             capabilities, no_new_privs and seccomp, and the socket keeps its owner
#   programs  a program built against libzxvm-dev (find_package and pkg-config) creates a
#             guest; the API test programs of the build pass through the sandboxed daemon
#   refuse    a user outside zxvm cannot connect (exit 2); one removed from zxvm whose login
#             still carries the group gets ZX_ERR_ACCESS_DENIED from zx_guest_create (exit 3)
#   own sock  a unix socket zxvmd creates itself (listen = unix:...) is zxvmd:zxvm 0660
#   journal   "session ... opened ... by unix uid" lines, and the refusal
#   stop      `systemctl stop zxvmd` with a guest spinning in zx_vcpu_enter: the daemon sends
#             STOPPING=1, kicks the VCPU (the client gets an answer), closes the sessions
#             and exits 0; the next connection starts it again
#   watchdog  SIGSTOP on the daemon: systemd aborts it after WatchdogSec and restarts it
#   purge     `apt-get purge` leaves no file, unit, enablement, runtime directory or process;
#             user zxvmd and group zxvm stay (packaging/debian/zxvmd.postrm says why)
#
# Usage: nspawn_test.sh SOURCE_DIR CACHE_DIR HELLO_BIN [API_TEST_PROGRAM...]
# CACHE_DIR keeps the rootfs, the package build directory and the .debs between runs.
# Exit 77 (skip) only when systemd-nspawn/debootstrap cannot be installed, the rootfs cannot
# be fetched, or the container cannot boot here. Needs root and /dev/kvm.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (systemd-nspawn, mount)"
	exit 77
fi
src=$(realpath "${1:?usage: nspawn_test.sh SOURCE_DIR CACHE_DIR HELLO_BIN [PROGRAM...]}")
mkdir -p "${2:?}"
cache=$(realpath "$2")
hello=$(realpath "${3:?}")
shift 3
programs=("$@")

t0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '[%5ss] %s\n' "$(since "$t0")" "$*"; }
skip() {
	echo "SKIP: $*"
	exit 77
}

W=$(mktemp -d /var/tmp/zxvm-nspawn.XXXXXX)
NSPAWN_PID=
drain=
L=
mounted=0
# Nothing here polls: each wait below blocks on the event itself (a child's exit, a pidfd, a
# line on a pipe, the journal) and has a deadline.
#
# A child of ours that exited is a zombie until waited for: kill -0 would still succeed.
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st:0:1}" != Z ]
}
# wait_child SECONDS PID: wait for our child PID to end, at most SECONDS (a timer job is the
# deadline); 1 if it still runs then. PID is reaped: forget it after 0.
wait_child() {
	local timer ended=
	sleep "$1" &
	timer=$!
	wait -n -p ended "$2" "$timer" 2>/dev/null
	kill "$timer" 2>/dev/null
	wait "$timer" 2>/dev/null
	[ "$ended" = "$2" ]
}
# gone SECONDS PID...: wait until the processes PID..., not children of ours, have exited, at
# most SECONDS. A pidfd (pidfd_open is system call 434) becomes readable when its process exits.
gone() {
	perl -e '
		my $end = time + shift;
		for my $pid (@ARGV) {
			my $fd = syscall(434, $pid + 0, 0);
			next if $fd < 0;	# no such process: gone already
			my $rin = "";
			vec($rin, $fd, 1) = 1;
			my $left = $end - time;
			select($rin, undef, undef, $left > 0 ? $left : 0) > 0 or exit 1;
		}' "$@"
}
# read_until FD SECONDS FILE [PATTERN]: append the lines read from FD to FILE until one matches
# the glob PATTERN (0), the end of FD (0 without PATTERN, else 1) or SECONDS have passed (1).
read_until() {
	local fd=$1 end=$((${EPOCHREALTIME/./} + $2 * 1000000)) file=$3 line left frac rc
	while :; do
		left=$((end - ${EPOCHREALTIME/./}))
		[ "$left" -gt 0 ] || return 1
		printf -v frac %06d $((left % 1000000))
		rc=0
		IFS= read -r -t "$((left / 1000000)).$frac" -u "$fd" line || rc=$?
		if [ "$rc" = 0 ] || [ -n "$line" ]; then
			printf '%s\n' "$line" >>"$file"
		fi
		# shellcheck disable=SC2053 # PATTERN is a glob
		if [ $# -gt 3 ] && [[ $line == $4 ]]; then
			return 0
		fi
		# The end of FD; a timeout (rc > 128) ends at the top of the loop.
		if [ "$rc" != 0 ] && [ "$rc" -le 128 ]; then
			return $(($# > 3))
		fi
	done
}
cleanup() {
	set +e
	if [ -n "$NSPAWN_PID" ] && alive "$NSPAWN_PID"; then
		# nspawn turns SIGTERM into a clean poweroff of the container.
		kill -TERM "$NSPAWN_PID"
		wait_child 10 "$NSPAWN_PID" || kill -KILL "$NSPAWN_PID" 2>/dev/null
	fi
	[ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
	# The rest of the console, after nspawn: nobody reads it any more.
	[ -n "$drain" ] && { kill "$drain" 2>/dev/null; wait "$drain" 2>/dev/null; }
	[ "$mounted" = 1 ] && { umount "$W/root" || umount -l "$W/root"; }
	rm -rf "$W"
	[ -n "$L" ] && rm -f "$last"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
# expect WHAT COMMAND...: a check that must hold; the test goes on either way.
expect() {
	local what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		fail "$what"
	fi
}

[ -c /dev/kvm ] || skip "no /dev/kvm"

# A run killed without its trap (ctest's timeout kills with SIGKILL) leaves its overlay
# mounted, and maybe its container: end those now, by what that run recorded.
last=$cache/last-run
if read -r old_nspawn old_leader old_w 2>/dev/null <"$last"; then
	if [ "$(ps -o ppid= -p "$old_leader" 2>/dev/null | tr -d ' ')" = "$old_nspawn" ]; then
		kill -KILL "$old_leader" "$old_nspawn" 2>/dev/null || true
		gone 10 "$old_leader" "$old_nspawn" ||
			echo "note: the container of an earlier run is still there"
	fi
	case $old_w in
	/var/tmp/zxvm-nspawn.*)
		mountpoint -q "$old_w/root" && umount -l "$old_w/root"
		rm -rf "$old_w"
		;;
	esac
	rm -f "$last"
fi

step "host tools"
need=()
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" \
		>"$W/apt-host.log" 2>&1 ||
		skip "cannot install ${need[*]}: $(tail -n 1 "$W/apt-host.log")"
fi
need=()
command -v dh >/dev/null || need+=(debhelper)
command -v dpkg-buildpackage >/dev/null || need+=(dpkg-dev)
command -v rsync >/dev/null || need+=(rsync)
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" \
		>"$W/apt-host.log" 2>&1 || { tail "$W/apt-host.log"; exit 1; }
fi

step "build the .debs (packaging/build-debs.sh)"
DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}" \
	"$src/packaging/build-debs.sh" "$cache/debs" "$cache/debwork" >"$W/build-debs.log" 2>&1 ||
	{ cat "$W/build-debs.log"; exit 1; }
version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
debs=()
for p in zxvmd zxvm libzxvm0 libzxvm-dev; do
	debs+=("$cache/debs/${p}_${version}_amd64.deb")
done

step "libzxvm-dev: a program built against the package (find_package, pkg-config)"
dev=$W/devroot
mkdir -p "$dev"
for p in libzxvm0 libzxvm-dev; do
	dpkg-deb -x "$cache/debs/${p}_${version}_amd64.deb" "$dev"
done
libdir=$(dirname "$(find "$dev/usr/lib" -name libzxvm.so | head -n 1)")
if cmake -S "$src/tests/systemd/consumer" -B "$W/consumer" -DCMAKE_PREFIX_PATH="$dev/usr" \
	>"$W/consumer.log" 2>&1 && cmake --build "$W/consumer" >>"$W/consumer.log" 2>&1; then
	out=$(LD_LIBRARY_PATH=$libdir "$W/consumer/consumer" --offline)
	expect "find_package(zxvm) consumer links and runs" test "$out" = ZX_ERR_ACCESS_DENIED
else
	cat "$W/consumer.log"
	fail "find_package(zxvm) consumer does not build"
fi
pc() { PKG_CONFIG_LIBDIR=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dev pkg-config "$@"; }
if cc -std=c99 -pedantic-errors -Wall -Werror -o "$W/consumer-pc" \
	"$src/tests/systemd/consumer/consumer.c" $(pc --cflags --libs zxvm) \
	2>"$W/consumer-pc.log"; then
	out=$(LD_LIBRARY_PATH=$libdir "$W/consumer-pc" --offline)
	expect "pkg-config zxvm $(pc --modversion zxvm) consumer links and runs" \
		test "$out" = ZX_ERR_ACCESS_DENIED
else
	cat "$W/consumer-pc.log"
	fail "pkg-config consumer does not build"
fi

# The base rootfs: systemd plus the packages' run-time dependencies, so that apt needs no
# network at install time. Rebuilt when this list changes.
include=systemd,systemd-sysv,dbus,procps,libgrpc29,libprotobuf-c1,libuv1
base=$cache/rootfs-bookworm
if [ "$(cat "$base.stamp" 2>/dev/null)" != "$include" ] ||
	[ ! -x "$base/lib/systemd/systemd" ]; then
	step "debootstrap Debian 12 (minbase + $include) into $base"
	rm -rf "$base" "$base.tmp" "$base.stamp"
	debootstrap --variant=minbase --include="$include" bookworm "$base.tmp" \
		>"$W/debootstrap.log" 2>&1 ||
		skip "debootstrap failed: $(tail -n 2 "$W/debootstrap.log")"
	rm -rf "$base.tmp/var/cache/apt/archives"/*.deb
	mv "$base.tmp" "$base"
	echo "$include" >"$base.stamp"
fi

step "boot systemd in systemd-nspawn (overlay on the cached rootfs)"
mkdir -p "$W/upper" "$W/work" "$W/root"
if mount -t overlay overlay -o "lowerdir=$base,upperdir=$W/upper,workdir=$W/work" "$W/root"; then
	mounted=1
else
	cp -a "$base/." "$W/root/"
fi
mkdir -p "$W/root/opt/zxvm-test"
cp "${debs[@]}" "$hello" "$W/root/opt/zxvm-test/"
[ -x "$W/consumer/consumer" ] && cp "$W/consumer/consumer" "$W/root/opt/zxvm-test/"
# A guest that says "s" on the serial port, then spins in the guest (pause; jmp) with no exit.
printf '\x66\xba\xf8\x03\xb0\x73\xee\xb0\x0a\xee\xf3\x90\xeb\xfc' >"$W/root/opt/zxvm-test/spin.bin"
chmod -R a+rX "$W/root/opt/zxvm-test"
# The event that the container's systemd is up and running units: a unit of the boot says so on
# the console, which nspawn copies to its stdout, a pipe read here (nspawn ending ends it too).
units=$W/root/etc/systemd/system
mkdir -p "$units/multi-user.target.wants"
cat >"$units/zxvm-test-boot.service" <<'EOF'
[Unit]
Description=zxvm test: tell the host on the console that systemd runs units

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "zxvm-test: booted" >/dev/console'
EOF
ln -s ../zxvm-test-boot.service "$units/multi-user.target.wants/"
mkfifo "$W/console"
# --register=no --keep-unit: the host has no systemd/machined to register with (notes).
systemd-nspawn -D "$W/root" -M "zxvmtest$$" -b --register=no --keep-unit --console=read-only \
	>"$W/console" 2>&1 &
NSPAWN_PID=$!
exec {console}<"$W/console"
booted=0
read_until "$console" 60 "$W/nspawn.log" '*zxvm-test: booted*' && booted=1
# Keep reading the console, or nspawn blocks on a full pipe.
cat <&"$console" >>"$W/nspawn.log" 2>/dev/null &
drain=$!
exec {console}<&-
# The container's PID 1 is nspawn's child named systemd (not its short-lived helper).
[ "$booted" = 1 ] && L=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
[ -n "$L" ] && [ -S "/proc/$L/root/run/systemd/private" ] ||
	skip "systemd-nspawn did not boot: $(tail -n 5 "$W/nspawn.log")"
echo "$NSPAWN_PID $L $W" >"$last"
C() { nsenter -t "$L" -a -- "$@"; }
state=$(C timeout 120 systemctl is-system-running --wait 2>&1 || true)
case $state in
running | degraded) ;;
*) skip "the container did not come up ($state): $(tail -n 5 "$W/nspawn.log")" ;;
esac
step "container is $state"
CR=/proc/$L/root
cursor() { C journalctl -q -n 0 --show-cursor | sed -n 's/^-- cursor: //p'; }
# journal SECONDS CURSOR: the journal entries of zxvmd.service (systemd's about it included)
# after CURSOR, then the new ones as they come, for SECONDS. journalctl -f also ends when its
# reader does; timeout runs inside, so that the journalctl it ends closes the pipe.
journal() {
	C timeout "$1" journalctl -f -n all -q --no-pager -o cat -u zxvmd.service \
		--after-cursor="$2"
}
# All of it: some of systemd's lines about the unit (the watchdog's) do not match -u.
journal_all() { C timeout "$1" journalctl -f -n all -q --no-pager -o cat --after-cursor="$2"; }
# seen ERE...: read lines until every ERE has matched one; 1, naming the others, at the end.
seen() {
	local line i
	local -a want=("$@")
	while IFS= read -r line; do
		for i in "${!want[@]}"; do
			if [[ $line =~ ${want[i]} ]]; then
				unset "want[i]"
			fi
		done
		[ ${#want[@]} -gt 0 ] || return 0
	done
	printf 'not in the journal: %s\n' "${want[@]}"
	return 1
}
# logged [-t SECONDS] journal|journal_all CURSOR ERE...: every ERE is in the journal after
# CURSOR within SECONDS (10). journald reads the daemon's stderr asynchronously, so follow
# the journal until the last one comes.
logged() {
	local t=10 src cur
	if [ "$1" = -t ]; then
		t=$2
		shift 2
	fi
	src=$1
	cur=$2
	shift 2
	"$src" "$t" "$cur" | seen "$@"
	return "${PIPESTATUS[1]}"
}
unit() { C systemctl show -P "$1" zxvmd.service; }

step "install: apt-get install ${debs[*]##*/}"
in_ct=()
for d in "${debs[@]}"; do
	in_ct+=("/opt/zxvm-test/${d##*/}")
done
apt_install() {
	C env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		-o Dpkg::Options::=--force-unsafe-io "${in_ct[@]}" >"$W/apt-install.log" 2>&1
}
if ! apt_install; then
	# A run-time dependency the cached rootfs lacks: fetch it (and add it to $include).
	echo "note: apt needs the network:" \
		"$(grep -m1 -i 'depends\|unable' "$W/apt-install.log" || true)"
	C apt-get update -q >/dev/null 2>&1 || true
	apt_install || { cat "$W/apt-install.log"; exit 1; }
fi
expect "user zxvmd in group zxvm, groups kvm and zxvm exist" \
	C sh -c 'id -nG zxvmd | grep -qw zxvm && getent group kvm >/dev/null'
expect "zxvmd.socket is enabled and active" \
	C sh -c 'systemctl -q is-enabled zxvmd.socket && systemctl -q is-active zxvmd.socket'
expect "zxvmd.service is not started by the install" test "$(unit ActiveState)" = inactive
expect "socket root:zxvm 0660 in /run/zxvmd zxvmd:zxvmd 0755" \
	test "$(C stat -c '%U:%G %a' /run/zxvmd/zxvmd.sock /run/zxvmd | tr '\n' ' ')" = \
	"root:zxvm 660 zxvmd:zxvmd 755 "

# The container's /dev is its own tmpfs: a node of its own, so the host's stays untouched.
C sh -c 'rm -f /dev/kvm && mknod -m 0660 /dev/kvm c 10 232 && chgrp kvm /dev/kvm'
C useradd -m -G zxvm alice
C useradd -m bob
C useradd -m carol
alice_uid=$(C id -u alice)
carol_uid=$(C id -u carol)

step "activate: zxvm run hello.bin as alice (group zxvm)"
cur=$(cursor)
out=$(C runuser -u alice -- zxvm run /opt/zxvm-test/hello.bin 2>&1) || true
if [ "$out" != "Hello from a zxvm guest!" ]; then
	echo "$out"
	C journalctl -q --no-pager -u zxvmd.service | tail -20
fi
expect "zxvm run hello.bin prints the greeting" test "$out" = "Hello from a zxvm guest!"
expect "the first connection started zxvmd.service" test "$(unit ActiveState)" = active
pid=$(unit MainPID)
status=$(C cat "/proc/$pid/status" 2>/dev/null || true)
field() { echo "$status" | awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }'; }
expect "daemon runs as zxvmd" test "$(field Uid | awk '{ print $1 }')" = "$(C id -u zxvmd)"
in_groups() {
	local g
	for g in "$@"; do
		[[ " $(field Groups) " == *" $(C getent group "$g" | cut -d: -f3) "* ]] || return 1
	done
}
expect "daemon has groups kvm and zxvm" in_groups kvm zxvm
expect "daemon: no capabilities, no_new_privs, seccomp filter" \
	test "$(field CapBnd) $(field CapEff) $(field NoNewPrivs) $(field Seccomp)" = \
	"0000000000000000 0000000000000000 1 2"
expect "the socket is still root:zxvm 0660 after the service start" \
	test "$(C stat -c '%U:%G %a' /run/zxvmd/zxvmd.sock)" = "root:zxvm 660"
expect "journal: session opened by alice" \
	logged journal "$cur" "session [0-9a-f]+ opened \(ephemeral\) by unix uid $alice_uid "

step "programs: a libzxvm-dev program and the API tests through the sandboxed daemon"
if [ -x "$CR/opt/zxvm-test/consumer" ]; then
	out=$(C runuser -u alice -- /opt/zxvm-test/consumer 2>&1) || true
	expect "packaged libzxvm0 + find_package consumer: zx_guest_create ZX_OK" \
		test "$out" = "zx_guest_create: ZX_OK"
fi
for prog in "${programs[@]}"; do
	# Root on the host is root to the daemon: admitted.
	if out=$(ZXVM_TEST_TARGET="unix:$CR/run/zxvmd/zxvmd.sock" timeout 120 "$prog" 2>&1); then
		echo "ok: ${prog##*/} through zxvmd.service: $(echo "$out" | tail -n 1)"
	else
		echo "$out" | tail -n 20
		fail "${prog##*/} through zxvmd.service"
	fi
done

step "refuse: users outside group zxvm"
rc=0
out=$(C runuser -u bob -- zxvm guest create 2>&1) || rc=$?
expect "bob (no group zxvm) cannot connect: exit 2, ZX_ERR_ACCESS_DENIED ($out)" \
	test "$rc" = 2 -a -n "$(echo "$out" | grep 'cannot connect.*ZX_ERR_ACCESS_DENIED')"
# carol was never in zxvm's member list but her process holds the group, as a login from
# before her removal would: the socket lets her in, the daemon's group check does not.
cur=$(cursor)
rc=0
out=$(C setpriv --reuid=carol --regid=carol --groups=zxvm zxvm guest create 2>&1) || rc=$?
expect "carol (removed from zxvm): zxvm guest create exits 3 naming ZX_ERR_ACCESS_DENIED ($out)" \
	test "$rc" = 3 -a -n "$(echo "$out" | grep ZX_ERR_ACCESS_DENIED)"
expect "journal: carol's session is not authorized" \
	logged journal "$cur" "uid $carol_uid .*(not root or in group zxvm|not authorized)"

step "reload: systemctl reload zxvmd (SIGHUP: TLS certificates read again; guests keep running)"
pid_before=$(unit MainPID)
cur=$(cursor)
expect "systemctl reload zxvmd succeeds" C systemctl reload zxvmd.service
expect "journal: zxvmd handled the reload (no TLS listener here)" \
	logged journal "$cur" "no TLS listener: no certificates to reload"
expect "the same zxvmd process still serves (MainPID $pid_before)" \
	test "$(unit MainPID)" = "$pid_before"

step "own socket: listen = unix:/run/zxvmd/extra.sock in /etc/zxvmd/zxvmd.conf"
C sh -c 'echo "listen = unix:/run/zxvmd/extra.sock" >>/etc/zxvmd/zxvmd.conf'
C systemctl restart zxvmd.service
# The service's seccomp filter must leave chown(2) to zxvmd, or the group stays zxvmd's.
expect "zxvmd created /run/zxvmd/extra.sock as zxvmd:zxvm 0660" \
	test "$(C stat -c '%U:%G %a' /run/zxvmd/extra.sock 2>&1)" = "zxvmd:zxvm 660"
out=$(C runuser -u alice -- zxvm --addr unix:/run/zxvmd/extra.sock \
	run /opt/zxvm-test/hello.bin 2>&1) || true
expect "alice runs hello.bin through it ($out)" test "$out" = "Hello from a zxvm guest!"
C sed -i '/extra\.sock/d' /etc/zxvmd/zxvmd.conf
C systemctl restart zxvmd.service
expect "zxvmd removed it when it stopped" C test ! -e /run/zxvmd/extra.sock

step "stop: systemctl stop zxvmd with a guest spinning in zx_vcpu_enter"
C runuser -u alice -- zxvm --session keep guest create >/dev/null ||
	fail "alice cannot create a guest in the named session keep"
# Its output comes through a pipe: the line "s" is the event that the guest runs.
mkfifo "$W/spin.fifo"
timeout 60 nsenter -t "$L" -a -- runuser -u alice -- zxvm run /opt/zxvm-test/spin.bin \
	>"$W/spin.fifo" 2>&1 &
spin=$!
exec {spin_out}<"$W/spin.fifo"
read_until "$spin_out" 30 "$W/spin.out" s ||
	fail "the spin guest did not start: $(cat "$W/spin.out")"
pid=$(unit MainPID)
cur=$(cursor)
C systemd-analyze log-level debug
s=$(date +%s.%N)
C systemctl stop zxvmd.service 2>/dev/null
stop_s=$(since "$s")
C systemd-analyze log-level info
rc=0
wait "$spin" || rc=$?
# What it said after "s", to its end.
read_until "$spin_out" 5 "$W/spin.out" || echo "note: the output of zxvm run did not end"
exec {spin_out}<&-
echo "note: zxvm run of the spinning guest ended with exit $rc: $(tail -n 1 "$W/spin.out")"
expect "zxvm run got an answer, not its 60 s timeout or a signal (exit $rc)" test "$rc" -lt 124
expect "systemd got STOPPING=1 from the daemon" \
	logged journal "$cur" "Got notification message from PID $pid \(STOPPING=1"
expect "journal: stopping, session keep closed with its guest, stopped" \
	logged journal "$cur" 'stopping \(' 'session [0-9a-f]+ closed \(keep\): .*1 guests' '^stopped$'
# zxvm run's cleanup may reconnect and activate a new daemon at once: judge the stopped one
# by what systemd logged about it (debug level) rather than by the unit's current state.
expect "clean exit: status 0, deactivated successfully, in ${stop_s}s" \
	logged journal "$cur" "Main process exited, code=exited, status=0/SUCCESS" \
	"zxvmd.service: Deactivated successfully"
expect "zxvmd.socket still listening" C systemctl -q is-active zxvmd.socket
out=$(C runuser -u alice -- zxvm run /opt/zxvm-test/hello.bin 2>&1) || true
new=$(unit MainPID)
expect "the next connection starts a new daemon" \
	test "$out" = "Hello from a zxvm guest!" -a "$new" != "$pid" -a "$new" != 0

step "watchdog: SIGSTOP the daemon (WatchdogSec=$(unit WatchdogUSec))"
pid=$(unit MainPID)
restarts=$(unit NRestarts)
cur=$(cursor)
C sh -c "kill -STOP $pid"
s=$(date +%s.%N)
new_pid() {
	local p
	p=$(unit MainPID)
	[ "$p" != 0 ] && [ "$p" != "$pid" ] && [ "$(unit ActiveState)" = active ]
}
# systemd logs "Started" once the restarted daemon is up (READY=1, Type=notify).
if logged -t 60 journal "$cur" '^Started zxvmd\.service'; then
	echo "note: restarted after $(since "$s")s"
	expect "a new daemon is active (MainPID $pid, now $(unit MainPID))" new_pid
	expect "journal: watchdog timeout, SIGABRT, result 'watchdog'" \
		logged journal_all "$cur" "zxvmd.service: Watchdog timeout" \
		"Killing process $pid \(zxvmd\) with signal SIGABRT" \
		"zxvmd.service: Failed with result 'watchdog'"
	expect "NRestarts went up by one" test "$(unit NRestarts)" = $((restarts + 1))
	out=$(C runuser -u alice -- zxvm run /opt/zxvm-test/hello.bin 2>&1) || true
	expect "the restarted daemon runs guests" test "$out" = "Hello from a zxvm guest!"
else
	fail "no new zxvmd within 60 s of SIGSTOP (MainPID $(unit MainPID), $(unit ActiveState))"
fi

step "purge: apt-get purge"
C env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q zxvmd zxvm libzxvm0 libzxvm-dev \
	>"$W/apt-purge.log" 2>&1 || { cat "$W/apt-purge.log"; fail "apt-get purge"; }
C systemctl daemon-reload
left=$(C sh -c 'ls -d /etc/zxvmd /run/zxvmd /lib/systemd/system/zxvmd* \
	/usr/lib/systemd/system/zxvmd* /etc/systemd/system/*/zxvmd* /etc/systemd/system/zxvmd* \
	/var/lib/systemd/deb-systemd-*/*zxvmd* /usr/lib/sysusers.d/zxvmd.conf \
	/usr/lib/tmpfiles.d/zxvmd.conf /usr/sbin/zxvmd /usr/bin/zxvm /usr/include/zircon \
	/usr/lib/*/libzxvm* 2>/dev/null' || true)
expect "no file of the packages is left ${left:+($left)}" test -z "$left"
known=$(C dpkg-query -W -f '${Package} ${Status}\n' 'zxvm*' 'libzxvm*' 2>/dev/null |
	grep -v not-installed || true)
expect "dpkg knows none of the packages (not even config-files) ${known:+($known)}" \
	test -z "$known"
expect "systemd has no zxvmd unit" \
	test -z "$(C systemctl list-units --all --no-legend 'zxvmd*')"
procs=$(C find /proc -mindepth 1 -maxdepth 1 -regex '/proc/[0-9]+' -user zxvmd 2>/dev/null || true)
expect "no zxvmd process" test -z "$procs"
owned=$(C find / -xdev \( -user zxvmd -o -group zxvm -o -group zxvmd \) -print 2>/dev/null |
	head || true)
owned+=$(C find /run \( -user zxvmd -o -group zxvm \) -print 2>/dev/null | head || true)
expect "no file owned by zxvmd, zxvm ${owned:+($owned)}" test -z "$owned"
expect "user zxvmd and group zxvm are kept" \
	C sh -c 'getent passwd zxvmd >/dev/null && getent group zxvm >/dev/null'

step "power off"
C systemctl poweroff 2>/dev/null || true
if wait_child 15 "$NSPAWN_PID"; then
	NSPAWN_PID=
else
	echo "note: nspawn still running; the trap kills it"
fi

step "done"
if [ "$failures" -gt 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
