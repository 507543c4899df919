"""Scale-out: three coserve instances behind HAProxy on one docroot.

On loopback only. HAProxy (Debian package haproxy; skipped with a printed
reason when it is missing) balances three daemons on their own ports that
serve one document root, checking each one's health path the way
packaging/haproxy/haproxy.cfg does. Python threads keep a bounded load
running through HAProxy on keep-alive connections, checking every body
byte for byte, ranges and conditional requests included, and recording
each request's latency under the phase it started in:

  baseline     all three healthy;
  rolling      instance a is stopped with SIGTERM (health turns 503, then
               after drain_delay_ms it stops accepting) and started again;
               instance c is reloaded with SIGHUP: no request may fail;
  slow         instance b's storage turns slow (tests/support/slowfs.so
               with its runtime switch file): its health must turn 503
               within the probe deadline, HAProxy must take it out, the
               requests it already had must still finish byte-exact, and
               the clients' p99 must stay well under the slow call's delay;
  conditional  b is fast again and back in; only conditional and range
               requests, which every instance must answer alike.

The figures (requests, failures, p50/p99 per phase, how long HAProxy took
to mark the slow instance down) are printed to the test log. A second test
serves two copies of a file (equal size and mtime, different inodes) from
two daemons and checks that their validators agree.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from coserve_test import (SLOWFS, WAIT_S, WRAPPED, WRAPPED_SKIP, HTTPConnection, Server,
                          fetch, main, wait_for, write_file)

HAPROXY = shutil.which("haproxy") or next(
    (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)),
    None)

# coserve's side: probe often, judge fast, drain long enough for HAProxy.
PROBE_INTERVAL_MS = 200
PROBE_TIMEOUT_MS = 3000 if WRAPPED else 300  # valgrind: a fast probe took 611 ms in CI
# >= inter * fall + inter below, with room for a loaded machine, where
# HAProxy's checks and our polls of its state come late.
DRAIN_DELAY_MS = 3000
# HAProxy's side.
CHECK_INTER_MS = 200
CHECK_FALL = 2
CHECK_RISE = 2
# Each slowed storage call on instance b: well past how soon b's health
# must turn (SLOW_TURN_MS: 3.0 s, under valgrind 5.7 s), so a probe that
# waited the call out shows. A request makes two such calls: 16 s under
# valgrind, within HAProxy's 30 s server timeout and the direct GET's 60 s.
SLOW_DELAY_MS = 8000 if WRAPPED else 4000
SLOW_TURN_MS = PROBE_INTERVAL_MS + PROBE_TIMEOUT_MS + 2500

CLIENTS = 8
MAX_REQUESTS = 200000  # the load's bound, whatever happens
BASELINE_S = 2.0
AFTER_S = 1.5  # load kept running after each event of a phase
SLOW_PHASE_REQUESTS = 3000
P99_LIMIT_S = 1.0  # gross: the slow instance's stalls must not reach p99

# Files: several under one chunk, one of several chunks.
FILES = {"f%02d.bin" % i: os.urandom(1000 + i * 3500) for i in range(16)}
FILES["large.bin"] = os.urandom(200 * 1024 + 17)


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy_config(port, sock, servers):
    """The test's HAProxy configuration: packaging/haproxy/haproxy.cfg's
    shape with loopback addresses, a short check interval and leastconn
    (a balanced load from few clients; uri would pin each file to one
    instance and make the phases depend on which files hash where)."""
    lines = [
        "global",
        "\tlog stderr format raw local0 notice",
        "\tstats socket %s mode 600 level admin" % sock,
        "\tmaxconn 512",
        "defaults",
        "\tmode http",
        "\tlog global",
        "\toption dontlognull",
        "\ttimeout connect 1s",
        "\ttimeout client 30s",
        "\ttimeout server 30s",
        "\ttimeout http-request 10s",
        "\ttimeout http-keep-alive 10s",
        "\ttimeout queue 10s",
        "\ttimeout check 1s",
        "\tretries 3",
        "\tretry-on conn-failure empty-response response-timeout",
        "\toption redispatch 1",
        "frontend www",
        "\tbind 127.0.0.1:%d" % port,
        "\tdefault_backend coserve",
        "backend coserve",
        "\tbalance leastconn",
        "\toption httpchk",
        "\thttp-check send meth GET uri /health ver HTTP/1.1 hdr Host coserve",
        "\thttp-check expect status 200",
        "\thttp-response set-header X-Served-By %s",
        "\tdefault-server check inter %dms fastinter %dms downinter %dms fall %d rise %d"
        % (CHECK_INTER_MS, CHECK_INTER_MS, CHECK_INTER_MS, CHECK_FALL, CHECK_RISE),
    ]
    for name, p in servers:
        lines.append("\tserver %s 127.0.0.1:%d" % (name, p))
    return "\n".join(lines) + "\n"


class HAProxy:
    """HAProxy in the foreground, with its admin socket."""

    def __init__(self, tmp, servers):
        self.sock = os.path.join(tmp, "haproxy.sock")
        self.cfg = os.path.join(tmp, "haproxy.cfg")
        self.log_path = os.path.join(tmp, "haproxy.log")
        self.proc = None
        for _ in range(5):  # the free port may be taken before we bind it
            self.port = free_port()
            with open(self.cfg, "w") as f:
                f.write(haproxy_config(self.port, self.sock, servers))
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg],
                                         stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT)
            if wait_for(lambda: self.proc.poll() is not None or self.stat()):
                if self.proc.poll() is None:
                    return
            self.stop()
        raise AssertionError("haproxy did not start:\n" + self.log_text())

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def command(self, cmd):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(self.sock)
                s.sendall(cmd.encode() + b"\n")
                out = b""
                while True:
                    data = s.recv(65536)
                    if not data:
                        return out.decode()
                    out += data
        except OSError:
            return ""

    def stat(self):
        """{server name: status} for the backend, from "show stat"."""
        text = self.command("show stat")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        cols = lines[0][2:].split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(cols, line.split(",")))
            if row.get("pxname") == "coserve" and row.get("svname") not in (
                    "BACKEND", "FRONTEND"):
                out[row["svname"]] = row.get("status", "")
        return out

    def status(self, name):
        return self.stat().get(name, "")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Load:
    """CLIENTS threads on keep-alive connections through HAProxy, until
    stopped or MAX_REQUESTS. Each request is checked byte for byte and
    recorded as (phase, seconds, ok, served by)."""

    def __init__(self, port, etags):
        self.port = port
        self.etags = etags  # file -> the ETag every instance must give
        self.phase = "baseline"
        self.mix = "all"
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.records = []
        self.failures = []
        self.threads = [threading.Thread(target=self.client, args=(k,), daemon=True)
                        for k in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)
        return not any(t.is_alive() for t in self.threads)

    def count(self):
        with self.lock:
            return len(self.records)

    def one(self, conn, rnd):
        """Sends one request, checks the answer; (ok, detail, server)."""
        name = rnd.choice(sorted(FILES))
        data = FILES[name]
        etag = self.etags[name]
        kind = rnd.random()
        if self.mix == "conditional":
            kind = 0.5 + kind / 2
        start = rnd.randrange(len(data))
        end = min(len(data) - 1, start + rnd.randrange(1, 70000))
        rng = "bytes=%d-%d" % (start, end)
        if kind < 0.5:
            headers, want = {}, (200, data)
        elif kind < 0.7:
            headers, want = {"Range": rng}, (206, data[start:end + 1])
        elif kind < 0.8:
            n = rnd.randrange(1, 5000)
            headers, want = {"Range": "bytes=-%d" % n}, (206, data[-n:])
        elif kind < 0.9:
            headers, want = {"If-None-Match": etag}, (304, b"")
        elif kind < 0.97:
            headers, want = {"If-Range": etag, "Range": rng}, (206, data[start:end + 1])
        else:
            headers, want = ({"If-Range": '"0-0"', "Range": rng}, (200, data))
        conn.request("GET", "/" + name, headers)
        r = conn.read_response()
        server = r.header("x-served-by", "?")
        ok = (r.status, r.body) == want and r.header("etag") == etag
        detail = None
        if not ok:
            detail = "%s %r via %s: status %d (want %d), %d body bytes (want %d), ETag %s" % (
                name, headers, server, r.status, want[0], len(r.body), len(want[1]),
                r.header("etag"))
        return ok, detail, server, r.closes()

    def client(self, k):
        rnd = random.Random(k)
        conn = None
        while not self.stop_event.is_set():
            with self.lock:
                if len(self.records) >= MAX_REQUESTS:
                    return
            phase = self.phase
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = HTTPConnection("127.0.0.1", self.port, timeout=60)
                ok, detail, server, closes = self.one(conn, rnd)
                if closes:
                    conn.close()
                    conn = None
            except Exception as e:
                ok, detail, server = False, "%s: %s" % (type(e).__name__, e), "?"
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.monotonic() - t0
            with self.lock:
                self.records.append((phase, elapsed, ok, server, t0 + elapsed))
                if not ok:
                    self.failures.append("%s: %s" % (phase, detail))
        if conn is not None:
            conn.close()

    def figures(self, phase):
        with self.lock:
            rec = [r for r in self.records if r[0] == phase]
        ms = sorted(r[1] * 1000 for r in rec)
        by = {}
        for r in rec:
            by[r[3]] = by.get(r[3], 0) + 1
        return {"requests": len(rec), "failures": sum(1 for r in rec if not r[2]),
                "p50": percentile(ms, 50), "p99": percentile(ms, 99),
                "max": ms[-1] if ms else float("nan"), "by": by}


class HAProxyScaleOutTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if HAPROXY is None:
            print("haproxy is not installed (Debian package haproxy): skipping "
                  "the scale-out test")
            raise unittest.SkipTest("haproxy is not installed (Debian package haproxy)")
        if not SLOWFS or not os.path.exists(SLOWFS):
            raise unittest.SkipTest("SLOWFS is not set to the built slowfs.so")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="coserve-haproxy-")
        # The slowfs marker: in the docroot's path and nowhere else.
        self.marker = "docroot%08x" % random.getrandbits(32)
        self.root = os.path.join(self.tmp, self.marker)
        for name, data in FILES.items():
            write_file(os.path.join(self.root, name), data)
        self.switch = os.path.join(self.tmp, "b-is-slow")
        self.servers = {}
        self.ports = {}
        self.haproxy = None
        self.load = None

    def tearDown(self):
        if self.load is not None:
            self.load.stop()
        if self.haproxy is not None:
            self.haproxy.stop()
        for srv in self.servers.values():
            srv.stop()
            srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_instance(self, name, port=0):
        env = None
        if name == "b":
            env = {"LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": self.marker,
                   "SLOWFS_DELAY_MS": str(SLOW_DELAY_MS), "SLOWFS_SWITCH": self.switch}
        srv = Server(root=self.root, env=env, config={
            "listen": ["127.0.0.1:%d" % port],
            "health_path": "/health",
            "health_probe_interval_ms": PROBE_INTERVAL_MS,
            "health_probe_timeout_ms": PROBE_TIMEOUT_MS,
            "drain_delay_ms": DRAIN_DELAY_MS,
            "open_file_cache_ttl_ms": 600000,
            "send_timeout_ms": 60000,
        })
        self.servers[name] = srv
        self.ports[name] = srv.port
        return srv

    def health(self, name):
        try:
            return fetch("127.0.0.1", self.ports[name], "/health", timeout=5).status
        except OSError:
            return None

    def figures_line(self, phase):
        f = self.load.figures(phase)
        return ("%-11s requests=%d failures=%d p50=%.1fms p99=%.1fms max=%.1fms by=%s"
                % (phase, f["requests"], f["failures"], f["p50"], f["p99"], f["max"],
                   ",".join("%s:%d" % kv for kv in sorted(f["by"].items()))))

    def test_scale_out(self):
        for name in "abc":
            self.start_instance(name)
        # The validators every instance must give: from a directly.
        etags = {}
        for name in FILES:
            r = fetch("127.0.0.1", self.ports["a"], "/" + name)
            self.assertEqual(r.status, 200)
            etags[name] = r.header("etag")
        self.haproxy = HAProxy(self.tmp, [(n, self.ports[n]) for n in "abc"])
        hp = self.haproxy
        self.assertTrue(wait_for(lambda: all(hp.status(n) == "UP" for n in "abc")),
                        "HAProxy never saw all three up: %r" % hp.stat())
        self.load = load = Load(hp.port, etags)
        load.start()
        time.sleep(BASELINE_S)  # a stretch of load, not a wait for an event
        report = ["", "haproxy scale-out: %d clients, keep-alive, through HAProxy %s"
                  % (CLIENTS, subprocess.run([HAPROXY, "-v"], capture_output=True, text=True)
                     .stdout.split("\n")[0])]

        # 1. Rolling: a stops and comes back, c reloads.
        load.phase = "rolling"
        a = self.servers["a"]
        t_term = time.monotonic()
        a.send_signal(signal.SIGTERM)
        self.assertTrue(wait_for(lambda: hp.status("a").startswith("DOWN")),
                        "HAProxy never took a out: %r" % hp.stat())
        t_a_down = time.monotonic()
        self.assertIsNotNone(a.wait(WAIT_S), "a did not exit")
        t_a_exit = time.monotonic()
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertLess(t_a_down, t_a_exit, "a exited before HAProxy took it out")
        self.assertIn("health reports draining", a.stderr)
        port_a = self.ports["a"]
        a.cleanup()
        self.start_instance("a", port_a)
        self.assertTrue(wait_for(lambda: hp.status("a") == "UP"),
                        "a never came back: %r" % hp.stat())
        c = self.servers["c"]
        c.send_signal(signal.SIGHUP)
        c.wait_for_log("configuration reloaded")
        time.sleep(AFTER_S)
        report.append("rolling: a marked DOWN %.0f ms after SIGTERM, exited %.0f ms after "
                      "SIGTERM (drain_delay_ms=%d)"
                      % ((t_a_down - t_term) * 1000, (t_a_exit - t_term) * 1000,
                         DRAIN_DELAY_MS))

        # 2. Slow storage on b.
        load.phase = "slow"
        t_slow = time.monotonic()
        with open(self.switch, "w"):
            pass
        # One request certainly in b's slow storage while HAProxy takes b
        # out (the load's own may or may not land there): straight to b.
        direct = {}

        def fetch_direct():
            try:
                t0 = time.monotonic()
                r = fetch("127.0.0.1", self.ports["b"], "/large.bin", timeout=60)
                direct["result"] = (r.status, r.body == FILES["large.bin"])
                direct["ms"] = (time.monotonic() - t0) * 1000
            except Exception as e:
                direct["result"] = "%s: %s" % (type(e).__name__, e)
        direct_thread = threading.Thread(target=fetch_direct, daemon=True)
        direct_thread.start()
        self.assertTrue(wait_for(lambda: self.health("b") == 503, step=0.01),
                        "b's health never turned 503")
        t_b_503 = time.monotonic()
        self.assertTrue(wait_for(lambda: hp.status("b").startswith("DOWN"), step=0.01),
                        "HAProxy never took b out: %r" % hp.stat())
        t_b_down = time.monotonic()
        # Enough requests after it for a p99 to mean something, even on a
        # slow machine: the few stuck on b must stay under 1%.
        time.sleep(AFTER_S)
        wait_for(lambda: load.figures("slow")["requests"] >= SLOW_PHASE_REQUESTS,
                 step=0.1)
        direct_thread.join(60)
        os.unlink(self.switch)
        t_fast = time.monotonic()
        self.assertTrue(wait_for(lambda: hp.status("b") == "UP"),
                        "b never came back: %r" % hp.stat())
        t_b_up = time.monotonic()
        report.append("slow: b's health 503 %.0f ms after its storage turned slow (probe every "
                      "%d ms, deadline %d ms); HAProxy marked b DOWN %.0f ms after the "
                      "storage turned slow, %.0f ms after health turned 503 (inter %d ms, "
                      "fall %d); b UP again %.0f ms after storage recovered"
                      % ((t_b_503 - t_slow) * 1000, PROBE_INTERVAL_MS, PROBE_TIMEOUT_MS,
                         (t_b_down - t_slow) * 1000, (t_b_down - t_b_503) * 1000,
                         CHECK_INTER_MS, CHECK_FALL, (t_b_up - t_fast) * 1000))

        # 3. Conditional and range requests only, all three in.
        load.mix = "conditional"
        load.phase = "conditional"
        time.sleep(AFTER_S * 2)
        self.assertTrue(load.stop(), "a client thread hung")

        for phase in ("baseline", "rolling", "slow", "conditional"):
            report.append(self.figures_line(phase))
        total = self.load.count()
        report.append("total requests=%d failures=%d" % (total, len(load.failures)))
        print("\n".join(report))
        sys.stdout.flush()
        print(hp.log_text())  # HAProxy's own account of the state changes

        self.assertEqual(load.failures[:20], [])
        self.assertGreater(total, 1000, "too little load to mean anything")
        slow = load.figures("slow")
        self.assertGreater(slow["requests"], 200)
        if WRAPPED:
            print("slow: p99 not asserted: %s" % WRAPPED_SKIP)
        else:
            self.assertLess(slow["p99"], P99_LIMIT_S * 1000,
                            "the slow instance's stalls reached the clients' p99")
        self.assertLess((t_b_503 - t_slow) * 1000, SLOW_TURN_MS,
                        "b's health took too long to see its slow storage")
        # Requests b had while its storage was slow finished, byte-exact
        # (every request is checked), however long they took.
        with load.lock:
            caught = sorted(r[1] for r in load.records
                            if r[3] == "b" and r[4] >= t_slow and r[1] * 1000 >= SLOW_DELAY_MS)
        print("slow: %d load requests caught in b's slow storage, all byte-exact, the longest "
              "%.0f ms; a direct GET of large.bin from b while slow: %r in %.0f ms"
              % (len(caught), caught[-1] * 1000 if caught else 0, direct.get("result"),
                 direct.get("ms", 0)))
        self.assertEqual(direct.get("result"), (200, True),
                         "a request in b's slow storage did not finish byte-exact")
        self.assertGreaterEqual(direct["ms"], SLOW_DELAY_MS)
        cond = load.figures("conditional")
        for name in "abc":
            self.assertGreater(cond["by"].get(name, 0), 0,
                               "%s answered no conditional request" % name)
        # b's own account: it saw the slow storage and recovered (the
        # harness reads its lines on a thread of its own: wait for them).
        self.servers["b"].wait_for_log("health: storage slow: ")
        self.servers["b"].wait_for_log("storage answers again")
        for name, srv in self.servers.items():
            srv.check_clean_exit()


class ExampleConfigTest(unittest.TestCase):

    def test_example_is_valid(self):
        """packaging/haproxy/haproxy.cfg passes haproxy -c."""
        if HAPROXY is None:
            self.skipTest("haproxy is not installed (Debian package haproxy)")
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                               "packaging", "haproxy", "haproxy.cfg")
        p = subprocess.run([HAPROXY, "-c", "-f", example], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(example) as f:
            text = f.read()
        for needed in ("option httpchk", "http-check expect status 200",
                       "retry-on conn-failure empty-response response-timeout",
                       "option redispatch", "uri /health"):
            self.assertIn(needed, text)


class SameValidatorsTest(unittest.TestCase):
    """Two instances, two copies of a file with equal size and mtime but
    different inodes: the same ETag and Last-Modified, so a validator from
    one revalidates at the other."""

    def test_copies_validate_alike(self):
        tmp = tempfile.mkdtemp(prefix="coserve-validators-")
        try:
            data = os.urandom(100000)
            one = write_file(os.path.join(tmp, "one", "f.bin"), data)
            two = write_file(os.path.join(tmp, "two", "f.bin"), data)
            other = write_file(os.path.join(tmp, "other", "f.bin"), data)
            # An hour old, so Last-Modified is a strong validator too.
            mtime_ns = (int(time.time()) - 3600) * 10**9 + 123456789
            for path, ns in ((one, mtime_ns), (two, mtime_ns), (other, mtime_ns + 1000)):
                os.utime(path, ns=(mtime_ns, ns))
            st = os.stat(one)
            self.assertNotEqual(os.stat(two).st_ino, st.st_ino)
            with Server(root=os.path.dirname(one)) as s1, \
                    Server(root=os.path.dirname(two)) as s2, \
                    Server(root=os.path.dirname(other)) as s3:
                r1 = fetch(s1.host, s1.port, "/f.bin")
                r2 = fetch(s2.host, s2.port, "/f.bin")
                r3 = fetch(s3.host, s3.port, "/f.bin")
                self.assertEqual((r1.status, r2.status), (200, 200))
                self.assertEqual(r1.header("etag"), r2.header("etag"))
                self.assertEqual(r1.header("last-modified"), r2.header("last-modified"))
                self.assertNotEqual(r1.header("etag"), r3.header("etag"),
                                    "another mtime must give another ETag")
                etag, lm = r1.header("etag"), r1.header("last-modified")
                cases = [  # (headers, status, body)
                    ({"If-None-Match": etag}, 304, b""),
                    ({"If-Modified-Since": lm}, 304, b""),
                    ({"If-Match": etag}, 200, data),
                    ({"Range": "bytes=10-99"}, 206, data[10:100]),
                    ({"If-Range": etag, "Range": "bytes=500-"}, 206, data[500:]),
                    ({"If-Range": lm, "Range": "bytes=-7"}, 206, data[-7:]),
                ]
                for srv in (s1, s2):
                    for headers, status, body in cases:
                        r = fetch(srv.host, srv.port, "/f.bin", headers)
                        self.assertEqual((r.status, r.body), (status, body),
                                         "%r at %d" % (headers, srv.port))
                        self.assertEqual(r.header("etag"), etag)
                # The other copy's validators do not match ours.
                r = fetch(s3.host, s3.port, "/f.bin", {"If-None-Match": etag})
                self.assertEqual(r.status, 200)
                r = fetch(s3.host, s3.port, "/f.bin", {"If-Range": etag, "Range": "bytes=0-0"})
                self.assertEqual((r.status, r.body), (200, data))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
