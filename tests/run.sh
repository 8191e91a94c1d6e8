#!/usr/bin/env bash
# The test command (README, .ci/run): on a fresh Debian 12 machine, install what is needed,
# build with warnings as errors, run the whole suite, then build and run it again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

ZXVM_BUILD=build-ci packaging/setup.sh -DZXVM_WERROR=ON
(cd build-ci && ctest --output-on-failure -j2 --timeout 300)

ZXVM_BUILD=build-asan packaging/setup.sh -DZXVM_WERROR=ON -DZXVM_SANITIZE=address,undefined \
	-DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	ctest --output-on-failure -j2 --timeout 300)
