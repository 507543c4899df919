"""A short soak (tests/soak/run for 20 s): normal keep-alive clients
checking every byte, slow readers, header tricklers, aborting clients and
malformed requests together. Passes when every normal request was
byte-exact and the daemon's idle descriptor count and RSS after the load
are flat against before it (the criterion is in tests/soak/run). The long
run is the same script: tests/soak/run --seconds 300."""

import importlib.machinery
import importlib.util
import os
import random
import unittest

from coserve_test import COSERVE, WRAPPED, main

SECONDS = float(os.environ.get("SOAK_SECONDS", 20))
SEED = int(os.environ.get("LOAD_SEED", random.randrange(1 << 30)))
RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "soak", "run")


def soak_module():
    loader = importlib.machinery.SourceFileLoader("soak_run", RUN)
    spec = importlib.util.spec_from_loader("soak_run", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class ShortSoak(unittest.TestCase):
    def test_mixed_load_is_flat_and_exact(self):
        # Under valgrind its RSS says nothing about ours; memcheck's leak
        # check at exit is the stricter test there.
        if WRAPPED:
            print("rss margin not asserted: the daemon runs under valgrind")
        report = soak_module().run(COSERVE, SECONDS, SEED,
                                   margin_kib=1 << 40 if WRAPPED else None)
        self.assertEqual(report["errors"][:10], [])
        self.assertGreater(report["counts"].get("normal_requests", 0), 0)
        for kind in ("aborted", "malformed_answered", "trickler_served"):
            self.assertGreater(report["counts"].get(kind, 0), 0, kind)
        self.assertEqual(report["end"]["fds"], report["start"]["fds"])
        self.assertLessEqual(report["end"]["rss_kib"] - report["start"]["rss_kib"],
                             report["rss_margin_kib"])
        self.assertTrue(report["ok"])


if __name__ == "__main__":
    main()
