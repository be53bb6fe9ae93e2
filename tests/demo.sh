#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's demo: a leaking Python program traced from its start.
set -eu
leakbpf=${1:-build/leakbpf}
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3.11
[ -x "$python" ] || python=$(command -v python3)
echo "\$ leakbpf record -- $python tests/programs/demo_leak.py"
exec "$leakbpf" record --limit 5 -- "$python" "$here/programs/demo_leak.py"
