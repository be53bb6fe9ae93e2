#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages leakbpf needs, if missing: to build and test
# (no argument), or also what `make bench` compares with ("bench").
# Run as root (apt-get). Safe to run again: installs nothing when all is there.
set -euo pipefail

packages=(
	make gcc clang llvm pkg-config
	libbpf-dev bpftool		# BPF loading and skeletons
	libelf-dev zlib1g-dev		# ELF symbols (libbpf needs both)
	libcapstone-dev			# x86 decoding: allocator tables in stripped interpreters
	libsqlite3-dev			# the agent's store
	libmicrohttpd-dev		# the agent's /metrics endpoint, on its own thread
	python3 python3.11 python3-pytest
	util-linux procps		# setpriv, unshare, ps in the tests
	python3-gunicorn python3-flask wrk	# the agent's gunicorn acceptance test
	python3-yaml			# the structural check of deploy/
	golang-go			# go tool pprof reads diff --format pprof in a test
)
if [ "${1:-}" = bench ]; then
	packages+=(bpftrace heaptrack austin)
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		echo "deploy/install-deps.sh: installing packages needs root: run 'sudo make check' (or bench)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
