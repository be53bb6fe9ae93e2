#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every unit test (C binaries built by make, plus the per-interpreter
# checks) and prints one summary line "N passed, N failed".
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0

tally() {	# tally NAME COMMAND...: runs a test, adds its summary line
	local name=$1 out rc line p f
	shift
	out=$("$@" 2>&1)
	rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*, }
		f=${f%% failed*}
	else
		p=0
		f=1
	fi
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" != 0 ]; then
		printf 'FAIL %s\n%s\n' "$name" "$out"
	else
		printf 'ok   %s (%s)\n' "$name" "$line"
	fi
}

for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	tally "$(basename "$t")" "$t"
done
[ -x "$here/run_linetable_tests.sh" ] && tally linetable "$here/run_linetable_tests.sh" "$build/tests"
[ -x "$here/check_py_offsets.sh" ] && tally py_offsets "$here/check_py_offsets.sh" "$build"

echo "unit: $passed passed, $failed failed"
[ "$failed" = 0 ]
