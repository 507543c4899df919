"""coserve as a system service: the sd_notify protocol on a socket of our own
(READY, RELOADING with MONOTONIC_USEC, STATUS, WATCHDOG, STOPPING), socket
activation through systemd-socket-activate, SIGHUP reloads under continuous
load (one of them broken) that lose no request, and the privilege drop."""

import os
import pwd
import random
import re
import secrets
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import coserve_test
from coserve_test import (COSERVE, READY_TIMEOUT_S, SLOWDOWN, WAIT_S, DaemonError,
                          HTTPConnection, Server, config_text, daemon_env, daemon_nodelay, fetch,
                          main, wrap_argv, write_file)
# The TLS tests' certificates (made with the openssl CLI) and client.
from coserve_tls import Certs, TLSConnection, client_context

AS_ROOT = os.geteuid() == 0
NOTIFY_TIMEOUT_S = 10.0  # any one expected notify message
STATUS_RE = re.compile(
    r"^(\d+) connections, (\d+\.\d) requests/s, (\d+) I/O jobs queued$")
RELOAD_RE = re.compile(r"configuration reloaded|reload failed")
CONF_ERROR_RE = re.compile(r"coserve\.conf:\d+: ")
INDEX = b"<!doctype html><p>service\n"


def coserve_has_systemd():
    """Whether the daemon links libsystemd (sd_notify, sd_listen_fds)."""
    try:
        with open(COSERVE, "rb") as f:
            return b"libsystemd.so" in f.read()
    except OSError:
        return False


def socket_activate_tool():
    for path in ("/usr/bin/systemd-socket-activate", "/lib/systemd/systemd-socket-activate",
                 "/usr/lib/systemd/systemd-socket-activate"):
        if os.access(path, os.X_OK):
            return path
    return shutil.which("systemd-socket-activate")


def free_port():
    """A port that was free a moment ago (the caller retries on EADDRINUSE)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_bind(host):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


def write_config(path, text):
    """Replaces the file in one step: a reload never reads half a file."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


class NotifySocket:
    """The service manager's end of sd_notify(3): a Unix datagram socket of
    the test's own, named by path or (abstract=True) in the abstract
    namespace. Every datagram received is kept in self.log, in order, as
    (monotonic time, {field: value}); a message's kind is its first field."""

    def __init__(self, abstract=False):
        self.tmp = None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "coserve-test-%d-%s" % (os.getpid(), secrets.token_hex(8))
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.tmp = tempfile.mkdtemp(prefix="coserve-notify-")
            self.address = os.path.join(self.tmp, "notify")
            self.sock.bind(self.address)
        self.log = []
        self.cursor = 0  # next() returns messages from here on

    def close(self):
        self.sock.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def receive(self, timeout):
        """Appends the next datagram to self.log; False when none arrives."""
        r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not r:
            return False
        data = self.sock.recv(4096)
        fields = {}
        for line in data.decode("utf-8", "replace").split("\n"):
            if line:
                key, _, value = line.partition("=")
                fields[key] = value
        fields["_kind"] = data.split(b"=", 1)[0].decode("ascii", "replace")
        self.log.append((time.monotonic(), fields))
        return True

    def next(self, timeout=NOTIFY_TIMEOUT_S, ignore=("WATCHDOG", "STATUS")):
        """The next message (from the cursor on) whose kind is not in ignore,
        or None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            while self.cursor < len(self.log):
                _, msg = self.log[self.cursor]
                self.cursor += 1
                if msg["_kind"] not in ignore:
                    return msg
            if not self.receive(deadline - time.monotonic()):
                return None

    def kinds(self, ignore=()):
        return [m["_kind"] for _, m in self.log if m["_kind"] not in ignore]

    def of_kind(self, kind):
        return [(t, m) for t, m in self.log if m["_kind"] == kind]

    def wait_count(self, kind, count, timeout):
        """Receives until count messages of kind have arrived in all."""
        deadline = time.monotonic() + timeout
        while len(self.of_kind(kind)) < count:
            if not self.receive(deadline - time.monotonic()):
                break
        return self.of_kind(kind)


def make_root(base, mode=None):
    """A document root with index.html and a.txt (mode: chmod the lot)."""
    root = os.path.join(base, "www")
    write_file(os.path.join(root, "index.html"), INDEX)
    write_file(os.path.join(root, "a.txt"), b"a" * 3000)
    if mode is not None:
        os.chmod(base, mode)
        os.chmod(root, mode)
        for name in os.listdir(root):
            os.chmod(os.path.join(root, name), 0o644)
    return root


class NotifyTest(unittest.TestCase):

    def setUp(self):
        if not coserve_has_systemd():
            self.skipTest("coserve was built without systemd support: no sd_notify to test")
        self.tmp = tempfile.mkdtemp(prefix="coserve-svc-")
        self.root = make_root(self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_ready(self, ns, first=False):
        msg = ns.next()
        self.assertIsNotNone(msg, "no READY=1 within %.0f s; got %r"
                             % (NOTIFY_TIMEOUT_S, ns.kinds(ignore=("WATCHDOG",))))
        self.assertEqual((msg["_kind"], msg.get("READY")), ("READY", "1"), msg)
        if first:
            self.assertEqual(ns.log[0][1]["_kind"], "READY", "READY=1 is not the first message")

    def reload(self, srv, ns, expect_ok):
        """SIGHUP: RELOADING=1 with a MONOTONIC_USEC of now, then READY=1,
        and the log line for the outcome."""
        start = len(srv.stderr_lines)
        before = time.clock_gettime(time.CLOCK_MONOTONIC)
        srv.send_signal(signal.SIGHUP)
        msg = ns.next()
        after = time.clock_gettime(time.CLOCK_MONOTONIC)
        self.assertIsNotNone(msg, "no RELOADING=1 after SIGHUP")
        self.assertEqual(msg["_kind"], "RELOADING", msg)
        self.assertEqual(msg["RELOADING"], "1")
        self.assertRegex(msg.get("MONOTONIC_USEC", ""), r"^\d+$", msg)
        usec = int(msg["MONOTONIC_USEC"]) / 1e6
        # The daemon's clock is ours: sent between our SIGHUP and our receipt.
        self.assertGreaterEqual(usec, before - 0.05, (usec, before))
        self.assertLessEqual(usec, after + 0.05, (usec, after))
        self.assertLess(after - usec, 3.0)
        self.assert_ready(ns)
        line = srv.wait_for_log(RELOAD_RE, since=start)
        self.assertIn("configuration reloaded" if expect_ok else "reload failed", line)
        return start

    def test_notify_sequence(self):
        with NotifySocket() as ns, Server(root=self.root, env={
                "NOTIFY_SOCKET": ns.address, "WATCHDOG_USEC": "400000"}) as srv:
            t_start = time.monotonic()
            self.assert_ready(ns, first=True)
            # One idle keep-alive connection for STATUS to count.
            with srv.connect() as c:
                c.request("GET", "/a.txt")
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, b"a" * 3000))
                self.assertFalse(r.closes())

                self.reload(srv, ns, expect_ok=True)

                # A broken file: the reload fails, READY=1 all the same.
                with open(srv.config_path) as f:
                    good = f.read()
                write_config(srv.config_path, good + "io_threads = ;\n")
                start = self.reload(srv, ns, expect_ok=False)
                errors = [l for l in srv.stderr_lines[start:] if CONF_ERROR_RE.search(l)]
                self.assertTrue(errors, "no file:line: message; stderr:\n" + srv.stderr)
                self.assertTrue(srv.alive())
                r = fetch(srv.host, srv.port, "/")
                self.assertEqual((r.status, r.body), (200, INDEX))
                write_config(srv.config_path, good)

                # WATCHDOG=1 every WATCHDOG_USEC/2, from the reactor.
                pings = ns.wait_count("WATCHDOG", 6, 5.0)
                self.assertGreaterEqual(len(pings), 6, "WATCHDOG=1 messages: %d" % len(pings))
                for _, m in pings:
                    self.assertEqual(m, {"WATCHDOG": "1", "_kind": "WATCHDOG"})
                gaps = sorted(b[0] - a[0] for a, b in zip(pings, pings[1:]))
                median = gaps[len(gaps) // 2]
                self.assertTrue(0.1 <= median <= 0.35, "median watchdog interval %.3f s" % median)

                # STATUS= within about 5 s of start-up.
                status = ns.wait_count("STATUS", 1, max(t_start + 8.0 - time.monotonic(), 0.1))
                self.assertTrue(status, "no STATUS= within 8 s; got %r" % ns.kinds())
                text = status[0][1]["STATUS"]
                m = STATUS_RE.match(text)
                self.assertIsNotNone(m, "STATUS=%r" % text)
                self.assertGreaterEqual(int(m.group(1)), 1, text)  # ours is open
                self.assertGreaterEqual(float(m.group(2)), 0.0, text)

            srv.check_clean_exit()
            self.assertEqual(ns.next(), {"STOPPING": "1", "_kind": "STOPPING"})
            while ns.receive(0.2):
                pass
            self.assertEqual(ns.kinds(ignore=("WATCHDOG", "STATUS")),
                             ["READY", "RELOADING", "READY", "RELOADING", "READY", "STOPPING"])
            print("notify: %d messages (%d WATCHDOG, %d STATUS: %r)"
                  % (len(ns.log), len(ns.of_kind("WATCHDOG")), len(ns.of_kind("STATUS")), text),
                  file=sys.stderr)

    def test_abstract_socket(self):
        with NotifySocket(abstract=True) as ns, Server(root=self.root, env={
                "NOTIFY_SOCKET": ns.address}) as srv:
            self.assert_ready(ns, first=True)
            srv.check_clean_exit()
            self.assertEqual(ns.next()["_kind"], "STOPPING")

    def test_watchdog_pid(self):
        """WATCHDOG_PID names the process the watchdog is for: another's pid
        turns the pings off, the daemon's own keeps them."""
        with NotifySocket() as ns, Server(root=self.root, env={
                "NOTIFY_SOCKET": ns.address, "WATCHDOG_USEC": "200000",
                "WATCHDOG_PID": str(os.getpid())}) as srv:
            self.assert_ready(ns, first=True)
            self.assertEqual(ns.wait_count("WATCHDOG", 1, 1.0), [],
                             "WATCHDOG=1 sent though WATCHDOG_PID is not the daemon's")
            srv.check_clean_exit()
        with NotifySocket() as ns:
            srv = Server(root=self.root, env={"NOTIFY_SOCKET": ns.address,
                                              "WATCHDOG_USEC": "200000"}, start=False)
            # The shell's pid is the daemon's once it execs.
            srv.args = ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"',
                        "sh"] + srv.args
            with srv:
                srv.start()
                self.assert_ready(ns, first=True)
                self.assertGreaterEqual(len(ns.wait_count("WATCHDOG", 3, 3.0)), 3,
                                        "no WATCHDOG=1 with WATCHDOG_PID set to the daemon's pid")


class ActivatedServer(Server):
    """coserve started by systemd-socket-activate. Without --accept the tool
    binds the port, waits for the first client, then execs coserve in its
    own process with the listening socket passed (LISTEN_FDS=1): start()
    returns once the port listens, and the first connection starts coserve."""

    def __init__(self, tool, port, fdname=None, **kw):
        super().__init__(start=False, **kw)
        self.activated_port = port
        # systemd-socket-activate passes only what -E names.
        passed = ["-E%s=%s" % (k, v) for k, v in sorted(self.env.items())
                  if k in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS")]
        if fdname is not None:  # the socket's name, as FileDescriptorName= gives it
            passed.append("--fdname=" + fdname)
        self.args = [tool, "-l", "127.0.0.1:%d" % port] + passed + ["--"] + self.args
        self.listeners = [("127.0.0.1", port)]

    def start(self):
        self.proc = subprocess.Popen(
            wrap_argv(self.args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env, cwd=self.tmp)
        coserve_test._live_servers.add(self)
        self._threads = [threading.Thread(target=self._read_stderr, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        for t in self._threads:
            t.start()
        self.wait_line("Listening on 127.0.0.1:%d" % self.activated_port)
        return self

    def wait_line(self, text):
        try:
            return self.wait_for_log(text, timeout=READY_TIMEOUT_S)
        except DaemonError:
            if self.proc.poll() is None:
                self._kill()
            else:
                self._join_readers()
            raise DaemonError("no %r (exit %r); stderr:\n%s"
                              % (text, self.proc.returncode, self.stderr)) from None


class SocketActivationTest(unittest.TestCase):

    def setUp(self):
        self.tool = socket_activate_tool()
        if self.tool is None:
            self.skipTest("systemd-socket-activate not found (package systemd)")
        if not coserve_has_systemd():
            self.skipTest("coserve was built without systemd support: no sd_listen_fds")
        self.tmp = tempfile.mkdtemp(prefix="coserve-svc-")
        self.root = make_root(self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def activated(self, config, fdname=None):
        """An ActivatedServer listening on a free port (another, should a
        process take it first), config(port) its settings: (server, port)."""
        for attempt in range(5):
            port = free_port()
            srv = ActivatedServer(self.tool, port, fdname=fdname, root=self.root,
                                  config=config(port))
            try:
                srv.start()
                return srv, port
            except DaemonError:
                busy = "Address already in use" in srv.stderr
                srv.cleanup()
                if not busy or attempt == 4:
                    raise

    def test_systemd_socket_activate(self):
        # The configured address cannot be bound here (TEST-NET-1): coserve
        # starts only because the passed socket replaces the listen list.
        srv, port = self.activated(lambda port: {"listen": ["192.0.2.1:8080"]})
        with srv:
            # The first client, queued before coserve even runs, starts it.
            r = fetch("127.0.0.1", port, "/")
            self.assertEqual((r.status, r.body), (200, INDEX))
            line = srv.wait_line("coserve: info: listening on ")
            self.assertRegex(line, r"listening on 127\.0\.0\.1:%d \(socket activation\)$" % port)
            self.assertFalse([l for l in srv.stderr_lines if "192.0.2.1" in l], srv.stderr)
            # A reload keeps the passed socket, whatever the file says.
            start = len(srv.stderr_lines)
            srv.send_signal(signal.SIGHUP)
            self.assertIn("configuration reloaded", srv.wait_for_log(RELOAD_RE, since=start))
            self.assertFalse([l for l in srv.stderr_lines if "no longer listening" in l])
            with HTTPConnection("127.0.0.1", port) as c:
                for _ in range(3):
                    c.request("GET", "/a.txt")
                    r = c.read_response()
                    self.assertEqual((r.status, r.body), (200, b"a" * 3000))
                # Set on each connection: the passed socket was not ours.
                self.assertEqual(daemon_nodelay(srv.pid, c.sock), 1)
            srv.check_clean_exit()  # SIGTERM to coserve itself: it was exec'd

    def test_socket_activated_tls(self):
        """A passed socket speaks TLS when its name says so (--fdname=https,
        as FileDescriptorName= in a unit), or when a listen entry marked
        tls names its address (the list is not opened, but says what the
        socket speaks; a reload may turn it plain). A TLS socket with no
        certificate to serve is refused at start-up."""
        certs = Certs(os.path.join(self.tmp, "certs"))
        chain, key = certs.leaf("activated", ["DNS:default.test", "IP:127.0.0.1"])
        ctx = client_context(certs.ca)
        tls = {"tls_certificate": chain, "tls_certificate_key": key}
        cases = [
            # (fdname, listen for the port passed)
            ("https", lambda port: ["192.0.2.1:8080"]),
            ("tls", lambda port: ["127.0.0.1:%d" % port]),
            (None, lambda port: ["192.0.2.1:8443", "127.0.0.1:%d tls" % port]),
        ]
        for fdname, listen in cases:
            srv, port = self.activated(lambda port: dict(tls, listen=listen(port)), fdname)
            with srv:
                # The first client starts coserve: its handshake waits for it.
                with TLSConnection("127.0.0.1", port, ctx, "default.test",
                                   timeout=READY_TIMEOUT_S) as c:
                    self.assertEqual(c.common_name(), "activated")
                    c.request("GET", "/", {"Connection": "close"})
                    r = c.read_response()
                    self.assertEqual((r.status, r.body), (200, INDEX), fdname)
                line = srv.wait_line("coserve: info: listening on ")
                self.assertRegex(line, r"listening on 127\.0\.0\.1:%d "
                                 r"\(tls, socket activation\)$" % port)
                # Plain HTTP on it gets the TLS port's 400.
                self.assertEqual(fetch("127.0.0.1", port, "/").status, 400)
                if fdname is None:
                    # The entry loses its tls: connections from then on
                    # are plain.
                    with open(srv.config_path) as f:
                        text = f.read()
                    write_config(srv.config_path, text.replace(" tls\"", "\""))
                    start = len(srv.stderr_lines)
                    srv.send_signal(signal.SIGHUP)
                    self.assertIn("configuration reloaded",
                                  srv.wait_for_log(RELOAD_RE, since=start))
                    r = fetch("127.0.0.1", port, "/")
                    self.assertEqual((r.status, r.body), (200, INDEX))
        # Named https, but no certificate: coserve refuses to start.
        srv, port = self.activated(lambda port: {"listen": ["192.0.2.1:8080"]}, "https")
        srv.expect_exit = 1
        with srv:
            with HTTPConnection("127.0.0.1", port, timeout=READY_TIMEOUT_S) as c:
                self.assertTrue(c.closed_by_peer(READY_TIMEOUT_S))
            self.assertEqual(srv.wait(), 1)
            self.assertTrue([l for l in srv.stderr_lines if re.search(
                r"127\.0\.0\.1:%d, passed by the service manager, is TLS: it needs "
                r"tls_certificate" % port, l)], srv.stderr)

    def test_foreign_listen_pid_ignored(self):
        """LISTEN_FDS meant for another process: the configured list is used."""
        with Server(root=self.root, env={"LISTEN_FDS": "1", "LISTEN_PID": "1"}) as srv:
            self.assertFalse([l for l in srv.stderr_lines if "socket activation" in l])
            self.assertEqual(fetch(srv.host, srv.port, "/").body, INDEX)


class ReloadUnderLoadTest(unittest.TestCase):
    """Ten SIGHUPs while clients keep fetching: none of their requests fails."""

    THREADS = 4
    RELOADS_GAP = 150  # requests completed between two reloads, at least

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="coserve-reload-")
        rng = random.Random(4)
        self.files = {
            "/small.txt": rng.randbytes(1000),
            "/medium.bin": rng.randbytes(200 * 1024),
            "/large.bin": rng.randbytes(1536 * 1024),
            "/dir/nested.html": rng.randbytes(5000),
        }
        self.root1 = os.path.join(self.tmp, "www1")
        self.root2 = os.path.join(self.tmp, "www2")
        for root in (self.root1, self.root2):
            for path, data in self.files.items():
                write_file(root + path, data)
        self.lock = threading.Lock()
        self.requests = 0
        self.failures = []
        self.stop = threading.Event()
        self.phase = "start"

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, resp, path, rng_header):
        data = self.files[path]
        if rng_header is None:
            if resp.status != 200 or resp.body != data:
                raise AssertionError("GET %s: %d, %d of %d bytes%s" % (
                    path, resp.status, len(resp.body), len(data),
                    "" if resp.status != 200 else " (bytes differ)"))
            return
        first, last = rng_header
        want = data[first:last + 1]
        cr = "bytes %d-%d/%d" % (first, last, len(data))
        if resp.status != 206 or resp.header("content-range") != cr or resp.body != want:
            raise AssertionError("GET %s Range %d-%d: %d %r, %d bytes" % (
                path, first, last, resp.status, resp.header("content-range"), len(resp.body)))

    def one_request(self, conn, rng, close):
        path = rng.choice(list(self.files))
        headers = {}
        span = None
        if rng.random() < 0.35:
            size = len(self.files[path])
            first = rng.randrange(size)
            last = min(size - 1, first + rng.randrange(1, 100000))
            span = (first, last)
            headers["Range"] = "bytes=%d-%d" % span
        if close:
            headers["Connection"] = "close"
        conn.request("GET", path, headers)
        self.check(conn.read_response(), path, span)

    def client(self, seed, listeners):
        rng = random.Random(seed)
        while not self.stop.is_set():
            host, port = rng.choice(list(listeners))
            phase = self.phase
            done = 0
            try:
                with HTTPConnection(host, port, timeout=15) as c:
                    if rng.random() < 0.4:  # a new connection per request
                        self.one_request(c, rng, close=True)
                        done = 1
                    else:  # keep-alive, several in a row
                        for _ in range(rng.randint(2, 8)):
                            self.one_request(c, rng, close=False)
                            done += 1
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                with self.lock:
                    self.failures.append("%s:%d during %s: %s: %s"
                                         % (host, port, phase, type(e).__name__, e))
                    self.requests += done + 1
                continue
            with self.lock:
                self.requests += done

    def wait_requests(self, target, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.requests >= target:
                    return
            if time.monotonic() > deadline:
                raise AssertionError("the load stalled: %d of %d requests" % (self.requests, target))
            time.sleep(0.01)

    def test_reload_under_load(self):
        second = "127.0.0.2" if can_bind("127.0.0.2") else "127.0.0.1"
        base = {"listen": ["127.0.0.1:0"], "root": self.root1}
        both = ["127.0.0.1:0", "%s:0" % second]
        # (what changes, settings over the defaults, or None for a broken file)
        plan = [
            ("the same configuration", dict(base)),
            ("root: an identical copy", dict(base, root=self.root2)),
            ("a second listen address", dict(base, root=self.root2, listen=both)),
            ("a broken file", None),
            ("the file restored", dict(base, root=self.root2, listen=both)),
            ("root: back to the first", dict(base, listen=both)),
            ("chunk_bytes 4096", dict(base, listen=both, chunk_bytes=4096)),
            ("keepalive_timeout_ms 5000", dict(base, listen=both, keepalive_timeout_ms=5000)),
            ("max_connections 512", dict(base, listen=both, max_connections=512)),
            ("the same configuration again", dict(base, listen=both)),
        ]
        with Server(root=self.root1) as srv:
            defaults = dict(srv.settings)
            listeners = [(srv.host, srv.port)]
            threads = [threading.Thread(target=self.client, args=(i, listeners), daemon=True)
                       for i in range(self.THREADS)]
            for t in threads:
                t.start()
            broken = 0
            try:
                self.wait_requests(self.RELOADS_GAP)
                for i, (what, settings) in enumerate(plan):
                    if settings is None:
                        with open(srv.config_path) as f:
                            good = f.read()
                        write_config(srv.config_path, good + 'listen = [ "127.0.0.1:0" ;\n')
                    else:
                        write_config(srv.config_path, config_text(dict(defaults, **settings)))
                    self.phase = "reload %d (%s)" % (i + 1, what)
                    start = len(srv.stderr_lines)
                    srv.send_signal(signal.SIGHUP)
                    line = srv.wait_for_log(RELOAD_RE, since=start)
                    if settings is None:
                        broken += 1
                        self.assertIn("reload failed", line)
                        self.assertTrue([l for l in srv.stderr_lines[start:]
                                         if CONF_ERROR_RE.search(l)], srv.stderr)
                    else:
                        self.assertIn("configuration reloaded", line, what)
                    if settings is not None and len(settings["listen"]) > len(listeners):
                        srv.wait_for_log(re.compile(r"listening on %s:\d+$" % re.escape(second)),
                                         since=start)
                        self.assertEqual(len(srv.listeners), 2, srv.stderr)
                        host, port = srv.listeners[1]
                        r = fetch(host, port, "/small.txt")
                        self.assertEqual((r.status, r.body), (200, self.files["/small.txt"]))
                        listeners.append((host, port))
                    with self.lock:
                        target = self.requests + self.RELOADS_GAP
                    self.wait_requests(target)
                self.phase = "after the reloads"
            finally:
                self.stop.set()
                for t in threads:
                    t.join(30)
            self.assertFalse([l for l in srv.stderr_lines if "no longer listening" in l],
                             srv.stderr)
            self.assertTrue(srv.alive())
        print("reload: %d requests during %d reloads (%d broken), %d failed"
              % (self.requests, len(plan), broken, len(self.failures)), file=sys.stderr)
        self.assertEqual(self.failures, [], "\n".join(self.failures[:20]))


class PrivilegeTest(unittest.TestCase):

    def setUp(self):
        if not AS_ROOT:
            self.skipTest("not root: there is no privilege to drop")
        try:
            self.nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        # Everything the daemon reads after the drop is world-readable.
        self.tmp = tempfile.mkdtemp(prefix="coserve-priv-")
        self.root = make_root(self.tmp, mode=0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def nobody_server(self, config=None, args=None):
        """A daemon started as root that drops to nobody (config or -u)."""
        srv = Server(root=self.root, config=dict({"user": "nobody"}, **(config or {})),
                     start=False)
        os.chmod(srv.tmp, 0o755)  # a reload reads the file as nobody
        os.chmod(srv.config_path, 0o644)
        srv.args = [COSERVE, "-c", srv.config_path] + list(args or [])
        return srv

    def assert_dropped(self, srv):
        self.assertTrue([l for l in srv.stderr_lines if l.endswith("running as nobody")],
                        srv.stderr)
        st = proc_status(srv.pid)
        uid, gid = str(self.nobody.pw_uid), str(self.nobody.pw_gid)
        self.assertEqual(st["Uid"], [uid] * 4, "real, effective, saved, fs uid")
        self.assertEqual(st["Gid"], [gid] * 4, "real, effective, saved, fs gid")
        self.assertEqual(st["Groups"], [gid])
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            if cap in st:
                self.assertEqual(int(st[cap][0], 16), 0, cap)
        r = fetch(srv.host, srv.port, "/")
        self.assertEqual((r.status, r.body), (200, INDEX))

    def test_drop_to_configured_user(self):
        srv = self.nobody_server()
        with srv:
            srv.start()
            self.assert_dropped(srv)
            self.assertFalse([l for l in srv.stderr_lines if "could be regained" in l])
            # Still reloads as nobody: the file and root are readable.
            start = len(srv.stderr_lines)
            srv.send_signal(signal.SIGHUP)
            self.assertIn("configuration reloaded", srv.wait_for_log(RELOAD_RE, since=start))
            self.assertEqual(fetch(srv.host, srv.port, "/a.txt").body, b"a" * 3000)

    def test_drop_with_command_line_user(self):
        # The file says root; -u replaces it.
        srv = self.nobody_server(config={"user": "root"}, args=["-u", "nobody"])
        with srv:
            srv.start()
            self.assert_dropped(srv)

    def test_privileged_port_after_drop(self):
        """A reload asking for a port under 1024 fails cleanly: no way back."""
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            unprivileged = int(f.read())
        port = None
        for p in [80] + random.sample(range(600, 1024), 20):
            if p < unprivileged:
                try:
                    with socket.socket() as s:
                        s.bind(("127.0.0.1", p))
                    port = p
                    break
                except OSError:
                    continue
        if port is None:
            self.skipTest("no free port under net.ipv4.ip_unprivileged_port_start=%d"
                          % unprivileged)
        srv = self.nobody_server()
        with srv:
            srv.start()
            self.assert_dropped(srv)
            settings = dict(srv.settings, listen=["127.0.0.1:0", "127.0.0.1:%d" % port])
            write_config(srv.config_path, config_text(settings))
            start = len(srv.stderr_lines)
            srv.send_signal(signal.SIGHUP)
            self.assertIn("reload failed", srv.wait_for_log(RELOAD_RE, since=start))
            self.assertTrue([l for l in srv.stderr_lines[start:]
                             if ":%d: Permission denied" % port in l], srv.stderr)
            self.assertEqual(fetch(srv.host, srv.port, "/").body, INDEX)
            with socket.socket() as s:  # nothing was left bound
                s.bind(("127.0.0.1", port))
            self.assertEqual(proc_status(srv.pid)["Uid"], [str(self.nobody.pw_uid)] * 4)

    def test_root_only_tls_key_read_before_drop(self):
        """A TLS key only root can read (root's, mode 0600) is loaded
        before the drop: the daemon runs as nobody and serves HTTPS with
        it, with no warning about the key's mode. A reload reads keys as
        nobody (docs/configuration.md, "Reading keys"): it fails on this
        one, and the running certificate goes on serving."""
        certs = Certs(os.path.join(self.tmp, "certs"))
        chain, key = certs.leaf("default.test", ["DNS:default.test", "IP:127.0.0.1"])
        os.chmod(os.path.dirname(key), 0o755)  # only the key's own mode keeps nobody out
        st = os.stat(key)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o600))
        self.assertNotEqual(self.nobody.pw_uid, 0)
        # A plain listener first: assert_dropped fetches over plain HTTP.
        srv = self.nobody_server(config={"listen": ["127.0.0.1:0", "127.0.0.1:0 tls"],
                                         "tls_certificate": chain, "tls_certificate_key": key})
        with srv:
            srv.start()
            self.assert_dropped(srv)
            self.assertFalse([l for l in srv.stderr_lines if "readable by every user" in l],
                             srv.stderr)
            with TLSConnection("127.0.0.1", srv.listeners[1][1], client_context(certs.ca),
                               "default.test") as c:
                self.assertEqual(c.common_name(), "default.test")
                c.request("GET", "/", {"Connection": "close"})
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, INDEX))
            start = len(srv.stderr_lines)
            srv.send_signal(signal.SIGHUP)
            self.assertIn("reload failed", srv.wait_for_log(RELOAD_RE, since=start))
            self.assertTrue([l for l in srv.stderr_lines[start:] if re.search(
                r"coserve\.conf:\d+: tls_certificate_key %s: Permission denied$"
                % re.escape(key), l)], srv.stderr)
            with TLSConnection("127.0.0.1", srv.listeners[1][1], client_context(certs.ca),
                               "default.test") as c:
                c.request("GET", "/a.txt", {"Connection": "close"})
                self.assertEqual(c.read_response().body, b"a" * 3000)
            self.assertEqual(proc_status(srv.pid)["Uid"], [str(self.nobody.pw_uid)] * 4)

    def test_refuses_root_without_user(self):
        srv = Server(root=self.root, config={"user": None}, start=False)
        try:
            with open(srv.config_path) as f:
                self.assertNotIn("user", f.read())
            p = subprocess.run(wrap_argv([COSERVE, "-c", srv.config_path]), capture_output=True,
                               text=True, timeout=15 * SLOWDOWN, stdin=subprocess.DEVNULL,
                               env=daemon_env())
        finally:
            srv.cleanup()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("refusing to run as root", p.stderr)
        self.assertNotIn("listening on", p.stderr)


class ReadyStatusTest(unittest.TestCase):
    """STATUS= travels with READY=1, at start-up and after each reload, so
    `systemctl status` has a line from the first second rather than after
    the first periodic update."""

    def setUp(self):
        if not coserve_has_systemd():
            self.skipTest("coserve was built without systemd support: no sd_notify to test")
        self.tmp = tempfile.mkdtemp(prefix="coserve-svc-")
        self.root = make_root(self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_ready_with_status(self, ns, what):
        msg = ns.next(ignore=("WATCHDOG", "STATUS", "RELOADING"))
        self.assertIsNotNone(msg, "no READY=1 %s; got %r" % (what, ns.kinds()))
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertRegex(msg.get("STATUS", ""), STATUS_RE, "%s: %r" % (what, msg))
        return msg

    def test_status_with_ready(self):
        with NotifySocket() as ns, Server(root=self.root, env={
                "NOTIFY_SOCKET": ns.address}) as srv:
            self.assert_ready_with_status(ns, "at start-up")
            self.assertEqual(ns.log[0][1]["_kind"], "READY", "READY=1 is not the first message")
            with srv.connect() as c:
                c.request("GET", "/a.txt")
                self.assertEqual(c.read_response().status, 200)
                srv.send_signal(signal.SIGHUP)
                msg = self.assert_ready_with_status(ns, "after a reload")
                # Our connection is open as the reload completes.
                self.assertGreaterEqual(int(STATUS_RE.match(msg["STATUS"]).group(1)), 1, msg)
            srv.check_clean_exit()


if __name__ == "__main__":
    main()
