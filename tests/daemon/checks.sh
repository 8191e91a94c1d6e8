# Check counters for the scenario scripts (daemon_test.sh, faults/faults_test.sh): each call
# prints one line and counts it in passed / failed / skipped, which the caller sets to 0.

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
