#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Integration tests: real processes traced by the real binary ($LEAKBPF).
# Needs root and BPF; tests skip (with the reason) where those are missing.
set -eu
cd "$(dirname "$0")/../.."
export LEAKBPF=${LEAKBPF:-$PWD/build/leakbpf}
# Debian's interpreter runs pytest: it is also one of the test targets
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
