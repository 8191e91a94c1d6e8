#!/usr/bin/env bash
# The test command (README, .ci/run): on a fresh Debian 12 machine, install what is needed,
# build with warnings as errors, run the whole suite, then build and run it again under
# AddressSanitizer + UndefinedBehaviorSanitizer, run every libFuzzer target of tests/fuzz
# for a few seconds, and run the suite once more under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

# ctest_in DIR ARGS...: ctest in DIR. Where /dev/kvm is usable nothing may be skipped: a test
# exits 77 only where KVM (or a tool it needs) is absent, so a skip here hides something.
ctest_in()
{
	local dir=$1 log
	shift
	log=$(mktemp)
	(cd "$dir" && ctest --output-on-failure -j2 "$@") | tee "$log"
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -q '(Skipped)' "$log"; then
		echo "tests/run.sh: tests were skipped on a machine with a usable /dev/kvm:" >&2
		grep '(Skipped)' "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}

ZXVM_BUILD=build-ci packaging/setup.sh -DZXVM_WERROR=ON
ctest_in build-ci --timeout 300

ZXVM_BUILD=build-asan packaging/setup.sh -DZXVM_WERROR=ON -DZXVM_SANITIZE=address,undefined \
	-DCMAKE_BUILD_TYPE=Debug
# The slow tests (a booted systemd in nspawn) ran above; they test packaging, not memory.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	ctest_in build-asan --timeout 300 -LE slow

# The fuzz targets (tests/fuzz, clang + libFuzzer): each one on a copy of its seed corpus for
# ZXVM_FUZZ_SECONDS (6) seconds, two at a time. The whole tree is built here, so that clang's
# warnings are errors too, not only gcc's.
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZXVM_WERROR=ON \
	-DZXVM_FUZZ=ON >/dev/null
ninja -C build-fuzz
ctest_in build-fuzz -L fuzz --timeout 120

# ThreadSanitizer: the whole suite (tests labelled slow excepted), KVM tests included. The
# suppressions are for third-party code only (tests/tsan.supp says why for each).
ZXVM_BUILD=build-tsan packaging/setup.sh -DZXVM_WERROR=ON -DZXVM_SANITIZE=thread
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
	ctest_in build-tsan --timeout 300 -LE slow
