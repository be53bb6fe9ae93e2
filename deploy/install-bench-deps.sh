#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what `make bench` compares leakbpf with, if missing (Debian).
set -euo pipefail

packages=(bpftrace heaptrack austin python3-gunicorn python3-flask wrk gcc procps)
missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		echo "deploy/install-bench-deps.sh: installing packages needs root: run 'sudo make bench'" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
