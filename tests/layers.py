#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layering of src/: each folder is a layer, and a file may include
headers of its own layer and of the layers below it, never above. Modules
(a .c and its .h) form no include cycle. Prints what breaks a rule and
exits 1; prints one line and exits 0 otherwise.

Lowest first: lib (processes, files, ELF, tables, log, clocks), trace (the
BPF skeleton's only user: probes and their cost), python (interpreters:
offsets, allocator tables, the redirect, symbolising), session (one traced
process, full or sampled), history (the store, diff, verdicts), output
(text, JSON, folded, pprof), agent, doctor, cli (commands and options).
"""
import os
import re
import sys

ORDER = ["lib", "trace", "python", "session", "history", "output", "agent", "doctor", "cli"]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")


def main():
    layer_of, files = {}, []
    for layer in sorted(os.listdir(SRC)):
        d = os.path.join(SRC, layer)
        if not os.path.isdir(d):
            continue
        if layer not in ORDER:
            print("layers: src/%s is not a known layer (tests/layers.py ORDER)" % layer)
            return 1
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h")):
                layer_of[name] = layer
                files.append((layer, name))
    bad, graph = [], {}
    for layer, name in files:
        with open(os.path.join(SRC, layer, name), encoding="utf-8") as f:
            includes = re.findall(r'^#include "([^"]+)"', f.read(), re.M)
        mod = name[:-2]
        for inc in includes:
            target = layer_of.get(inc)
            if target is None:
                continue        # include/ (shared with BPF) or the skeleton
            if ORDER.index(target) > ORDER.index(layer):
                bad.append("src/%s/%s includes %s of the %s layer, above %s" % (
                    layer, name, inc, target, layer))
            if inc[:-2] != mod:
                graph.setdefault(mod, set()).add(inc[:-2])
    # cycles between modules (depth-first search)
    state, cycles = {}, []

    def visit(m, path):
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycles.append(" -> ".join(path[path.index(n):] + [n]) if n in path else n)
            elif not state.get(n):
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m, [m])
    for c in cycles:
        bad.append("include cycle: %s" % c)
    for b in bad:
        print("layers: " + b)
    if bad:
        return 1
    print("layers: %d files in %d layers, no upward include, no cycle" % (
        len(files), len({l for l, _ in files})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
