#!/usr/bin/env bash
# The main job (README): on a fresh Debian 12 machine, install what is needed, build, and run
# the hello guest.
set -euo pipefail
cd "$(dirname "$0")/../.."
packaging/setup.sh
ZXVM_ADDR=inproc: build/examples/hello/hello build/examples/hello/hello.bin
