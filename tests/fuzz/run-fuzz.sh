#!/usr/bin/env bash
# Run one fuzz target for a bounded time on a copy of its seed corpus (ctest: fuzz/*).
# Usage: run-fuzz.sh TARGET CORPUS_DIR SECONDS
# The checked-in corpus is only read; what the run finds stays in a temporary directory,
# and a crashing input is copied next to the build (fuzz-crashes/) for the report.
set -u
target=$1 corpus=$2 seconds=$3
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "skipped: /dev/kvm is not usable here"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" fuzz-crashes
cp "$corpus"/* "$work/corpus/" 2>/dev/null
# -timeout: one input; -rss_limit_mb: a leak or a runaway allocation fails the run.
# -error_exitcode: libFuzzer's default, 77, is ctest's "skipped": a crash must fail.
"$target" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$PWD/fuzz-crashes/$(basename "$target")-" "$work/corpus"
rc=$?
echo "$(basename "$target"): exit $rc"
# Only the /dev/kvm check above may skip.
[ "$rc" = 77 ] && rc=1
exit $rc
