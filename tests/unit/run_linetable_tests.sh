#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run_linetable_tests.sh BUILD_DIR
#
# Checks the line-table decoder (src/python/linetable.c) against every installed
# interpreter: each one writes its own cases (gen_linetable_cases.py) into
# BUILD_DIR, and BUILD_DIR/test_linetable checks them. The minor version
# passed to the test comes from the interpreter's file name, not from the
# generator, so a mislabelled case file fails. Missing interpreters are
# reported as skipped. Override the list with LINETABLE_PYTHONS="py1 py2".
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
TEST=$BUILD/test_linetable
PYENV=/root/.pyenv/versions
: "${LINETABLE_PYTHONS:=$PYENV/3.8.18/bin/python3.8 $PYENV/3.9.18/bin/python3.9
	$PYENV/3.10.13/bin/python3.10 $PYENV/3.11.7/bin/python3.11
	$PYENV/3.12.1/bin/python3.12 $PYENV/3.13.0/bin/python3.13 /usr/bin/python3.11}"

if [ ! -x "$TEST" ]; then
	echo "$TEST not built" >&2
	exit 2
fi

ok=0 bad=0 skipped=0
for py in $LINETABLE_PYTHONS; do
	if [ ! -x "$py" ]; then
		echo "skip $py: not installed"
		skipped=$((skipped + 1))
		continue
	fi
	minor=${py##*python3.}
	# /root/.pyenv/versions/3.11.7/bin/python3.11 -> 3.11.7; /usr/bin/python3.11 -> usr-bin-python3.11
	label=$(echo "$py" | sed -e "s|^$PYENV/\([^/]*\)/.*|\1|" -e 's|^/||' -e 's|/|-|g')
	cases=$BUILD/linetable_cases_$label.txt
	if ! "$py" "$HERE/gen_linetable_cases.py" >"$cases"; then
		echo "FAIL $label: case generator failed"
		bad=$((bad + 1))
		continue
	fi
	rc=0
	out=$("$TEST" "$minor" "$cases" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok $label: $(echo "$out" | tail -n 1)"
		ok=$((ok + 1))
	else
		# A crash (e.g. a read into the guard page) leaves no summary line.
		echo "$out" | sed "s|^|  $label: |"
		echo "FAIL $label: exit status $rc"
		bad=$((bad + 1))
	fi
done
echo "interpreters checked:"
echo "$ok passed, $bad failed, $skipped skipped"
[ "$bad" -eq 0 ]
