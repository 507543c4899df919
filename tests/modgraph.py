#!/usr/bin/env python3
"""The module graph of src/ and its cycles.

A module is a basename in src/ (conn.c and conn.h are "conn"); it depends on
every module whose header it names in an `#include "x.h"` line. Layers are
to point one way (STYLE.md), so a cycle is a defect: this prints each one
and exits 1, or prints the edge count and exits 0. Headers that are not in
src/ (autoconf.h) are ignored. Usage: modgraph.py [SRCDIR] [--dot].
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)\.h"', re.M)


def graph(srcdir):
    files = [f for f in os.listdir(srcdir) if f.endswith((".c", ".h"))]
    modules = {os.path.splitext(f)[0] for f in files}
    deps = {m: set() for m in modules}
    for f in files:
        m = os.path.splitext(f)[0]
        with open(os.path.join(srcdir, f), encoding="utf-8") as fh:
            for dep in INCLUDE.findall(fh.read()):
                if dep in modules and dep != m:
                    deps[m].add(dep)
    return deps


def components(deps):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    return sorted(out)


def cycle_through(deps, comp, start):
    """A shortest cycle from start back to it within comp, as a path."""
    members = set(comp)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(deps[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return [start]


def cycles_in(deps, comp):
    """A shortest cycle through each module of comp, each shown once."""
    seen, out = set(), []
    for start in comp:
        path = cycle_through(deps, comp, start)
        ring = path[:-1]
        first = ring.index(min(ring))
        key = tuple(ring[first:] + ring[:first])
        if key not in seen:
            seen.add(key)
            out.append(list(key) + [key[0]])
    return out


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    here = os.path.dirname(os.path.abspath(__file__))
    srcdir = args[0] if args else os.path.join(here, os.pardir, "src")
    deps = graph(srcdir)
    if "--dot" in argv:
        print("digraph coserve {")
        for m in sorted(deps):
            for d in sorted(deps[m]):
                print(f'\t"{m}" -> "{d}";')
        print("}")
        return 0
    comps = components(deps)
    for comp in comps:
        for path in cycles_in(deps, comp):
            print("cycle: " + " -> ".join(path))
    edges = sum(len(d) for d in deps.values())
    print(f"{len(deps)} modules, {edges} edges, "
          f"{len(comps)} group(s) of modules in a cycle")
    return 1 if comps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
