"""Load, bounded and on loopback only: 10,000 connections open at once,
each served byte-exact; 10,000 downloads aborted at random points, after
which the daemon's descriptors and connections are back exactly where they
were and its RSS within a stated margin; and the RLIMIT_NOFILE the daemon
takes for itself at start-up.

Limits on time are gross (a hang, not a speed). The random plans are seeded
and the seed is printed, so a failure can be replayed with LOAD_SEED."""

import asyncio
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import unittest

import coserve_load as load
from coserve_test import COSERVE, WRAPPED, Server, main

# Under valgrind (make check-valgrind) each connection costs ~50 times the
# CPU: a tenth of the load still walks every path, and memcheck, not RSS,
# is the leak check there.
N = 1000 if WRAPPED else 10000
SEED = int(os.environ.get("LOAD_SEED", random.randrange(1 << 30)))
SANITIZED = bool(COSERVE) and load.sanitized(COSERVE)

# RSS after the aborted downloads may exceed RSS before them (both taken
# idle, after a warm-up round at the same concurrency, so pools and malloc
# arenas are already grown) by at most this. A leak of 512 bytes per
# download would be 4.9 MiB over 10,000; a leaked buffer, stack or
# connection is 1.3 KiB to 128 KiB. Under AddressSanitizer freed memory
# sits in a 16 MiB quarantine (see coserve_load) and its allocator keeps
# more per size class: its leaks are LeakSanitizer's to find at exit.
RSS_MARGIN_KIB = 32 * 1024 if SANITIZED else 4 * 1024
RSS_RUNS = 3  # measured runs of N at most

SIZES = {"f%d.bin" % i: size for i, size in
         enumerate((0, 1, 512, 1500, 4096, 10000, 32768, 65536))}
BIG = {"big.bin": 1 << 20}


class LoadTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="coserve-load-")
        self.root = os.path.join(self.tmp, "www")
        os.makedirs(self.root)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, **config):
        config["metrics_path"] = load.METRICS_PATH
        return Server(root=self.root, config=config, env=load.daemon_env(COSERVE))

    def test_10000_concurrent_connections(self):
        need = N + 512
        if load.raise_nofile(need) < need:
            self.skipTest("RLIMIT_NOFILE cannot reach %d here" % need)
        if load.ephemeral_ports() < N + 2000:
            self.skipTest("ip_local_port_range holds fewer than %d ports" % (N + 2000))
        files = load.make_files(self.root, SIZES, SEED)
        # The first request's deadline counts from the accept: opening the
        # other 9,999 must not use it up.
        with self.server(max_connections=N + 64, header_timeout_ms=300000,
                         keepalive_timeout_ms=300000) as srv:
            asyncio.run(asyncio.wait_for(self.concurrent(srv, files), 240))

    async def concurrent(self, srv, files):
        pid, port = srv.pid, srv.port
        rng = random.Random(SEED)
        names = sorted(files)
        # Each file on 32 connections first: the kernel spreads them over
        # the reactors (all but surely some on each), and every reactor's
        # open-file cache holds the files from here on.
        for _ in range(32):
            reader, writer = await load.connect(port)
            for i, name in enumerate(names):
                writer.write(load.request_bytes("/" + name, close=i == len(names) - 1))
                load.check(files, name, None, *await load.read_response(reader))
            writer.close()
        await load.settle(pid, port)
        fds_before = load.fd_count(pid)
        rss_before = load.rss_kib(pid)
        t0 = time.monotonic()
        gate = asyncio.Semaphore(256)  # connects in flight: within the backlog

        async def opener():
            async with gate:
                return await load.connect(port)

        conns = await asyncio.gather(*(opener() for _ in range(N)), return_exceptions=True)
        errors = [repr(c) for c in conns if isinstance(c, BaseException)]
        conns = [c for c in conns if not isinstance(c, BaseException)]
        self.assertEqual(errors, [], "connects failed")
        # Every one accepted and open in the daemon before any request.
        deadline = time.monotonic() + 60
        while (open_now := await load.connections_open(port)) < N:
            self.assertLess(time.monotonic(), deadline, "only %d open" % open_now)
            await asyncio.sleep(0.1)
        fds_open = load.fd_count(pid)
        rss_open = load.rss_kib(pid)
        t_open = time.monotonic() - t0
        self.assertGreaterEqual(fds_open - fds_before, N)
        # A connection that has sent nothing holds no coroutine or buffer:
        # under 4 KiB each (it was 9 KiB with both). Not under ASan or
        # valgrind, whose allocators cost more per connection.
        if not SANITIZED and not WRAPPED:
            self.assertLess(rss_open - rss_before, N * 4,
                            "%d KiB for %d connections" % (rss_open - rss_before, N))

        plans = []
        for i, (reader, writer) in enumerate(conns):
            name = names[i % len(names)]
            rng_range = load.random_range(rng, len(files[name])) if i % 3 == 0 else None
            plans.append((name, rng_range))
            writer.write(load.request_bytes("/" + name, load.range_fields(rng_range),
                                            close=True))

        async def finish(i):
            reader, writer = conns[i]
            name, rng_range = plans[i]
            try:
                status, fields, body = await load.read_response(reader)
                load.check(files, name, rng_range, status, fields, body)
                if await reader.read(1) != b"":
                    raise load.BadResponse("bytes after the response")
                return len(body)
            except (load.BadResponse, OSError) as e:
                return "connection %d: %r" % (i, e)
            finally:
                writer.close()

        results = await asyncio.gather(*(finish(i) for i in range(N)))
        t_all = time.monotonic() - t0
        errors = [r for r in results if isinstance(r, str)]
        body_bytes = sum(r for r in results if not isinstance(r, str))
        conns_after, fds_after = await load.settle(pid, port, fds_before)
        print("%d connections: all open after %.1f s (daemon fds %d -> %d, rss %.1f MiB); "
              "%d responses byte-exact, %d errors, %d body bytes, all done after %.1f s; "
              "after: %d connections open, fds %d (seed %d)"
              % (N, t_open, fds_before, fds_open, rss_open / 1024, N - len(errors), len(errors),
                 body_bytes, t_all, conns_after, fds_after, SEED))
        self.assertEqual(errors[:10], [])
        self.assertEqual(conns_after, 0)
        self.assertEqual(fds_after, fds_before, load.fd_targets(pid))

    def test_10000_aborted_downloads(self):
        files = load.make_files(self.root, BIG, SEED)
        with self.server(send_timeout_ms=60000) as srv:
            asyncio.run(asyncio.wait_for(self.aborted(srv, files), 300))

    async def aborted(self, srv, files):
        pid, port = srv.pid, srv.port
        rng = random.Random(SEED)
        concurrency = 64
        # Warm-up at the same concurrency and as long as the run: the
        # coroutine stack pools, the I/O pool's threads and malloc's arenas
        # reach their working size. Each reactor has a pool and an arena of
        # its own, and takes a share of the 64 that varies, so a shorter
        # warm-up left a reactor's peak to the run (+7 MiB seen at N // 5,
        # while three times the run grew less than one run: no leak).
        _, errors = await load.aborted_downloads(port, files, "big.bin", N, concurrency, rng)
        self.assertEqual(errors[:10], [])
        await load.settle(pid, port)
        fds_before = load.fd_count(pid)
        # A leak grows RSS with every run; a working set that peaks late (a
        # pool thread started on a loaded machine, with its stack and arena;
        # +6.9 MiB seen once in CI) grows it once. So a run that grew past
        # the margin is followed by another, up to RSS_RUNS in all, and the
        # last one's growth is what is asserted.
        for run in range(1, RSS_RUNS + 1):
            rss_before = load.rss_kib(pid)
            t0 = time.monotonic()
            read, errors = await load.aborted_downloads(port, files, "big.bin", N,
                                                        concurrency, rng)
            elapsed = time.monotonic() - t0
            rss_peak = load.rss_kib(pid)
            conns_after, fds_after = await load.settle(pid, port, fds_before)
            rss_after = load.rss_kib(pid)
            print("run %d: %d aborted downloads in %.1f s (%.1f MiB read, %d errors): "
                  "connections open after: %d; fds %d -> %d; rss %.1f -> %.1f MiB "
                  "(%+d KiB, margin %d KiB%s; %.1f MiB right after the run) (seed %d)"
                  % (run, N, elapsed, read / 2**20, len(errors), conns_after, fds_before,
                     fds_after, rss_before / 1024, rss_after / 1024, rss_after - rss_before,
                     RSS_MARGIN_KIB, ", sanitizer build" if SANITIZED else "",
                     rss_peak / 1024, SEED))
            self.assertEqual(errors[:10], [])
            self.assertEqual(conns_after, 0)
            self.assertEqual(fds_after, fds_before, load.fd_targets(pid))
            if WRAPPED or rss_after - rss_before <= RSS_MARGIN_KIB:
                break
        if WRAPPED:
            print("rss margin not asserted: the daemon runs under valgrind, whose "
                  "own leak check at exit is the stricter test")
        else:
            self.assertLessEqual(rss_after - rss_before, RSS_MARGIN_KIB)

    def test_nofile_soft_limit_raised_and_warned(self):
        if WRAPPED:
            self.skipTest("valgrind keeps descriptors of its own above the soft "
                          "limit and shows the daemon a lowered one")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        hard = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
        if hard < 2048:
            self.skipTest("hard RLIMIT_NOFILE %d is too low to test with" % hard)
        # Starts the daemon with a soft limit of 256 under a hard one.
        wrap = [sys.executable, "-c",
                "import os, resource, sys; "
                "resource.setrlimit(resource.RLIMIT_NOFILE, (256, %d)); "
                "os.execv(sys.argv[1], sys.argv[1:])" % hard]
        # Beside the clients: two generations' caches, the listener, 64
        # (for one reactor: each has its own caches and listener copies).
        for max_conns, warned in ((hard, True), (hard - 2 * 1024 - 1 - 64, False)):
            srv = Server(root=self.root, config={"max_connections": max_conns,
                                                 "open_file_cache_max": 1024,
                                                 "reactors": 1}, start=False)
            srv.args = wrap + srv.args
            with srv:
                srv.start()
                with open("/proc/%d/limits" % srv.pid) as f:
                    line = [l for l in f if l.startswith("Max open files")][0]
                self.assertEqual(line.split()[3:5], [str(hard), str(hard)], line)
                warning = [l for l in srv.stderr_lines if "RLIMIT" in l or "limit is" in l]
                if warned:
                    self.assertEqual(len(warning), 1, srv.stderr)
                    self.assertTrue(warning[0].startswith("coserve: warn: max_connections %d"
                                                          % max_conns), warning[0])
                else:
                    self.assertEqual(warning, [])


if __name__ == "__main__":
    main()
