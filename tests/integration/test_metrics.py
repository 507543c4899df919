"""The Prometheus endpoint, on its own listener and at a path on the main
one: the text format, and counters that move with the traffic."""

import os
import re

from coserve_test import (WAIT_S, HTTPConnection, ServerTestCase, build_request, fetch, main,
                          wait_for, write_file)

SAMPLE_RE = re.compile(r'^(coserve_[a-z_]+)(\{[^}]*\})? (\S+)$')


def parse(text):
    """{(name, labels): value}, checking every line is HELP, TYPE or a sample."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("not exposition format: %r" % line)
        samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return samples


class MetricsTest(ServerTestCase):

    server_config = {
        "metrics_listen": "127.0.0.1:0",
        "metrics_path": "/.well-known/metrics",
    }

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "a.txt"), b"x" * 1000)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.main_port = cls.server.listeners[0][1]
        cls.metrics_port = cls.server.listeners[1][1]

    def scrape(self, port=None, target="/metrics"):
        r = fetch("127.0.0.1", port or self.metrics_port, target)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return parse(r.body.decode())

    def test_counters_follow_traffic(self):
        before = self.scrape()
        for _ in range(3):
            self.assertEqual(fetch("127.0.0.1", self.main_port, "/a.txt").status, 200)
        self.assertEqual(fetch("127.0.0.1", self.main_port, "/missing").status, 404)
        scrapes = []

        def delta(name, labels=""):
            return scrapes[-1][(name, labels)] - before.get((name, labels), 0)

        def counted():
            # A request is counted once its answer is out, on the reactor
            # that served it; another reactor may render the scrape first.
            scrapes.append(self.scrape())
            return (delta("coserve_requests_total", '{class="4xx"}') == 1 and
                    delta("coserve_requests_total", '{class="2xx"}') >= 3 + 1)

        wait_for(counted, WAIT_S, "the requests counted")
        after = scrapes[-1]
        # The 3 files, the first scrape, and at most the later scrapes.
        self.assertLessEqual(delta("coserve_requests_total", '{class="2xx"}'),
                             3 + len(scrapes))
        self.assertEqual(delta("coserve_requests_total", '{class="4xx"}'), 1)
        self.assertGreaterEqual(delta("coserve_response_bytes_total"), 3000)
        self.assertGreaterEqual(delta("coserve_connections_accepted_total"), 5)
        # The missing file, a name the kernel has never looked up, needs a
        # resolve job; a.txt, once open in the open-file cache and in the
        # page cache, needs none. Its bytes are read at least once: then
        # kept in memory, if it was written two seconds before.
        self.assertGreaterEqual(delta("coserve_io_jobs_total"), 1)
        self.assertGreaterEqual(delta("coserve_file_reads_total", '{source="page_cache"}'), 1)
        self.assertEqual(after[("coserve_io_threads", "")], 4)
        # The scrape's own connection is open while it is rendered.
        self.assertGreaterEqual(after[("coserve_connections_open", "")], 1)
        self.assertGreaterEqual(after[("coserve_coroutines", "")], 1)
        self.assertEqual(after[("coserve_io_job_seconds_count", "")],
                         after[("coserve_io_job_seconds_bucket", '{le="+Inf"}')])
        self.assertIn(("coserve_io_queue_depth", ""), after)

    def test_path_on_main_listener(self):
        samples = self.scrape(self.main_port, "/.well-known/metrics")
        self.assertIn(("coserve_requests_total", '{class="2xx"}'), samples)
        # Only that path: other paths on the main listener are files.
        self.assertEqual(fetch("127.0.0.1", self.main_port, "/metrics").status, 404)

    def test_metrics_listener_serves_nothing_else(self):
        self.assertEqual(fetch("127.0.0.1", self.metrics_port, "/a.txt").status, 404)
        r = fetch("127.0.0.1", self.metrics_port, "/metrics", method="HEAD")
        self.assertEqual((r.status, r.body), (200, b""))



class CachedOpenTest(ServerTestCase):
    """Without the open-file cache every request opens its file, but a file
    the kernel knows (its dentry cached, its pages in memory) is opened,
    read and answered on the reactor: no pool job but the closes, which
    one loop turn's requests share. Pipelined requests are served in one
    turn, so a batch costs a job or two, where a resolve job and a close
    job each cost two per request."""

    FILES = 32
    server_config = {"metrics_listen": "127.0.0.1:0", "open_file_cache_max": 0,
                     "health_probe_interval_ms": 3600000}

    @classmethod
    def make_root(cls, root):
        for i in range(cls.FILES):
            write_file(os.path.join(root, "f%02d.txt" % i), b"%02d" % i * 100)

    def jobs(self):
        r = fetch("127.0.0.1", self.server.listeners[1][1], "/metrics")
        self.assertEqual(r.status, 200, r)
        return parse(r.body.decode())[("coserve_io_jobs_total", "")]

    def pipelined(self):
        with HTTPConnection(self.server.host, self.server.port) as c:
            c.send(b"".join(build_request("GET", "/f%02d.txt" % i, None, "HTTP/1.1", b"", "test")
                            for i in range(self.FILES)))
            for i in range(self.FILES):
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, b"%02d" % i * 100))

    def test_warm_opens_cost_no_pool_job(self):
        fallback = [l for l in self.server.stderr_lines
                    if "openat2 is unavailable" in l or "lacks RESOLVE_CACHED" in l]
        if fallback:
            # valgrind 3.19 does not know openat2, nor do old kernels.
            self.skipTest("every open goes to the pool here: %s" % fallback[0])
        self.pipelined()  # warm: dentries and pages
        before = self.jobs()
        self.pipelined()
        jobs = self.jobs() - before
        self.assertLessEqual(jobs, self.FILES // 4, "%d pool jobs for %d warm files"
                             % (jobs, self.FILES))


if __name__ == "__main__":
    main()
