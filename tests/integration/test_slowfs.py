"""The design's proof: a slow disk must not stall the reactor.

The daemon runs with tests/support/slowfs.so preloaded, which makes every
filesystem call on a file whose name holds "SLOW" sleep, and writes one byte
to a pipe as each sleep starts. While a request for such a file is really in
flight, 100 requests for ordinary files must all finish quickly with the I/O
pool (io_threads=4); with io_threads=0 (file I/O inline on the reactor) the
same procedure must show the stall, which proves the measurement can fail.
A client that gives up on a slow request must leave the daemon healthy.
Bodies of 16 KiB and more go by sendfile: the fast files on the reactor,
the slow one (whose pages slowfs keeps out of cachestat's sight) on the
pool, which the metrics must show.
A configuration generation freed by a failed reload closes its access log
on the pool, not on the reactor, however long that close takes.

The same pair of measurements for a directory listing, with only the
directory's readdir slowed: the guard that a listing never reads its
directory on the reactor.

And for a slow lookup (SLOWFS_LOOKUP_MARKER: opening the name is slow,
reading the file is not): the reactor's own open (openat2 RESOLVE_CACHED)
answers EAGAIN for such a name, and the request goes to the pool, delaying
only itself, whether the slow name is the file, the directory of an index
or a precompressed sidecar; it is still served byte-exact. Every fast
request must end within a quarter of one slowed open, and all of them
before the slow one: a reactor that waited for the lookup fails both.
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import unittest

from coserve_test import (SLOWDOWN, SLOWFS, WRAPPED, WRAPPED_SKIP, HTTPConnection, Server,
                          ServerTestCase, config_text, fetch, main, sha256, write_file)

DELAY_MS = 2000  # per slowed call in cases A and B
ABORT_DELAY_MS = 800  # per slowed call in case C
STUCK_DELAY_MS = 15000 * SLOWDOWN  # case D: longer than any shutdown waits
CHUNK_BYTES = 131072
SLOW_NAME = "big-SLOW.bin"
SLOW_DATA = os.urandom(200 * 1024 + 7)  # two chunks: two slowed reads
# Case A2: open while storage is fast, then sent while it is slow, in
# several sendfile steps (512 KiB each). Each round of fast requests runs
# during one slowed call: a reactor that made that call would hold them
# for most of it, so they must end within a quarter of it, and the slow
# download must still be going when they have (as for slow lookups).
SEND_NAME = "send-SLOW.bin"
SEND_DATA = os.urandom(2 * 1024 * 1024 + 5)
SEND_DELAY_MS = 2000 * min(SLOWDOWN, 2)
SEND_STALL_S = SEND_DELAY_MS / 4 / 1000
FAST = {"fast%d.bin" % i: os.urandom(16 * 1024 + i) for i in range(10)}
CLIENTS = 10
REQUESTS_PER_CLIENT = 10
# A fast request slower than this means the reactor stalled: gross, for a
# loaded machine (there the slowest of 100 took 88 ms with the pool; inline,
# behind four 2 s calls, 8 s).
STALL_S = 2.0
NOTIFY_TIMEOUT_S = 15.0
# Listings (cases E and F): one directory whose readdir alone is slow (no
# file holds the file marker), so the one delay is the directory read. The
# bound sits well under the delay; under valgrind both stretch.
LIST_DIR = "list-SLOWDIR"
LIST_ENV = {"SLOWFS_MARKER": "SLOWFILE", "SLOWFS_DIR_MARKER": "SLOWDIR"}
LIST_FILES = {"a.txt": b"a\n", "b.bin": os.urandom(3000)}
LIST_SUBDIR = "sub"
LIST_DELAY_MS = 4000 * SLOWDOWN
LIST_STALL_S = 2.0 * SLOWDOWN
# Slow lookups (cases G to J): names holding LOOKUP_MARKER are slow to
# open, never to read. No file holds the file marker. A reactor that
# waited for the lookup would hold the fast requests for one slowed open
# (two for the index: its directory, then the index in it), less the
# moments before they began, so under a bound equal to the delay, as
# STALL_S is, it could pass. The bound is a quarter of the delay, still
# gross (on a loaded 2-core machine the slowest fast request took 43 ms;
# 0.27 s under TSan and 0.09 s under valgrind, where both stretch), and
# every fast request must end while the slow one is still in flight.
# At most twice as long under valgrind or TSan: under TSan that bound is
# still seven times their slowest, and the index case waits two delays.
# Under valgrind, which runs one thread at a time, the bound is not
# asserted (as in cases A and A2), only that the slow request is still in
# flight when the fast ones have ended: 8 s of delay, against ten fast
# requests in a row per client of 0.09 s at most each.
LOOKUP_DELAY_MS = 4000 * min(SLOWDOWN, 2)
LOOKUP_STALL_S = LOOKUP_DELAY_MS / 4 / 1000
LOOKUP_MARKER = "LAZYNAME"
LOOKUP_FILE = "page-%s.bin" % LOOKUP_MARKER
LOOKUP_DATA = os.urandom(100 * 1024 + 3)
LOOKUP_DIR = "dir-%s" % LOOKUP_MARKER
LOOKUP_INDEX = b"<p>index behind a slow name</p>\n"
SIDECAR_FILE = "styles.css"  # its sidecar's name alone is slow: ".css.gz"
SIDECAR_DATA = b"body { color: black }\n" * 40
SIDECAR_GZ = os.urandom(301)  # served as is: never decoded


def percentile(sorted_values, p):
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


class NotifyPipe:
    """The read end of slowfs's "a delay has started" pipe."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()

    def close_write_end(self):
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def drain(self):
        while select.select([self.read_fd], [], [], 0)[0]:
            if not os.read(self.read_fd, 4096):
                break

    def wait(self, timeout=NOTIFY_TIMEOUT_S):
        """Blocks until one slowed call starts; fails the test on timeout."""
        r, _, _ = select.select([self.read_fd], [], [], timeout)
        if not r:
            raise AssertionError("no slowfs delay started within %.0f s: is slowfs.so "
                                 "intercepting the daemon's file calls?" % timeout)
        if os.read(self.read_fd, 1) != b"s":
            raise AssertionError("the daemon closed the slowfs notify pipe")

    def close(self):
        self.close_write_end()
        os.close(self.read_fd)


class SlowFsTest(ServerTestCase):

    shared_server = False  # each test starts its own, with its notify pipe

    @classmethod
    def setUpClass(cls):
        if not SLOWFS or not os.path.exists(SLOWFS):
            raise unittest.SkipTest("SLOWFS is not set to the built slowfs.so")
        super().setUpClass()

    @classmethod
    def make_root(cls, root):
        if "SLOW" in root:
            raise unittest.SkipTest("the temp dir name holds the marker: %s" % root)
        write_file(os.path.join(root, SLOW_NAME), SLOW_DATA)
        write_file(os.path.join(root, SEND_NAME), SEND_DATA)
        for name, data in FAST.items():
            write_file(os.path.join(root, name), data)
        for name, data in LIST_FILES.items():
            write_file(os.path.join(root, LIST_DIR, name), data)
        os.makedirs(os.path.join(root, LIST_DIR, LIST_SUBDIR))
        write_file(os.path.join(root, LOOKUP_FILE), LOOKUP_DATA)
        write_file(os.path.join(root, LOOKUP_DIR, "index.html"), LOOKUP_INDEX)
        write_file(os.path.join(root, SIDECAR_FILE), SIDECAR_DATA)
        write_file(os.path.join(root, SIDECAR_FILE + ".gz"), SIDECAR_GZ)

    def start(self, io_threads, delay_ms, pipe, env=None, config=None):
        env = dict({
            "LD_PRELOAD": SLOWFS,
            "SLOWFS_MARKER": "SLOW",
            "SLOWFS_DELAY_MS": str(delay_ms),
            "SLOWFS_NOTIFY_FD": str(pipe.write_fd),
        }, **(env or {}))
        settings = {"io_threads": io_threads, "chunk_bytes": CHUNK_BYTES,
                    "send_timeout_ms": 60000, "keepalive_timeout_ms": 60000}
        if io_threads == 0:
            # An inline storage call stalls its own reactor only: one
            # reactor, so that every client shares the one that stalls.
            settings["reactors"] = 1
        srv = Server(root=self.root, env=env, pass_fds=[pipe.write_fd],
                     config=dict(settings, **(config or {})))
        pipe.close_write_end()  # the daemon holds the only write end now
        return srv

    def slow_fetch(self, srv, result, name=SLOW_NAME):
        try:
            with srv.connect(timeout=120) as c:
                c.request("GET", "/" + name, {"Connection": "close"})
                r = c.read_response()
                result["status"] = r.status
                result["sha"] = sha256(r.body)
        except Exception as e:
            result["error"] = "%s: %s" % (type(e).__name__, e)

    def fast_requests(self, srv):
        """CLIENTS threads x REQUESTS_PER_CLIENT fetches, a new connection
        each; returns (latencies in seconds, failures)."""
        latencies, failures = [], []
        lock = threading.Lock()
        names = sorted(FAST)

        def client(k):
            for j in range(REQUESTS_PER_CLIENT):
                name = names[(k + j) % len(names)]
                t0 = time.monotonic()
                try:
                    with HTTPConnection(srv.host, srv.port, timeout=60) as c:
                        c.request("GET", "/" + name, {"Connection": "close"})
                        r = c.read_response()
                    elapsed = time.monotonic() - t0
                    ok = r.status == 200 and r.body == FAST[name]
                    with lock:
                        latencies.append(elapsed)
                        if not ok:
                            failures.append("%s: status %d, %d bytes" % (name, r.status,
                                                                         len(r.body)))
                except Exception as e:
                    with lock:
                        failures.append("%s: %s: %s" % (name, type(e).__name__, e))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return latencies, failures

    def measure(self, io_threads):
        """Fast requests while a slow one is provably in flight."""
        pipe = NotifyPipe()
        try:
            with self.start(io_threads, DELAY_MS, pipe) as srv:
                pipe.drain()
                slow = {}
                slow_thread = threading.Thread(target=self.slow_fetch, args=(srv, slow))
                slow_thread.start()
                pipe.wait()
                latencies, failures = self.fast_requests(srv)
                slow_thread.join(120)
                self.assertFalse(slow_thread.is_alive(), "the slow fetch never finished")
                self.assertNotIn("error", slow, slow.get("error"))
                self.assertEqual(slow.get("status"), 200)
                self.assertEqual(slow.get("sha"), sha256(SLOW_DATA), "slow file not byte-exact")
        finally:
            pipe.close()
        self.assertEqual(failures, [])
        self.assertEqual(len(latencies), CLIENTS * REQUESTS_PER_CLIENT)
        ms = sorted(x * 1000 for x in latencies)
        print("\nslowfs: io_threads=%d fast requests n=%d min=%.1fms median=%.1fms p99=%.1fms "
              "max=%.1fms (slow call delay %d ms)"
              % (io_threads, len(ms), ms[0], statistics.median(ms), percentile(ms, 99), ms[-1],
                 DELAY_MS))
        sys.stdout.flush()
        return ms

    def test_a_io_pool_keeps_reactor_responsive(self):
        ms = self.measure(io_threads=4)
        if WRAPPED:
            # valgrind runs one thread at a time: a fast request can wait
            # hundreds of ms for its turn, too close to STALL_S to tell.
            print("not asserting the %.0f ms stall bound: %s" % (STALL_S * 1000, WRAPPED_SKIP))
            return
        self.assertLess(ms[-1], STALL_S * 1000,
                        "a fast request waited behind the slow file: the reactor stalled")

    def test_a2_slow_sendfile_delays_only_its_request(self):
        # The file is opened and cached while storage is fast; then storage
        # turns slow, so the delays are the body's alone: the pool's read of
        # the first byte, then one per sendfile step. Fast requests (bodies
        # of 16 KiB and more: sendfile on the reactor) run during the first
        # delay and again during the second, a pool sendfile.
        pipe = NotifyPipe()
        switch = os.path.join(self.tmp, "slow-switch")
        rounds = []
        try:
            with self.start(4, SEND_DELAY_MS, pipe, env={"SLOWFS_SWITCH": switch},
                            config={"metrics_listen": "127.0.0.1:0"}) as srv:
                r = fetch(srv.host, srv.port, "/" + SEND_NAME)
                self.assertEqual((r.status, sha256(r.body)), (200, sha256(SEND_DATA)))
                open(switch, "w").close()
                pipe.drain()
                slow = {}
                slow_thread = threading.Thread(target=self.slow_fetch,
                                               args=(srv, slow, SEND_NAME))
                slow_thread.start()
                for _ in range(2):
                    pipe.wait()
                    rounds.append(self.fast_requests(srv) + (slow_thread.is_alive(),))
                slow_thread.join(120)
                r = fetch(srv.listeners[1][0], srv.listeners[1][1], "/metrics")
        finally:
            if os.path.exists(switch):
                os.unlink(switch)
            pipe.close()
        self.assertEqual(slow.get("sha"), sha256(SEND_DATA), slow)
        for latencies, failures, pending in rounds:
            self.assertEqual(failures, [])
            if not WRAPPED:
                self.assertLess(max(latencies), SEND_STALL_S,
                                "a fast request waited behind the slow sendfile")
            self.assertTrue(pending, "the slow download ended before the fast requests did")
        sends = dict(re.findall(r'^coserve_file_sends_total\{source="(\w+)"\} (\d+)$',
                                r.body.decode(), re.M))
        # Every fast file went by sendfile on the reactor, the slow one on
        # the pool; without cachestat (valgrind knows no such call) all of
        # them on the pool.
        fast = 2 * CLIENTS * REQUESTS_PER_CLIENT
        if any("cachestat is unavailable" in l for l in srv.stderr_lines):
            self.assertGreaterEqual(int(sends["pool"]), fast + 2)
        else:
            self.assertGreaterEqual(int(sends["page_cache"]), fast)
            self.assertGreaterEqual(int(sends["pool"]), 2)

    def test_b_inline_io_stalls_reactor(self):
        ms = self.measure(io_threads=0)
        self.assertGreaterEqual(ms[-1], STALL_S * 1000,
                                "with io_threads=0 the reactor should stall; if it does not, "
                                "this test cannot tell a blocking daemon from a good one")

    def test_c_client_gone_while_job_in_flight(self):
        pipe = NotifyPipe()
        try:
            with self.start(4, ABORT_DELAY_MS, pipe) as srv:
                pipe.drain()
                # Three clients give up once the first slowed open is under way,
                # with their jobs queued or running.
                quitters = [srv.connect() for _ in range(3)]
                for c in quitters:
                    c.request("GET", "/" + SLOW_NAME)
                pipe.wait()
                for i, c in enumerate(quitters):
                    if i % 2 == 0:
                        c.reset()  # RST
                    else:
                        c.close()  # FIN
                self.assert_fast_ok(srv)
                # One gives up mid-body: the file is two chunks, so when the
                # first bytes arrive the second slowed read is still to come.
                with srv.connect(timeout=60) as c:
                    c.request("GET", "/" + SLOW_NAME)
                    while not c.buf:
                        self.assertTrue(c.fill(), "closed before any response byte")
                    c.reset()
                self.assert_fast_ok(srv)
                # Longer than any abandoned job can take: the full slow file again.
                result = {}
                self.slow_fetch(srv, result)
                self.assertNotIn("error", result, result.get("error"))
                self.assertEqual(result.get("sha"), sha256(SLOW_DATA))
                self.assert_fast_ok(srv)
                # Leaving the with block sends SIGTERM and requires exit 0 with
                # no sanitizer report: an abandoned job touching freed memory
                # would show up there.
        finally:
            pipe.close()

    def test_d_shutdown_with_a_storage_call_stuck(self):
        # The connection's open never comes back in time: the daemon gives
        # up on it after shutdown_grace_ms and says so in its exit status.
        pipe = NotifyPipe()
        try:
            srv = self.start(4, STUCK_DELAY_MS, pipe,
                             config={"shutdown_grace_ms": 500})
            srv.expect_exit = 2
            with srv:
                pipe.drain()
                with srv.connect() as c:
                    c.request("GET", "/" + SLOW_NAME)
                    pipe.wait()
                    t0 = time.monotonic()
                    srv.send_signal(signal.SIGTERM)
                    code = srv.wait(STUCK_DELAY_MS / 1000)
                    took = time.monotonic() - t0
                self.assertEqual(code, 2, srv.stderr)
                self.assertIn("exiting with 1 connection stuck in storage calls", srv.stderr)
                self.assertLess(took, STUCK_DELAY_MS / 2000, srv.stderr)
        finally:
            pipe.close()

    def measure_listing(self, io_threads):
        """The slowest of the fast requests made while a listing's readdir
        is provably in flight, one after another until the listing is
        done, so that a stall anywhere in it lands in one of them."""
        pipe = NotifyPipe()
        listing, slowest, count = {}, 0.0, 0
        try:
            with self.start(io_threads, LIST_DELAY_MS, pipe, env=LIST_ENV,
                            config={"autoindex": True}) as srv:
                pipe.drain()
                lister = threading.Thread(target=self.fetch_listing, args=(srv, listing))
                lister.start()
                pipe.wait()
                while lister.is_alive():
                    t0 = time.monotonic()
                    with HTTPConnection(srv.host, srv.port, timeout=60 * SLOWDOWN) as c:
                        c.request("GET", "/fast0.bin", {"Connection": "close"})
                        r = c.read_response()
                    slowest = max(slowest, time.monotonic() - t0)
                    count += 1
                    self.assertEqual((r.status, r.body), (200, FAST["fast0.bin"]))
                    lister.join(0.05)  # paces the loop; returns as the listing ends
                lister.join()
        finally:
            pipe.close()
        self.assertNotIn("error", listing, listing.get("error"))
        self.assertEqual(listing.get("status"), 200)
        want = sorted([(name, "file", len(data)) for name, data in LIST_FILES.items()] +
                      [(LIST_SUBDIR, "dir", None)])
        got = sorted((e["name"], e["type"], e["size"] if e["type"] == "file" else None)
                     for e in listing["doc"])
        self.assertEqual(got, want)
        print("\nslowfs: io_threads=%d listing with a slow readdir: %d fast requests, "
              "max %.1f ms (readdir delay %d ms)"
              % (io_threads, count, slowest * 1000, LIST_DELAY_MS))
        sys.stdout.flush()
        return slowest

    def fetch_listing(self, srv, result):
        try:
            with srv.connect(timeout=120 * SLOWDOWN) as c:
                c.request("GET", "/%s/?format=json" % LIST_DIR, {"Connection": "close"})
                r = c.read_response()
                result["status"] = r.status
                result["doc"] = json.loads(r.body)
        except Exception as e:
            result["error"] = "%s: %s" % (type(e).__name__, e)

    def test_e_listing_reads_directory_off_reactor(self):
        slowest = self.measure_listing(io_threads=4)
        self.assertLess(slowest, LIST_STALL_S,
                        "a fast request waited behind a listing's readdir: the reactor stalled")

    def test_f_inline_listing_stalls_reactor(self):
        slowest = self.measure_listing(io_threads=0)
        self.assertGreaterEqual(slowest, LIST_STALL_S,
                                "with io_threads=0 the listing's readdir should stall the "
                                "reactor; if it does not, slowfs is not slowing it")

    def measure_lookup(self, io_threads, marker, target, headers, want):
        """Fast requests while a request whose lookup is slow is provably
        in flight; returns their latencies in ms, sorted, and whether the
        slow one was still in flight when the last of them ended."""
        pipe = NotifyPipe()
        slow = {}

        def fetch_slow(srv):
            try:
                with srv.connect(timeout=120 * SLOWDOWN) as c:
                    c.request("GET", target, dict(headers, Connection="close"))
                    r = c.read_response()
                    slow["response"] = (r.status, r.header("content-encoding"), r.body)
            except Exception as e:
                slow["error"] = "%s: %s" % (type(e).__name__, e)

        try:
            with self.start(io_threads, LOOKUP_DELAY_MS, pipe,
                            env={"SLOWFS_MARKER": "NO-FILE-HOLDS-THIS",
                                 "SLOWFS_LOOKUP_MARKER": marker}) as srv:
                pipe.drain()
                slow_thread = threading.Thread(target=fetch_slow, args=(srv,))
                slow_thread.start()
                pipe.wait()
                latencies, failures = self.fast_requests(srv)
                pending = slow_thread.is_alive()
                slow_thread.join(120 * SLOWDOWN)
                self.assertFalse(slow_thread.is_alive(), "the slow-lookup fetch never finished")
        finally:
            pipe.close()
        self.assertNotIn("error", slow, slow.get("error"))
        self.assertEqual(slow["response"], want, "the slow-lookup request was not served "
                         "byte-exact by the pool")
        self.assertEqual(failures, [])
        self.assertEqual(len(latencies), CLIENTS * REQUESTS_PER_CLIENT)
        ms = sorted(x * 1000 for x in latencies)
        print("\nslowfs: io_threads=%d %s with a slow lookup: fast requests n=%d median=%.1fms "
              "max=%.1fms (lookup delay %d ms, slow request %s when they ended)"
              % (io_threads, target, len(ms), statistics.median(ms), ms[-1], LOOKUP_DELAY_MS,
                 "still in flight" if pending else "done"))
        sys.stdout.flush()
        return ms, pending

    def assert_lookup_off_reactor(self, marker, target, headers, want):
        ms, pending = self.measure_lookup(4, marker, target, headers, want)
        if WRAPPED:
            print("not asserting the %.0f ms stall bound: %s"
                  % (LOOKUP_STALL_S * 1000, WRAPPED_SKIP))
        else:
            self.assertLess(ms[-1], LOOKUP_STALL_S * 1000,
                            "a fast request waited behind a slow lookup: the reactor stalled")
        self.assertTrue(pending, "the slow-lookup request ended before the fast ones did: "
                        "they waited for its lookup")

    def test_g_slow_lookup_delays_only_its_request(self):
        self.assert_lookup_off_reactor(LOOKUP_MARKER, "/" + LOOKUP_FILE, {},
                                       (200, None, LOOKUP_DATA))

    def test_h_slow_index_directory_lookup(self):
        self.assert_lookup_off_reactor(LOOKUP_MARKER, "/%s/" % LOOKUP_DIR, {},
                                       (200, None, LOOKUP_INDEX))

    def test_i_slow_sidecar_lookup(self):
        self.assert_lookup_off_reactor(".css.gz", "/" + SIDECAR_FILE,
                                       {"Accept-Encoding": "gzip"}, (200, "gzip", SIDECAR_GZ))

    def test_j_inline_slow_lookup_stalls_reactor(self):
        # The same measurement and bound as cases G to I: one slowed open
        # on the reactor, which the fast requests made after it started
        # meet for most of the delay.
        ms, _ = self.measure_lookup(0, LOOKUP_MARKER, "/" + LOOKUP_FILE, {},
                                    (200, None, LOOKUP_DATA))
        self.assertGreaterEqual(ms[-1], LOOKUP_STALL_S * 1000,
                                "with io_threads=0 the slow lookup should stall the reactor; "
                                "if it does not, slowfs is not slowing it")

    def assert_fast_ok(self, srv):
        t0 = time.monotonic()
        with HTTPConnection(srv.host, srv.port, timeout=30) as c:
            c.request("GET", "/fast0.bin", {"Connection": "close"})
            r = c.read_response()
        self.assertEqual((r.status, r.body), (200, FAST["fast0.bin"]))
        self.assertLess(time.monotonic() - t0, STALL_S * 2 * SLOWDOWN)


class SlowLogCloseTest(unittest.TestCase):
    """A reload that fails after opening the new generation's access log
    (a listener that cannot be bound) frees that generation; with close(2)
    of the log slow, a request meanwhile must be answered at once."""

    MARKER = "slowaccesslog"  # not in any random temp dir name
    DELAY_MS = 4000

    def test_failed_reload_closes_its_log_on_the_pool(self):
        if not SLOWFS or not os.path.exists(SLOWFS):
            self.skipTest("SLOWFS is not set to the built slowfs.so")
        if WRAPPED:
            self.skipTest(WRAPPED_SKIP)
        tmp = tempfile.mkdtemp(prefix="coserve-slowlog-")
        switch = os.path.join(tmp, "switch")
        pipe = NotifyPipe()
        taken = socket.socket()
        try:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            env = {"LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": self.MARKER,
                   "SLOWFS_DELAY_MS": str(self.DELAY_MS), "SLOWFS_SWITCH": switch,
                   "SLOWFS_CLOSE": "1", "SLOWFS_NOTIFY_FD": str(pipe.write_fd)}
            srv = Server(env=env, pass_fds=[pipe.write_fd])
            pipe.close_write_end()
            with srv:
                write_file(os.path.join(srv.root, "a.txt"), b"a")
                with open(srv.config_path, "w") as f:
                    f.write(config_text(dict(
                        srv.settings, access_log=os.path.join(tmp, self.MARKER + ".log"),
                        listen=["127.0.0.1:0", "127.0.0.1:%d" % taken.getsockname()[1]])))
                open(switch, "w").close()
                srv.send_signal(signal.SIGHUP)
                pipe.wait()  # the new log's open, on a worker
                pipe.wait()  # its close, as the failed reload frees it
                t0 = time.monotonic()
                r = fetch(srv.host, srv.port, "/a.txt")
                took = time.monotonic() - t0
                self.assertEqual((r.status, r.body), (200, b"a"))
                self.assertLess(took, self.DELAY_MS / 2000, "a request waited %.1f s: the "
                                "reactor closed the access log itself" % took)
                srv.wait_for_log("reload failed", timeout=2 * self.DELAY_MS / 1000 + 10)
                os.unlink(switch)
        finally:
            taken.close()
            pipe.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
