"""The daemon as a process: command line, configuration errors, signals and
graceful shutdown, timeouts, the connection limit, and IPv4 + IPv6
listeners."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from coserve_test import (COSERVE, LOG_LINE_RE, SANITIZER_MARKERS, HTTPConnection,
                          SLOWDOWN, WRAPPED, WRAPPED_SKIP, ProtocolError, Server,
                          build_request, config_text,
                          curl, daemon_env, fetch, wait_for, wrap_argv,
                          ipv6_loopback_available, main, root_args, sha256, write_file)

MiB = 1 << 20
INDEX = b"<!doctype html><p>lifecycle\n"

# A config whose line 4 (or the line named) is replaced by each bad case.
BASE_LINES = [
    'listen = [ "127.0.0.1:0" ];',
    'root = "{root}";',
    'log_level = "info";',
    'index = "index.html";',
    'access_log = "off";',
]

# name, {line number: replacement text}, line the error must name.
BAD_CONFIGS = [
    ("syntax error", {4: "io_threads = ;"}, 4),
    ("missing equals", {4: 'index "index.html";'}, 4),
    ("unknown key", {4: "no_such_setting = 1;"}, 4),
    ("wrong type", {4: 'io_threads = "four";'}, 4),
    ("string for a number", {4: 'header_timeout_ms = "soon";'}, 4),
    ("io_threads negative", {4: "io_threads = -1;"}, 4),
    ("chunk_bytes too small", {4: "chunk_bytes = 1;"}, 4),
    ("unknown log level", {3: 'log_level = "loud";'}, 3),
    ("empty listen", {1: "listen = [ ];"}, 1),
    ("listen not an address", {1: 'listen = [ "nonsense" ];'}, 1),
]

# Every setting the daemon documents, with its documented example value.
FULL_CONFIG = {
    "listen": ["127.0.0.1:0"],
    "index": "index.html",
    "io_threads": 4,
    "io_queue_max": 4096,
    "max_connections": 1024,
    "header_timeout_ms": 10000,
    "keepalive_timeout_ms": 15000,
    "send_timeout_ms": 30000,
    "shutdown_grace_ms": 10000,
    "chunk_bytes": 65536,
    "log_level": "info",
    "access_log": "off",
    "mime_types": "/etc/mime.types",
}

COMBINED_LOG_RE = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
    r'"GET /index\.html\?q=1 HTTP/1\.1" 200 %d "http://referrer\.test/" "lifecycle-agent/1\.0"$'
    % len(INDEX))


def run(args, timeout=15, **kw):
    """Runs the daemon to completion; a daemon that does not exit is killed
    and reported."""
    try:
        return subprocess.run(wrap_argv([COSERVE] + root_args(args)), capture_output=True,
                               text=True, timeout=timeout * SLOWDOWN, stdin=subprocess.DEVNULL,
                               env=daemon_env(), **kw)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("coserve %s did not exit within %d s; stderr: %s"
                             % (" ".join(args), timeout, e.stderr)) from None


class LifecycleTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="coserve-life-")
        self.root = os.path.join(self.tmp, "www")
        write_file(os.path.join(self.root, "index.html"), INDEX)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_no_sanitizer(self, text):
        for marker in SANITIZER_MARKERS:
            self.assertNotIn(marker, text)

    def serve(self, **config):
        return Server(root=self.root, config=config)

    # command line

    def test_version(self):
        p = run(["-V"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.strip(), r"^coserve \d+\.\d+\.\d+$")

    def test_help(self):
        p = run(["-h"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("usage", (p.stdout + p.stderr).lower())

    def test_unknown_option(self):
        p = run(["-Z"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("usage", p.stderr.lower())
        self.assert_no_sanitizer(p.stderr)

    def test_bad_configs(self):
        for name, replace, line in BAD_CONFIGS:
            lines = [text.format(root=self.root) for text in BASE_LINES]
            for number, text in replace.items():
                lines[number - 1] = text
            path = os.path.join(self.tmp, "bad-%s.conf" % name.replace(" ", "-"))
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            for args in (["-t", "-c", path], ["-c", path]):
                with self.subTest(name, args=args[:-1]):
                    p = run(args)
                    self.assertEqual(p.returncode, 1, p.stderr)
                    self.assertIn("%s:%d:" % (path, line), p.stderr)
                    self.assertNotIn("listening on", p.stderr)
                    self.assert_no_sanitizer(p.stderr)

    def test_check_good_config(self):
        path = os.path.join(self.tmp, "full.conf")
        with open(path, "w") as f:
            f.write(config_text(dict(FULL_CONFIG, root=self.root)))
        p = run(["-t", "-c", path])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("listening on", p.stderr)
        self.assert_no_sanitizer(p.stderr)
        with Server(root=self.root, args=["-c", path]) as srv:
            self.assertEqual(fetch(srv.host, srv.port, "/").body, INDEX)

    def test_relative_root_is_relative_to_config(self):
        confdir = os.path.join(self.tmp, "etc")
        os.makedirs(confdir)
        path = os.path.join(confdir, "coserve.conf")
        with open(path, "w") as f:
            f.write(config_text({"listen": ["127.0.0.1:0"], "root": "../www"}))
        # The server's working directory is elsewhere (its own temp dir).
        with Server(args=["-c", path]) as srv:
            r = fetch(srv.host, srv.port, "/index.html")
            self.assertEqual((r.status, r.body), (200, INDEX))

    def test_root_and_listen_from_command_line(self):
        with Server(args=["-r", self.root, "-l", "127.0.0.1:0", "-l", "127.0.0.1:0"],
                    expect_listeners=2) as srv:
            self.assertEqual(len(srv.listeners), 2)
            self.assertNotEqual(srv.listeners[0][1], srv.listeners[1][1])
            for host, port in srv.listeners:
                r = fetch(host, port, "/index.html")
                self.assertEqual((r.status, r.body), (200, INDEX))

    def test_log_lines_have_one_format(self):
        with self.serve(log_level="debug") as srv:
            fetch(srv.host, srv.port, "/index.html")
            fetch(srv.host, srv.port, "/missing")
        for line in srv.stderr_lines:
            self.assertRegex(line, LOG_LINE_RE)

    def test_access_log_combined_format(self):
        log = os.path.join(self.tmp, "access.log")
        with self.serve(access_log=log) as srv:
            r = fetch(srv.host, srv.port, "/index.html?q=1",
                      {"User-Agent": "lifecycle-agent/1.0", "Referer": "http://referrer.test/"})
            self.assertEqual(r.status, 200)
        with open(log) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], COMBINED_LOG_RE)

    def test_access_log_keeps_every_line_and_byte_count(self):
        # Many requests at once, answered to a slow reader so sends are
        # partial: every line must be written, each with the full size.
        log = os.path.join(self.tmp, "access.log")
        body = os.urandom(60000)
        write_file(os.path.join(self.root, "sixty.bin"), body)
        n = 3000
        # All on one connection: past keepalive_requests' default of 1000.
        with self.serve(access_log=log, keepalive_requests=0) as srv:
            with HTTPConnection(srv.host, srv.port, timeout=30, rcvbuf=8192) as c:
                # Sent from a thread: the server stops reading while its
                # responses back up, and so must the sender.
                sender = threading.Thread(target=c.send, args=(
                    b"".join(build_request("GET", "/sixty.bin") for _ in range(n)),))
                sender.start()
                for _ in range(n):
                    self.assertEqual(c.read_response().body, body)
                sender.join()
        with open(log) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), n)
        for line in lines:
            self.assertIn('"GET /sixty.bin HTTP/1.1" 200 60000 ', line)

    def test_sigusr1_reopens_the_access_log(self):
        log = os.path.join(self.tmp, "access.log")
        rotated = log + ".1"

        # The writer works on its own thread and flushes within a second:
        # poll for what it must produce, bounded.
        def contains(path, text):
            with open(path) as f:
                return text in f.read()

        with self.serve(access_log=log) as srv:
            fetch(srv.host, srv.port, "/index.html?before")
            # A line is queued once the response is complete (file closed
            # included), which may be after the client has it.
            wait_for(lambda: contains(log, "?before"), what="first line written")
            os.rename(log, rotated)  # what logrotate does
            srv.send_signal(signal.SIGUSR1)
            wait_for(lambda: os.path.exists(log), what="log reopened")
            fetch(srv.host, srv.port, "/index.html?after")
        with open(rotated) as f:
            old = f.read()
        with open(log) as f:
            new = f.read()
        self.assertIn("?before", old)
        self.assertNotIn("?after", old)
        self.assertIn("?after", new)
        self.assertNotIn("?before", new)

    def test_keepalive_timeout_zero_means_close(self):
        with self.serve(keepalive_timeout_ms=0) as srv:
            r = fetch(srv.host, srv.port, "/index.html")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("connection"), "close")

    # signals

    def read_body(self, c, want, got, rate=None):
        """Reads into got until it holds want bytes or the peer closes;
        with rate (bytes/s), no faster than that: a slow client."""
        t0, start = time.monotonic(), len(got)
        while len(got) < want:
            if not c.buf and not c.fill():
                break
            got += c.buf
            c.buf.clear()
            if rate is not None:
                ahead = (len(got) - start) / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)  # the slowness is the test, not a wait
        return got

    def test_sigterm_lets_a_slow_download_finish(self):
        data = os.urandom(24 * MiB)
        write_file(os.path.join(self.root, "large.bin"), data)
        with self.serve(shutdown_grace_ms=20000 * SLOWDOWN, send_timeout_ms=30000) as srv:
            with HTTPConnection(srv.host, srv.port, timeout=30, rcvbuf=16384) as c:
                c.request("GET", "/large.bin")
                head = c.read_head()
                self.assertIn(b" 200 ", head.split(b"\r\n")[0])
                got = self.read_body(c, MiB, bytearray())  # under way ...
                srv.send_signal(signal.SIGTERM)  # ... when the signal comes
                self.assert_not_accepting(srv)
                t0 = time.monotonic()
                got = self.read_body(c, len(data), got, rate=16 * MiB)  # > 1 s more
                self.assertGreater(time.monotonic() - t0, 1.0)
                self.assertEqual(len(got), len(data), "download cut short by shutdown")
                self.assertEqual(sha256(bytes(got)), sha256(data))
            self.assertEqual(srv.wait(20 * SLOWDOWN), 0, srv.stderr)

    def test_shutdown_grace_is_bounded(self):
        write_file(os.path.join(self.root, "large.bin"), os.urandom(24 * MiB))
        # The bounds on the exit stretch with the daemon's pace (valgrind's
        # exit alone takes seconds), and the send timeout, which would end
        # the stalled response if the grace did not, with them.
        with self.serve(shutdown_grace_ms=1000, send_timeout_ms=60000 * SLOWDOWN) as srv:
            with HTTPConnection(srv.host, srv.port, timeout=30, rcvbuf=16384) as c:
                c.request("GET", "/large.bin")
                self.assertIn(b" 200 ", c.read_head())
                t0 = time.monotonic()  # the client now stops reading for good
                srv.send_signal(signal.SIGTERM)
                code = srv.wait(15 * SLOWDOWN)
                elapsed = time.monotonic() - t0
            self.assertEqual(code, 0, srv.stderr)
            self.assertGreater(elapsed, 0.5, "the in-flight response got no grace at all")
            self.assertLess(elapsed, 6.0 * SLOWDOWN, "shutdown_grace_ms=1000 was not enforced")

    def test_send_timeout_closes_a_stalled_client(self):
        data = os.urandom(24 * MiB)
        write_file(os.path.join(self.root, "large.bin"), data)
        with self.serve(send_timeout_ms=1000) as srv:
            with HTTPConnection(srv.host, srv.port, timeout=10, rcvbuf=16384) as c:
                c.request("GET", "/large.bin")
                self.assertIn(b" 200 ", c.read_head())
                time.sleep(3)  # the stall under test: three send timeouts long
                got = self.read_body(c, len(data), bytearray())
                self.assertTrue(c.eof)
                self.assertLess(len(got), len(data),
                                "a client that read nothing for 3 s still got everything")
            r = fetch(srv.host, srv.port, "/index.html")
            self.assertEqual(r.body, INDEX)

    def assert_not_accepting(self, srv):
        """After SIGTERM, new connections are refused or never answered."""
        # The download must fit in what is left of the grace after it.
        deadline = time.monotonic() + 10 * SLOWDOWN
        while True:
            try:
                r = fetch(srv.host, srv.port, "/index.html", timeout=1)
            except (OSError, ProtocolError):
                return  # refused, reset, closed or unanswered
            self.assertEqual(r.status, 200)
            if time.monotonic() > deadline:
                self.fail("still serving new connections %d s after SIGTERM" % (10 * SLOWDOWN))
            time.sleep(0.05)  # the signal is asynchronous; poll until it lands

    def test_sigterm_with_idle_keepalive_connection_exits_promptly(self):
        # The exit's bound stretches with the daemon's pace, and the grace
        # and keep-alive it must stay short of with it.
        with self.serve(shutdown_grace_ms=20000 * SLOWDOWN,
                        keepalive_timeout_ms=60000 * SLOWDOWN) as srv:
            with srv.connect() as c:
                c.request("GET", "/index.html")
                self.assertEqual(c.read_response().status, 200)
                t0 = time.monotonic()
                srv.send_signal(signal.SIGTERM)
                self.assertEqual(srv.wait(15 * SLOWDOWN), 0, srv.stderr)
                self.assertLess(time.monotonic() - t0, 5 * SLOWDOWN,
                                "an idle connection is not an in-flight response")

    def test_lingering_close_is_bounded_and_aborted(self):
        # A client that pipelined past keepalive_requests, then neither
        # sends nor closes: the lingering close gives up within its 2 s,
        # a drain waits no longer, and an abort ends it at once.
        for abort in (False, True):
            with self.subTest(abort=abort), self.serve(
                    keepalive_requests=1, shutdown_grace_ms=20000 * SLOWDOWN) as srv:
                with srv.connect() as c:
                    # The linger starts after this and lasts 2 s.
                    t_sent = time.monotonic()
                    c.send(build_request("GET", "/index.html") * 2)
                    r = c.read_response()
                    self.assertEqual((r.status, r.header("connection")), (200, "close"))
                    # Our side is shut down for writing: the server lingers.
                    self.assertTrue(c.closed_by_peer())
                    t0 = time.monotonic()
                    srv.send_signal(signal.SIGTERM)
                    if abort:
                        srv.wait_for_log("shutting down")
                        srv.send_signal(signal.SIGTERM)
                    self.assertEqual(srv.wait(), 0, srv.stderr)
                    t_exit = time.monotonic()
                if abort and WRAPPED:
                    # valgrind's exit alone can outlast the 2 s linger.
                    print("\nnot asserting the exit within the 2 s linger: %s" % WRAPPED_SKIP)
                elif abort:
                    # Out before the linger could have run out: the abort ended it.
                    self.assertLess(t_exit - t_sent, 2.0, srv.stderr)
                else:
                    # The 2 s linger, not the grace: both stretch with the pace.
                    self.assertLess(t_exit - t0, 4.0 * SLOWDOWN, srv.stderr)

    def test_sigint_exits_zero(self):
        with self.serve() as srv:
            fetch(srv.host, srv.port, "/index.html")
            self.assertEqual(srv.stop(signal.SIGINT), 0, srv.stderr)

    # timeouts and limits

    def test_header_timeout_is_a_total_deadline(self):
        with self.serve(header_timeout_ms=1000, keepalive_timeout_ms=10000) as srv:
            trickle = b"GET /index.html HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 200
            with srv.connect(timeout=10) as c:
                t0 = time.monotonic()
                closed_at = None
                for i in range(len(trickle)):
                    if time.monotonic() - t0 > 8:
                        break
                    try:
                        c.send(trickle[i:i + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        closed_at = time.monotonic()
                        break
                    if not c.silent_for(0.2):
                        try:
                            if c.buf or c.fill():  # a 408 is allowed before the close
                                c.read_response()
                            closed = c.closed_by_peer(2)
                        except ProtocolError:
                            closed = True
                        if closed:
                            closed_at = time.monotonic()
                            break
                self.assertIsNotNone(closed_at, "a client sending a byte every 200 ms "
                                     "kept the connection past the header deadline")
                elapsed = closed_at - t0
                self.assertGreater(elapsed, 0.5, "closed long before header_timeout_ms")
                self.assertLess(elapsed, 8.0)  # gross; keepalive_timeout_ms is 10 s

    def test_idle_keepalive_connection_is_closed(self):
        with self.serve(keepalive_timeout_ms=1000, header_timeout_ms=10000) as srv:
            with srv.connect() as c:
                c.request("GET", "/index.html")
                self.assertEqual(c.read_response().body, INDEX)
                t0 = time.monotonic()
                self.assertTrue(c.closed_by_peer(9), "idle connection never closed")
                elapsed = time.monotonic() - t0
                self.assertGreater(elapsed, 0.5)
                self.assertLess(elapsed, 8.0)  # gross; header_timeout_ms is 10 s

    def test_parked_keepalive_connection(self):
        # Idle between requests, a keep-alive connection gives up its
        # coroutine (parked); it must still serve its next request, and
        # still close when the keep-alive time is up.
        def coroutines(srv):
            r = fetch(srv.host, srv.port, "/metrics-here")
            self.assertEqual(r.status, 200)
            line = [l for l in r.body.decode().splitlines()
                    if l.startswith("coserve_coroutines ")]
            return int(line[0].split()[1])

        with self.serve(keepalive_timeout_ms=3000, metrics_path="/metrics-here") as srv:
            with srv.connect() as c:
                c.request("GET", "/index.html")
                self.assertEqual(c.read_response().body, INDEX)
                # Parked once its coroutine has ended (the response may be
                # out before it has): only the scrape's own coroutine is alive.
                wait_for(lambda: coroutines(srv) == 1, what="the connection parked")
                c.request("GET", "/index.html")
                self.assertEqual(c.read_response().body, INDEX)
                t0 = time.monotonic()
                self.assertTrue(c.closed_by_peer(10), "parked connection never closed")
                self.assertGreater(time.monotonic() - t0, 2.0)

    def test_max_connections(self):
        with self.serve(max_connections=4, keepalive_timeout_ms=60000,
                        header_timeout_ms=60000) as srv:
            held = [srv.connect() for _ in range(4)]
            try:
                for c in held:
                    c.request("GET", "/index.html")
                    self.assertEqual(c.read_response().body, INDEX)
                fifth = srv.connect(timeout=15)
                with fifth:
                    fifth.request("GET", "/index.html")
                    self.assertTrue(fifth.silent_for(1.0),
                                    "a 5th connection was answered (or dropped) while 4 were open")
                    held.pop(0).close()
                    r = fifth.read_response()
                    self.assertEqual((r.status, r.body), (200, INDEX))
                for c in held:  # the others were left alone
                    c.request("GET", "/index.html")
                    self.assertEqual(c.read_response().body, INDEX)
            finally:
                for c in held:
                    c.close()

    def test_ipv4_and_ipv6_listeners(self):
        if not ipv6_loopback_available():
            self.skipTest("no IPv6 loopback here")
        with self.serve(listen=["127.0.0.1:0", "[::1]:0"]) as srv:
            hosts = sorted(h for h, _ in srv.listeners)
            self.assertEqual(hosts, ["127.0.0.1", "::1"])
            for i, (host, port) in enumerate(srv.listeners):
                with self.subTest(host):
                    r = fetch(host, port, "/index.html")
                    self.assertEqual((r.status, r.body), (200, INDEX))
                    out = os.path.join(self.tmp, "curl-%d" % i)
                    code, p = curl(srv.url("/index.html", listener=i), out, ["--globoff"])
                    self.assertEqual(code, 200, p.stderr)
                    with open(out, "rb") as f:
                        self.assertEqual(f.read(), INDEX)


if __name__ == "__main__":
    main()
