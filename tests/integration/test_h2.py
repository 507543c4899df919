"""HTTP/2: h2 by ALPN on a TLS listener and h2c by prior knowledge on a
plain one (h2c = true), each stream its own request coroutine.

Real clients: curl (--http2 over TLS, --http2-prior-knowledge in the
clear), nghttp (100 files over one connection, byte-exact), and a small
client written here on Debian's python3-h2, which checks the semantics
stream by stream (HEAD, 304, 206, 404, 431), the SETTINGS the server
announces, the access log's protocol, a graceful GOAWAY on SIGTERM that
lets a stream in flight finish, and the point of the design: with
tests/support/slowfs.so making one file slow, the fast streams of the same
connection complete while the slow one is still pending. Certificates are
made here with the openssl CLI."""

import fcntl
import os
import re
import select
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import termios
import time
import unittest

from coserve_test import (SLOWDOWN, SLOWFS, WAIT_S, WRAPPED, WRAPPED_SKIP, Server, ServerTestCase,
                          have_program, main, wait_for, write_file)

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
except ImportError:  # Debian's python3-h2, when the tests run on another python
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import h2.config
        import h2.connection
        import h2.events
        import h2.settings
    except ImportError:
        h2 = None

IO_TIMEOUT_S = 30.0 * SLOWDOWN
BIG_BYTES = 1024 * 1024 + 4321  # many DATA frames, past every initial window
HUGE_BYTES = 32 * 1024 * 1024  # a download long enough to ask for more during it
FILES = 100  # nghttp's one connection, and the slow-storage case
SLOW_DELAY_MS = 2000


def need(program):
    if not have_program(program):
        raise unittest.SkipTest("%s is not installed" % program)


def need_h2():
    if h2 is None:
        raise unittest.SkipTest("python3-h2 is not installed")


def small_body(i):
    """File i's bytes: distinct, of distinct lengths, each under a frame."""
    return (b"file %03d " % i) + os.urandom(300 + 37 * i).hex().encode() + b"\n"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def make_cert(d):
    """(certificate, key) for 127.0.0.1, self-signed, in directory d."""
    os.makedirs(d, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "30",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)
    os.chmod(os.path.join(d, "key.pem"), 0o600)
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


class Stream:
    def __init__(self):
        self.headers = None
        self.data = bytearray()
        self.ended = None  # time.monotonic() at END_STREAM
        self.reset = None  # the error code of a RST_STREAM


class H2Client:
    """One HTTP/2 connection over a blocking socket, with python3-h2
    doing the framing; what arrives is sorted into self.streams."""

    def __init__(self, host, port, tls_ca=None, timeout=IO_TIMEOUT_S, big_windows=False):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_ca is not None:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=host)
            if sock.selected_alpn_protocol() != "h2":
                raise AssertionError("ALPN chose %r" % sock.selected_alpn_protocol())
        self.sock = sock
        self.authority = "%s:%d" % (host, port)
        self.scheme = "https" if tls_ca else "http"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if big_windows:  # the server never waits for a WINDOW_UPDATE
            self.conn.update_settings(
                {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2 ** 31 - 1})
            self.conn.increment_flow_control_window(2 ** 31 - 1 - 65535)
        self.streams = {}
        self.goaway = None  # (last stream id, error code) of a GOAWAY
        self.frames = b""  # received bytes not yet a whole frame
        self.settings_seen = False
        self.auto_ack = True
        self.unacked = []  # (stream id, bytes) held back while not auto_ack
        self.flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", headers=(), end_stream=True):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", method), (":path", path),
                                     (":scheme", self.scheme),
                                     (":authority", self.authority)] + list(headers),
                               end_stream=end_stream)
        self.streams[sid] = Stream()
        self.flush()
        return sid

    def ack(self, sid, n):
        self.conn.acknowledge_received_data(n, sid)

    def ack_held(self):
        """Opens the windows by what arrived while auto_ack was off."""
        for sid, n in self.unacked:
            self.ack(sid, n)
        self.unacked = []
        self.flush()

    def pump(self, timeout):
        """Reads what comes within timeout and handles it; False at EOF."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return True
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            return False
        for ev in self.conn.receive_data(self.strip_goaway(data)):
            self.handle(ev)
        self.flush()
        return True

    def strip_goaway(self, data):
        """data without its GOAWAY frames, which are noted in self.goaway:
        python3-h2 closes its side on a GOAWAY and refuses the DATA of the
        streams the server still finishes, as RFC 9113 6.8 lets it."""
        self.frames += data
        out = b""
        while len(self.frames) >= 9:
            length = int.from_bytes(self.frames[:3], "big")
            if len(self.frames) < 9 + length:
                break
            frame, self.frames = self.frames[:9 + length], self.frames[9 + length:]
            if frame[3] == 7:  # GOAWAY
                self.goaway = (int.from_bytes(frame[9:13], "big") & 0x7fffffff,
                               int.from_bytes(frame[13:17], "big"))
            else:
                out += frame
        return out

    def handle(self, ev):
        now = time.monotonic()
        if isinstance(ev, h2.events.ResponseReceived):
            self.streams[ev.stream_id].headers = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            self.streams[ev.stream_id].data += ev.data
            if self.auto_ack:
                self.ack(ev.stream_id, ev.flow_controlled_length)
            else:
                self.unacked.append((ev.stream_id, ev.flow_controlled_length))
        elif isinstance(ev, h2.events.StreamEnded):
            self.streams[ev.stream_id].ended = now
        elif isinstance(ev, h2.events.StreamReset):
            if ev.stream_id in self.streams:
                self.streams[ev.stream_id].reset = ev.error_code
                self.streams[ev.stream_id].ended = now
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            self.settings_seen = True

    def until(self, predicate, timeout=IO_TIMEOUT_S, what="the awaited frames"):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: not within %.0f s" % (what, timeout))
            if not self.pump(min(left, 0.5)) and not predicate():
                raise AssertionError("%s: the server closed the connection" % what)

    def get(self, path, method="GET", headers=()):
        sid = self.request(path, method, headers)
        self.until(lambda: self.streams[sid].ended is not None, what=path)
        return self.streams[sid]


class H2Test(ServerTestCase):
    """A TLS listener and a plain one with h2c on, over one document root."""

    @classmethod
    def make_root(cls, root):
        cls.big = os.urandom(BIG_BYTES)
        write_file(os.path.join(root, "big.bin"), cls.big)
        cls.huge = os.urandom(1024 * 1024) * (HUGE_BYTES // (1024 * 1024))
        write_file(os.path.join(root, "huge.bin"), cls.huge)
        cls.small = {"f%03d.txt" % i: small_body(i) for i in range(FILES)}
        for name, data in cls.small.items():
            write_file(os.path.join(root, name), data)
        write_file(os.path.join(root, "index.html"), b"<p>index</p>\n")

    @classmethod
    def server_options(cls):
        options = super().server_options()
        cls.cert, key = make_cert(os.path.join(cls.tmp, "tls"))
        cls.access_log = os.path.join(cls.tmp, "access.log")
        options["config"].update({
            "listen": ["127.0.0.1:0 tls", "127.0.0.1:0"], "h2": True, "h2c": True,
            "tls_certificate": cls.cert, "tls_certificate_key": key,
            "access_log": cls.access_log})
        return options

    def https(self, path):
        return self.server.url(path, 0).replace("http://", "https://", 1)

    def http(self, path):
        return self.server.url(path, 1)

    def curl(self, url, *extra):
        out = os.path.join(self.tmp, "curl.out")
        if os.path.exists(out):
            os.unlink(out)  # curl writes none for a response without a body
        p = subprocess.run(["curl", "--silent", "--show-error", "--noproxy", "*",
                            "--max-time", str(int(IO_TIMEOUT_S)), "--cacert", self.cert,
                            "-o", out, "-w", "%{http_version} %{http_code}"] + list(extra)
                           + [url], capture_output=True, text=True, timeout=IO_TIMEOUT_S + 30)
        self.assertEqual(p.returncode, 0, p.stderr)
        body = b""
        if os.path.exists(out):
            with open(out, "rb") as f:
                body = f.read()
        version, code = p.stdout.split()
        return version, int(code), body

    def client(self, tls=False, **kw):
        need_h2()
        host, port = self.server.listeners[0 if tls else 1]
        c = H2Client(host, port, tls_ca=self.cert if tls else None, **kw)
        self.addCleanup(c.close)
        return c

    # --- curl ------------------------------------------------------------

    def test_curl_http2_over_tls(self):
        """curl --http2 negotiates h2 by ALPN and gets the file whole; one
        asking for HTTP/1.1 still gets it."""
        need("curl")
        self.assertEqual(self.curl(self.https("/big.bin"), "--http2"), ("2", 200, self.big))
        self.assertEqual(self.curl(self.https("/big.bin"), "--http1.1"),
                         ("1.1", 200, self.big))

    def test_curl_prior_knowledge(self):
        """h2c: curl --http2-prior-knowledge on the plain listener; HTTP/1.1
        on the same listener as before."""
        need("curl")
        self.assertEqual(self.curl(self.http("/big.bin"), "--http2-prior-knowledge"),
                         ("2", 200, self.big))
        self.assertEqual(self.curl(self.http("/f001.txt")),
                         ("1.1", 200, self.small["f001.txt"]))

    def test_curl_semantics(self):
        """HEAD, 304, 206 and 404 through curl over h2."""
        need("curl")
        head = os.path.join(self.tmp, "curl.head")
        self.assertEqual(self.curl(self.https("/f002.txt"), "--http2", "-I", "-D", head)[:2],
                         ("2", 200))
        with open(head, "rb") as f:
            etag = re.search(rb"(?im)^etag: (\S+)", f.read()).group(1).decode()
        self.assertEqual(self.curl(self.https("/f002.txt"), "--http2",
                                   "-H", "If-None-Match: " + etag), ("2", 304, b""))
        self.assertEqual(self.curl(self.https("/big.bin"), "--http2", "-r", "1000-1999"),
                         ("2", 206, self.big[1000:2000]))
        self.assertEqual(self.curl(self.https("/missing"), "--http2")[:2], ("2", 404))

    # --- nghttp ----------------------------------------------------------

    def nghttp_all(self, url_of):
        """nghttp fetching every small file over one connection: with
        windows larger than them all, each body arrives in one DATA frame,
        so the output is the bodies whole, in the order they finished;
        every one must be there, byte-exact."""
        need("nghttp")
        names = sorted(self.small)
        p = subprocess.run(["nghttp", "--no-dep", "-t", str(int(IO_TIMEOUT_S)),
                            "--window-bits=24", "--connection-window-bits=24"]
                           + [url_of("/" + n) for n in names],
                           capture_output=True, timeout=IO_TIMEOUT_S + 30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        out = p.stdout
        spans = []
        for n in names:
            i = out.find(self.small[n])
            self.assertGreaterEqual(i, 0, "%s missing from nghttp's output" % n)
            spans.append((i, i + len(self.small[n])))
        spans.sort()
        pos = 0
        for start, end in spans:
            self.assertEqual(start, pos, "nghttp's output is not the files, whole")
            pos = end
        self.assertEqual(pos, len(out))

    def test_nghttp_100_files_h2c(self):
        self.nghttp_all(self.http)

    def test_nghttp_100_files_tls(self):
        self.nghttp_all(self.https)

    # --- python3-h2 ------------------------------------------------------

    def test_settings(self):
        """The limits the server announces: 128 streams, 16 KiB of header
        list, as the defaults say."""
        c = self.client()
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        self.assertEqual(c.conn.remote_settings.max_concurrent_streams, 128)
        self.assertEqual(c.conn.remote_settings.max_header_list_size, 16384)

    CASES = [
        # (method, path, request fields, status, body: bytes, "big" or None)
        ("GET", "/f003.txt", [], 200, "f003.txt"),
        ("HEAD", "/f003.txt", [], 200, None),
        ("GET", "/big.bin", [("range", "bytes=100-199")], 206, slice(100, 200)),
        ("GET", "/big.bin", [("range", "bytes=-10")], 206, slice(BIG_BYTES - 10, BIG_BYTES)),
        ("GET", "/missing.txt", [], 404, None),
        ("GET", "/", [], 200, b"<p>index</p>\n"),
        ("GET", "/../etc/passwd", [], 400, None),
        ("DELETE", "/f003.txt", [], 405, None),
    ]

    def check_cases(self, tls):
        c = self.client(tls)
        for method, path, fields, status, body in self.CASES:
            with self.subTest(method=method, path=path, tls=tls):
                s = c.get(path, method, fields)
                self.assertIsNone(s.reset)
                self.assertEqual(int(s.headers[":status"]), status, s.headers)
                self.assertNotIn("connection", s.headers)
                if isinstance(body, str):
                    self.assertEqual(bytes(s.data), self.small[body])
                elif isinstance(body, slice):
                    self.assertEqual(bytes(s.data), self.big[body])
                elif isinstance(body, bytes):
                    self.assertEqual(bytes(s.data), body)
                if method == "HEAD":
                    self.assertEqual(bytes(s.data), b"")
                    self.assertEqual(int(s.headers["content-length"]),
                                     len(self.small["f003.txt"]))

    def test_semantics_h2c(self):
        self.check_cases(tls=False)

    def test_semantics_tls(self):
        self.check_cases(tls=True)

    def test_not_modified(self):
        c = self.client()
        etag = c.get("/f004.txt").headers["etag"]
        s = c.get("/f004.txt", headers=[("if-none-match", etag)])
        self.assertEqual((s.headers[":status"], bytes(s.data)), ("304", b""))

    def test_concurrent_streams_one_connection(self):
        """Every small file and the big one at once on one connection: all
        complete, byte-exact, flow control honoured both ways."""
        c = self.client(tls=True)
        sids = {c.request("/" + n): n for n in sorted(self.small)}
        big = c.request("/big.bin")
        c.until(lambda: all(s.ended is not None for s in c.streams.values()),
                what="every stream")
        for sid, n in sids.items():
            self.assertEqual(bytes(c.streams[sid].data), self.small[n], n)
        self.assertEqual(bytes(c.streams[big].data), self.big)

    def test_reset_while_waiting_for_the_window(self):
        """A stream the client resets while it waits for window space ends
        on the server; the connection goes on serving (and its window
        credit is not lost)."""
        c = self.client()
        c.auto_ack = False
        sid = c.request("/big.bin")
        c.until(lambda: len(c.streams[sid].data) >= 65535 // 2, what="the first DATA")
        c.conn.reset_stream(sid)
        c.auto_ack = True
        c.ack_held()
        self.assertEqual(bytes(c.get("/f007.txt").data), self.small["f007.txt"])
        self.assertEqual(bytes(c.get("/big.bin").data), self.big)

    def test_request_during_a_long_download(self):
        """With windows so large that the server never needs a
        WINDOW_UPDATE, a download still leaves the connection reading: a
        request sent during it is answered before it ends."""
        if WRAPPED:
            # Under valgrind the rest of the 32 MiB can go out before the
            # second stream's open and read are through: which ends first
            # is then the pace, not the design.
            self.skipTest(WRAPPED_SKIP)
        c = self.client(big_windows=True)
        huge = c.request("/huge.bin")
        c.until(lambda: len(c.streams[huge].data) >= 1024 * 1024, what="the first MiB")
        small = c.request("/f008.txt")
        c.until(lambda: c.streams[small].ended is not None, what="the small file")
        self.assertIsNone(c.streams[huge].ended, "the download ended first")
        self.assertEqual(bytes(c.streams[small].data), self.small["f008.txt"])
        c.until(lambda: c.streams[huge].ended is not None, what="the download")
        self.assertEqual(bytes(c.streams[huge].data), self.huge)

    def test_tls_reader_that_stops_and_goes_on(self):
        """Over TLS, with windows that never close, a client that stops
        reading (and sends nothing) lets the server fill the socket; once
        it reads again the whole file arrives: the records the socket did
        not take go out as it drains, not when the client next speaks."""
        c = self.client(tls=True, big_windows=True)
        c.auto_ack = False
        sid = c.request("/huge.bin")

        last = [-1]

        def full():  # the receive queue stopped growing: the server waits
            n = struct.unpack("i", fcntl.ioctl(c.sock.fileno(), termios.FIONREAD,
                                               b"\0\0\0\0"))[0]
            steady, last[0] = n > 0 and n == last[0], n
            return steady
        wait_for(full, step=0.2, what="the client's socket filling")
        c.until(lambda: c.streams[sid].ended is not None, what="the download")
        self.assertEqual(bytes(c.streams[sid].data), self.huge)

    def test_header_list_too_large(self):
        """A header list over h2_max_header_list_size is answered 431 on its
        stream; the connection serves the next one."""
        c = self.client()
        s = c.get("/f005.txt", headers=[("x-big", "a" * 20000)])
        self.assertEqual(s.headers[":status"], "431")
        self.assertEqual(bytes(c.get("/f005.txt").data), self.small["f005.txt"])

    def test_access_log_says_http2(self):
        c = self.client()
        c.get("/f006.txt", headers=[("user-agent", "h2-log-probe")])

        def logged():
            try:
                with open(self.access_log) as f:
                    return [line for line in f if "h2-log-probe" in line]
            except FileNotFoundError:
                return None
        lines = wait_for(logged, what="the access log line")
        self.assertIn('"GET /f006.txt HTTP/2.0" 200 %d ' % len(self.small["f006.txt"]),
                      lines[0])


class H2DrainTest(ServerTestCase):
    """SIGTERM: GOAWAY, and the stream in flight still finishes."""

    shared_server = False

    @classmethod
    def make_root(cls, root):
        cls.big = os.urandom(BIG_BYTES)
        write_file(os.path.join(root, "big.bin"), cls.big)

    def test_goaway_lets_the_stream_finish(self):
        need_h2()
        srv = Server(root=self.root, config={"h2c": True, "shutdown_grace_ms": 30000})
        try:
            c = H2Client(srv.host, srv.port)
            c.auto_ack = False  # the windows close: the stream stalls
            sid = c.request("/big.bin")
            c.until(lambda: len(c.streams[sid].data) >= 65535 // 2, what="the first DATA")
            srv.send_signal(signal.SIGTERM)
            c.until(lambda: c.goaway is not None, what="the GOAWAY")
            self.assertEqual(c.goaway, (sid, 0))  # NO_ERROR
            c.auto_ack = True
            c.ack_held()
            c.until(lambda: c.streams[sid].ended is not None, what="the rest of the stream")
            self.assertIsNone(c.streams[sid].reset)
            self.assertEqual(bytes(c.streams[sid].data), self.big)
            c.close()
            srv.wait()
            srv.check_clean_exit()
        finally:
            srv.cleanup()


class H2LimitsTest(ServerTestCase):
    """The configured limits are the ones announced and kept."""

    shared_server = False

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "a.txt"), b"a\n")

    def test_configured_limits(self):
        need_h2()
        srv = self.start_server(config={"h2c": True, "h2_max_concurrent_streams": 3,
                                        "h2_max_header_list_size": 2048})
        c = H2Client(srv.host, srv.port)
        self.addCleanup(c.close)
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        self.assertEqual(c.conn.remote_settings.max_concurrent_streams, 3)
        self.assertEqual(c.conn.remote_settings.max_header_list_size, 2048)
        self.assertEqual(c.get("/a.txt", headers=[("x-big", "b" * 2100)]).headers[":status"],
                         "431")
        # Three at a time, as many times as it takes.
        for _ in range(4):
            sids = [c.request("/a.txt") for _ in range(3)]
            c.until(lambda: all(c.streams[s].ended is not None for s in sids),
                    what="three streams")
            self.assertEqual([bytes(c.streams[s].data) for s in sids], [b"a\n"] * 3)


class H2SlowStorageTest(ServerTestCase):
    """One connection, one slow file, FILES fast ones: the fast streams
    complete while the slow one waits on storage (each stream its own
    coroutine, storage on the I/O pool)."""

    shared_server = False

    @classmethod
    def setUpClass(cls):
        if not SLOWFS or not os.path.exists(SLOWFS):
            raise unittest.SkipTest("SLOWFS is not set to the built slowfs.so")
        super().setUpClass()

    @classmethod
    def make_root(cls, root):
        if "SLOW" in root:
            raise unittest.SkipTest("the temp dir name holds the marker: %s" % root)
        cls.slow = os.urandom(100 * 1024 + 3)
        write_file(os.path.join(root, "big-SLOW.bin"), cls.slow)
        cls.small = {"f%03d.txt" % i: small_body(i) for i in range(FILES)}
        for name, data in cls.small.items():
            write_file(os.path.join(root, name), data)

    def test_slow_stream_holds_up_no_other(self):
        need_h2()
        read_fd, write_fd = os.pipe()
        self.addCleanup(os.close, read_fd)
        env = {"LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": "SLOW",
               "SLOWFS_DELAY_MS": str(SLOW_DELAY_MS), "SLOWFS_NOTIFY_FD": str(write_fd)}
        srv = self.start_server(config={"h2c": True, "io_threads": 4},
                                env=env, pass_fds=[write_fd])
        os.close(write_fd)
        c = H2Client(srv.host, srv.port)
        self.addCleanup(c.close)
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        slow = c.request("/big-SLOW.bin")
        r, _, _ = select.select([read_fd], [], [], WAIT_S)
        self.assertTrue(r, "no slowfs delay started: is slowfs.so intercepting?")
        os.read(read_fd, 1)
        sent = time.monotonic()
        fast = {c.request("/" + n): n for n in sorted(self.small)}
        c.until(lambda: all(c.streams[s].ended is not None for s in fast),
                what="the fast streams")
        self.assertIsNone(c.streams[slow].ended, "the slow stream ended first")
        latencies = sorted((c.streams[s].ended - sent) * 1000 for s in fast)
        for sid, n in fast.items():
            self.assertEqual(bytes(c.streams[sid].data), self.small[n], n)
        print("\nh2 slow storage: %d fast streams on the slow one's connection: "
              "median %.1f ms, max %.1f ms after the last was sent"
              % (len(latencies), statistics.median(latencies), latencies[-1]))
        # Far below one slowed call: nothing waited for the slow file.
        self.assertLess(latencies[-1], SLOW_DELAY_MS / 2 * SLOWDOWN)
        c.until(lambda: c.streams[slow].ended is not None, timeout=WAIT_S * 2,
                what="the slow stream")
        self.assertEqual(bytes(c.streams[slow].data), self.slow)

    def test_client_leaves_while_streams_wait_on_storage(self):
        """A stream reset while it waits on storage, then a connection
        closed with one still waiting: the daemon serves on (a new
        connection, byte-exact) and stops cleanly, its stream coroutines
        ended after their storage calls came back."""
        need_h2()
        read_fd, write_fd = os.pipe()
        self.addCleanup(os.close, read_fd)
        env = {"LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": "SLOW",
               "SLOWFS_DELAY_MS": "500", "SLOWFS_NOTIFY_FD": str(write_fd)}
        srv = self.start_server(config={"h2c": True}, env=env, pass_fds=[write_fd])
        os.close(write_fd)

        def delay_started():
            r, _, _ = select.select([read_fd], [], [], WAIT_S)
            self.assertTrue(r, "no slowfs delay started")
            os.read(read_fd, 1)

        c = H2Client(srv.host, srv.port)
        self.addCleanup(c.close)
        slow = c.request("/big-SLOW.bin")
        delay_started()
        c.conn.reset_stream(slow)
        c.flush()
        self.assertEqual(bytes(c.get("/f001.txt").data), self.small["f001.txt"])
        c.request("/big-SLOW.bin")
        delay_started()
        c.close()
        c2 = H2Client(srv.host, srv.port)
        self.addCleanup(c2.close)
        self.assertEqual(bytes(c2.get("/f002.txt").data), self.small["f002.txt"])
        self.assertEqual(bytes(c2.get("/big-SLOW.bin").data), self.slow)


if __name__ == "__main__":
    main()
