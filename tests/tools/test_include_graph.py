#!/usr/bin/env python3
"""Tests of include_graph.py itself: the clean fixture tree passes, and each
rule fails it when one line is added (the meson test 'include-graph-selftest')."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "include_graph.py")
CLEAN = os.path.join(HERE, "include_fixtures", "clean")

sys.path.insert(0, HERE)
import include_graph  # noqa: E402


def run(root, *args):
    p = subprocess.run([sys.executable, SCRIPT, "--root", root, *args],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


class Mutated:
    """A copy of the clean tree with lines appended to some files."""

    def __init__(self, appends):
        self.appends = appends  # path in the tree -> text

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="include-graph-")
        root = os.path.join(self.tmp, "tree")
        shutil.copytree(CLEAN, root)
        for rel, text in self.appends.items():
            with open(os.path.join(root, rel), "a") as f:
                f.write(text)
        return root

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp)


class CleanTree(unittest.TestCase):
    def test_passes(self):
        rc, out = run(CLEAN)
        self.assertEqual(rc, 0, out)
        self.assertIn("include graph: 5 folders, 23 files, no cycles, layering kept", out)

    def test_print_has_one_line_per_file(self):
        rc, out = run(CLEAN, "--print")
        self.assertEqual(rc, 0, out)
        lines = out.splitlines()
        self.assertIn("services/alpha (11 files)", lines)
        self.assertIn("  handlers_post.c: handlers.h, state.h, txn.h", lines)
        self.assertIn("  wire.h: libcoord/coord.h", lines)
        self.assertIn("  main.c: bench.h, services/alpha/txn.h", lines)
        file_lines = [ln for ln in lines if ln.startswith("  ")]
        self.assertEqual(len(file_lines), 23)

    def test_commented_include_is_ignored(self):
        rc, out = run(CLEAN, "--print")
        self.assertIn("  state.h: libcoord/coord.h", out.splitlines())


class Cycles(unittest.TestCase):
    def test_include_cycle(self):
        with Mutated({"services/alpha/state.h": '#include "txn.h"\n'}) as root:
            rc, out = run(root)
        self.assertEqual(rc, 1, out)
        self.assertIn("services/alpha: dependency cycle among 2 modules: state, txn", out)
        self.assertIn("state.h -> txn.h -> state.h", out)
        self.assertIn('state.h includes "txn.h"', out)
        self.assertIn('txn.h includes "state.h"', out)

    def test_cycle_hidden_by_an_umbrella_header(self):
        # routes.c now calls alpha_run(); alpha.c already calls routes_find(),
        # which alpha.h declares: two files calling each other.
        extra = '#include "alpha.h"\nint routes_again(int i)\n{\n    return alpha_run(i);\n}\n'
        with Mutated({"services/alpha/routes.c": extra}) as root:
            rc, out = run(root)
            rc_inc, out_inc = run(root, "--includes-only")
        self.assertEqual(rc, 1, out)
        self.assertIn("dependency cycle among 2 modules: alpha, routes", out)
        self.assertIn("alpha.c uses routes_find() of routes.c, declared in alpha.h", out)
        self.assertIn('routes.c includes "alpha.h"', out)
        # The include lines alone do not show it.
        self.assertEqual(rc_inc, 0, out_inc)

    def test_handlers_calling_each_other(self):
        get = "int h_get_twice(int r)\n{\n    return h_post(r);\n}\n"
        post = "int h_post_twice(int r)\n{\n    return h_get(r);\n}\n"
        with Mutated({"services/alpha/handlers_get.c": get,
                     "services/alpha/handlers_post.c": post}) as root:
            rc, out = run(root)
        self.assertEqual(rc, 1, out)
        self.assertIn("handlers_get.c -> handlers_post.c -> handlers_get.c", out)
        self.assertIn("handlers_get.c uses h_post() of handlers_post.c, declared in handlers.h", out)

    def test_long_chain_is_one_component(self):
        n = 5000
        edges = {i: {i + 1: ["x"]} for i in range(n)}
        edges[n] = {0: ["x"]}
        sccs = include_graph.strongly_connected(edges)
        self.assertEqual([len(s) for s in sccs], [n + 1])


# One added include line each, and the problem it must produce.
LAYER_CASES = [
    ("libcoord/queue.c", '#include "wire.h"',
     'libcoord/queue.c includes "wire.h" (api/wire.h): libcoord may include only libcoord headers'),
    ("api/wire.c", '#include "state.h"',
     'api/wire.c includes "state.h" (services/alpha/state.h): api may include only api, '
     'libcoord headers'),
    ("api/api.h", '#include "../services/beta/beta.h"',
     'api/api.h includes "../services/beta/beta.h" (services/beta/beta.h)'),
    ("services/beta/beta.c", '#include "txn.h"',
     'services/beta/beta.c includes "txn.h" (services/alpha/txn.h): services/beta may include '
     'only api, libcoord, services/beta headers'),
]


class Layers(unittest.TestCase):
    def test_each_rule(self):
        for path, line, expected in LAYER_CASES:
            with self.subTest(path=path, line=line):
                with Mutated({path: line + "\n"}) as root:
                    rc, out = run(root)
                self.assertEqual(rc, 1, out)
                self.assertIn(expected, out)

    def test_own_header_wins_over_shared_one(self):
        # A service header named like a libcoord one resolves to the service's.
        with Mutated({"services/beta/clock.h": "int beta_clock(void);\n",
                     "services/beta/beta.c": '#include "clock.h"\n'}) as root:
            rc, out = run(root, "--print")
        self.assertEqual(rc, 0, out)
        self.assertIn("  beta.c: beta.h, clock.h", out.splitlines())


if __name__ == "__main__":
    unittest.main(verbosity=2)
