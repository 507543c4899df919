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
import gzip
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

from coserve_test import (ASAN, RSS_POOL, SLOWDOWN, TSAN, SLOWFS, WAIT_S, WRAPPED, WRAPPED_SKIP, Server, ServerTestCase, fetch,
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
IDLE_CLIENTS = 500  # parked connections whose memory is measured
LONG_BYTES = 8 * 1024 * 1024  # a download of 128 chunks of 64 KiB


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

    def __init__(self, host, port, tls_ca=None, timeout=IO_TIMEOUT_S, big_windows=False,
                 settings=None):
        sock = socket.create_connection((host, port), timeout=timeout)
        # As browsers do: a request after a WINDOW_UPDATE must not wait
        # for the server's delayed ACK (40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        if settings:  # in the first SETTINGS frame, before any request
            values = dict(self.conn.local_settings.items())
            values.update(settings)
            self.conn.local_settings = h2.settings.Settings(client=True,
                                                            initial_values=values)
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
        cls.css = b"body { color: black; }\n" * 50
        cls.css_gz = gzip.compress(cls.css)
        write_file(os.path.join(root, "app.css"), cls.css)
        write_file(os.path.join(root, "app.css.gz"), cls.css_gz)  # written after: not stale

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

    def test_responses_index_no_fields(self):
        """coserve's HPACK encoder keeps no dynamic table, as nginx's:
        each response's fields are literal or from the static table, so a
        parked connection holds no field entries (and a response allocates
        none)."""
        c = self.client()
        for name in sorted(self.small)[:3]:
            self.assertEqual(c.get("/" + name).data, self.small[name])
        self.assertEqual(len(c.conn.decoder.header_table.dynamic_entries), 0)

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

    def test_multipart_ranges(self):
        """Two ranges: 206 multipart/byteranges, each part byte-exact."""
        c = self.client(tls=True)
        s = c.get("/big.bin", headers=[("range", "bytes=0-9,1000-1019")])
        self.assertEqual(s.headers[":status"], "206")
        m = re.match(r"multipart/byteranges; boundary=(\S+)$", s.headers["content-type"])
        self.assertTrue(m, s.headers["content-type"])
        self.assertEqual(int(s.headers["content-length"]), len(s.data))
        parts = bytes(s.data).split(b"--" + m.group(1).encode())
        self.assertEqual(len(parts), 4, s.data)  # before, two parts, "--" after
        for part, (first, last) in zip(parts[1:3], ((0, 9), (1000, 1019))):
            head, _, body = part.partition(b"\r\n\r\n")
            self.assertIn(b"Content-Range: bytes %d-%d/%d" % (first, last, BIG_BYTES), head)
            self.assertEqual(body[:-2], self.big[first:last + 1])

    def test_sidecar_negotiation(self):
        """A gzip sidecar for a client that accepts gzip, the file itself
        for one that does not, both with Vary: Accept-Encoding."""
        c = self.client(tls=True)
        s = c.get("/app.css", headers=[("accept-encoding", "gzip, br;q=0")])
        self.assertEqual((s.headers[":status"], s.headers.get("content-encoding")), ("200", "gzip"))
        self.assertEqual(bytes(s.data), self.css_gz)
        self.assertIn("accept-encoding", s.headers["vary"].lower())
        s = c.get("/app.css")
        self.assertEqual((s.headers[":status"], s.headers.get("content-encoding")), ("200", None))
        self.assertEqual(bytes(s.data), self.css)
        self.assertIn("accept-encoding", s.headers["vary"].lower())

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


def frame(ftype, flags, sid, payload=b""):
    """One raw HTTP/2 frame, for what python3-h2 will not send."""
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big")
            + payload)


PING = frame(6, 0, 0, b"12345678")
SETTINGS_EMPTY = frame(4, 0, 0)
WINDOW_UPDATE_1 = frame(8, 0, 0, (1).to_bytes(4, "big"))
PRIORITY_1 = frame(2, 0, 1, (0).to_bytes(4, "big") + b"\x10")
EMPTY_DATA_1 = frame(0, 0, 1)
ENHANCE_YOUR_CALM = 11


def wait_closed(c, timeout=WAIT_S):
    """Reads until the server closes the connection (noting its GOAWAY);
    False when it is still open after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([c.sock], [], [], 0.5)
        if not r:
            continue
        try:
            data = c.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return True
        if not data:
            return True
        c.strip_goaway(data)
    return False


def read_frames(c, buf, data):
    """buf + data split into whole frames, GOAWAYs noted in c.goaway:
    (the frames as (type, flags, payload), the rest of buf)."""
    buf += data
    frames = []
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
        length = int.from_bytes(buf[:3], "big")
        ftype, flags, payload = buf[3], buf[4], buf[9:9 + length]
        if ftype == 7:
            c.goaway = (int.from_bytes(payload[:4], "big") & 0x7fffffff,
                        int.from_bytes(payload[4:8], "big"))
        frames.append((ftype, flags, payload))
        buf = buf[9 + length:]
    return frames, buf


def flood(c, unit, max_bytes):
    """Sends unit over and over until the server closes the connection:
    the bytes sent by then, or None when max_bytes went out and it is
    still open. Each 64 KiB ends with a PING whose ACK is awaited, so the
    client is reading, not sending, when the server cuts it off, and the
    GOAWAY is read (noted in c.goaway) rather than lost to a reset."""
    batch = unit * (65536 // len(unit))
    sent, buf = 0, b""
    while sent < max_bytes:
        marker = (sent // len(batch)).to_bytes(8, "big")
        try:
            c.sock.sendall(batch + frame(6, 0, 0, marker))
        except (BrokenPipeError, ConnectionResetError):
            wait_closed(c)
            return sent
        sent += len(batch)
        acked = False
        while not acked:
            r, _, _ = select.select([c.sock], [], [], IO_TIMEOUT_S)
            if not r:
                raise AssertionError("no PING ACK within %.0f s" % IO_TIMEOUT_S)
            try:
                data = c.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return sent
            frames, buf = read_frames(c, buf, data)
            acked = (6, 1, marker) in frames
    return None


class H2DefencesTest(ServerTestCase):
    """Clients that hold a connection without asking for anything, or
    flood it with frames that ask for nothing, are cut off; the server
    answers everyone else meanwhile."""

    shared_server = False
    IDLE_MS = 1000

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "a.txt"), b"a\n")
        cls.big = os.urandom(BIG_BYTES)
        write_file(os.path.join(root, "big.bin"), cls.big)
        cls.frame = os.urandom(20000)  # a full DATA frame: every page of the buffer
        write_file(os.path.join(root, "frame.bin"), cls.frame)
        cls.long = os.urandom(LONG_BYTES)
        write_file(os.path.join(root, "long.bin"), cls.long)

    def serve(self, **config):
        need_h2()
        config.setdefault("h2c", True)
        return self.start_server(config=config)

    def connect(self, srv, settings=None):
        c = H2Client(srv.host, srv.port, settings=settings)
        self.addCleanup(c.close)
        return c

    def assert_still_serving(self, srv):
        c = self.connect(srv)
        self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")

    def test_pings_do_not_keep_an_idle_connection(self):
        """keepalive_timeout_ms counts from the last answer: PINGs every
        tenth of it (each answered) do not move it."""
        srv = self.serve(keepalive_timeout_ms=self.IDLE_MS)
        c = self.connect(srv)
        self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")
        deadline = time.monotonic() + WAIT_S
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                c.sock.sendall(PING)
            except (BrokenPipeError, ConnectionResetError):
                wait_closed(c)  # closed before we read its end: read it
                closed = True
                break
            closed = not c.pump(self.IDLE_MS / 10000)
        self.assertTrue(closed, "PINGs kept the idle connection open for %.0f s" % WAIT_S)
        self.assertEqual(c.goaway, (1, 0))
        self.assert_still_serving(srv)

    def test_unfinished_request_head_is_cut_off(self):
        """A HEADERS frame whose head never ends (no END_HEADERS, then
        silence: any other frame would be a protocol error) gets
        header_timeout_ms."""
        srv = self.serve(header_timeout_ms=self.IDLE_MS, keepalive_timeout_ms=60000)
        c = self.connect(srv)
        self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")
        block = c.conn.encoder.encode([(":method", "GET"), (":path", "/a.txt"),
                                       (":scheme", "http"), (":authority", c.authority)])
        c.sock.sendall(frame(1, 0x1, 3, block[:len(block) // 2]))  # END_STREAM only
        self.assertTrue(wait_closed(c), "an unfinished head held the connection for %.0f s" % WAIT_S)
        self.assertEqual(c.goaway and c.goaway[1], 0)  # NO_ERROR: a timeout
        self.assert_still_serving(srv)

    def test_request_body_that_never_ends_is_cut_off(self):
        """A GET whose stream the client never ends (empty DATA frames,
        and never END_STREAM) is answered, then cut off after
        header_timeout_ms: it is not a download in flight."""
        srv = self.serve(header_timeout_ms=self.IDLE_MS, keepalive_timeout_ms=60000)
        c = self.connect(srv)
        sid = c.request("/a.txt", end_stream=False)
        c.until(lambda: c.streams[sid].ended is not None, what="the answer")
        self.assertEqual(bytes(c.streams[sid].data), b"a\n")
        deadline = time.monotonic() + WAIT_S
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                c.sock.sendall(frame(0, 0, sid))
            except (BrokenPipeError, ConnectionResetError):
                break
            closed = wait_closed(c, self.IDLE_MS / 10000)
        self.assertTrue(closed, "an endless request held the connection for %.0f s" % WAIT_S)

    def test_floods_are_cut_off(self):
        """PING, SETTINGS, WINDOW_UPDATE, PRIORITY and empty DATA floods
        (CVE-2019-9512, 9514, 9515, 9518 and their kin), the client reading
        every answer: GOAWAY ENHANCE_YOUR_CALM within a few MiB, while a
        well-behaved connection is answered byte-exact."""
        srv = self.serve(header_timeout_ms=60000)
        good = self.connect(srv)
        for name, unit in (("PING", PING), ("SETTINGS", SETTINGS_EMPTY),
                           ("WINDOW_UPDATE", WINDOW_UPDATE_1), ("PRIORITY", PRIORITY_1),
                           ("empty DATA", EMPTY_DATA_1)):
            with self.subTest(flood=name):
                c = self.connect(srv)
                if unit is EMPTY_DATA_1 or unit is PRIORITY_1:
                    c.request("/a.txt", end_stream=False)  # stream 1, left open
                c.until(lambda: c.settings_seen, what="the server's SETTINGS")
                sent = flood(c, unit, 16 * 1024 * 1024)
                self.assertIsNotNone(sent, "16 MiB of %s frames and still open" % name)
                self.assertEqual(c.goaway[1] if c.goaway else None, ENHANCE_YOUR_CALM)
                print("\n%s flood: cut off after %.1f MiB" % (name, sent / 2 ** 20))
                self.assertEqual(bytes(good.get("/big.bin").data), self.big)

    def test_continuation_flood_is_cut_off(self):
        """A head spread over more CONTINUATION frames than any real one
        needs (the CVE-2024-27316 class) ends the connection with GOAWAY."""
        srv = self.serve()
        c = self.connect(srv)
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        block = c.conn.encoder.encode([(":method", "GET"), (":path", "/a.txt"),
                                       (":scheme", "http"), (":authority", c.authority)]
                                      + [("x-pad-%d" % i, "p" * 40) for i in range(200)])
        pieces = [block[i:i + 16] for i in range(0, len(block), 16)]
        self.assertGreater(len(pieces), 100)
        frames = frame(1, 0x1, 1, pieces[0])
        frames += b"".join(frame(9, 0, 1, p) for p in pieces[1:-1])
        frames += frame(9, 0x4, 1, pieces[-1])
        try:
            c.sock.sendall(frames)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertTrue(wait_closed(c), "a CONTINUATION flood was not cut off")
        self.assertIsNotNone(c.goaway)
        self.assertNotEqual(c.goaway[1], 0)
        self.assert_still_serving(srv)

    def test_rapid_reset_is_cut_off(self):
        """Streams opened and reset at once, thousands of them
        (CVE-2023-44487): GOAWAY, and the server serves on."""
        srv = self.serve(keepalive_requests=0)  # the reset limit, not this one
        c = self.connect(srv)
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        sent = 0
        try:
            for _ in range(40):
                for _ in range(100):
                    sid = c.conn.get_next_available_stream_id()
                    c.conn.send_headers(sid, [(":method", "GET"), (":path", "/big.bin"),
                                              (":scheme", "http"),
                                              (":authority", c.authority)],
                                        end_stream=True)
                    c.conn.reset_stream(sid)
                    sent += 1
                c.sock.sendall(c.conn.data_to_send())
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertTrue(wait_closed(c), "%d opened and reset streams: still open" % sent)
        self.assertIsNotNone(c.goaway)
        self.assertNotEqual(c.goaway[1], 0)
        self.assert_still_serving(srv)

    def test_buffer_budget_is_shared_by_the_streams(self):
        """h2_max_buffer_bytes bounds the body buffers of a connection's
        streams together: while one stream holds the whole budget (its
        window shut), the next wait for it, head and all; once the windows
        open, the three take turns with it and end byte-exact."""
        # a.txt read through a buffer: kept in memory, it would need none.
        srv = self.serve(h2_max_buffer_bytes=65536, chunk_bytes=65536, open_file_cache_bytes=0)
        c = self.connect(srv, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        holder = c.request("/big.bin")
        c.until(lambda: c.streams[holder].headers, what="the first stream's head")
        waiting = [c.request("/big.bin"), c.request("/a.txt")]
        deadline = time.monotonic() + 1.5 * SLOWDOWN
        while time.monotonic() < deadline:
            c.pump(0.1)
            self.assertEqual([c.streams[s].headers for s in waiting], [None, None],
                             "a stream answered past the budget")
        for s in [holder] + waiting:
            c.conn.increment_flow_control_window(BIG_BYTES, s)
        c.flush()
        c.until(lambda: all(c.streams[s].ended is not None for s in [holder] + waiting),
                what="the three streams")
        self.assertEqual([bytes(c.streams[s].data) for s in [holder] + waiting],
                         [self.big, self.big, b"a\n"])

    def test_buffer_budget_waiter_that_is_reset(self):
        """A stream reset while it waits in the budget's queue leaves the
        queue: when the holder ends, the budget goes to the waiter behind
        it, and the connection serves on."""
        srv = self.serve(h2_max_buffer_bytes=65536, chunk_bytes=65536, open_file_cache_bytes=0)
        c = self.connect(srv, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        holder = c.request("/big.bin")
        c.until(lambda: c.streams[holder].headers, what="the first stream's head")
        gone, behind = c.request("/big.bin"), c.request("/a.txt")
        deadline = time.monotonic() + 1.0 * SLOWDOWN
        while time.monotonic() < deadline:  # time for both to join the queue
            c.pump(0.1)
            self.assertEqual([c.streams[s].headers for s in (gone, behind)], [None, None],
                             "a stream answered past the budget")
        c.conn.reset_stream(gone)
        for s in (holder, behind):
            c.conn.increment_flow_control_window(BIG_BYTES, s)
        c.flush()
        c.until(lambda: all(c.streams[s].ended is not None for s in (holder, behind)),
                what="the holder and the stream behind the reset one")
        self.assertEqual([bytes(c.streams[s].data) for s in (holder, behind)],
                         [self.big, b"a\n"])
        self.assertIsNone(c.streams[gone].headers)
        again = c.request("/a.txt")
        c.conn.increment_flow_control_window(BIG_BYTES, again)
        c.flush()
        c.until(lambda: c.streams[again].ended is not None, what="a stream after them")
        self.assertEqual(bytes(c.streams[again].data), b"a\n")

    def test_buffer_budget_goes_round_between_chunks(self):
        """With the whole budget taken by a long download, a later small
        answer waits for one of its chunks, not for its end."""
        if WRAPPED:
            self.skipTest(WRAPPED_SKIP)  # which ends first is then the pace
        srv = self.serve(h2_max_buffer_bytes=65536, chunk_bytes=65536)
        c = H2Client(srv.host, srv.port, big_windows=True)
        self.addCleanup(c.close)
        download = c.request("/long.bin")
        c.until(lambda: len(c.streams[download].data) >= 1024 * 1024, what="the first MiB")
        small = c.request("/a.txt")
        c.until(lambda: c.streams[small].ended is not None, what="the small answer")
        self.assertIsNone(c.streams[download].ended, "the download ended first")
        self.assertEqual(bytes(c.streams[small].data), b"a\n")
        c.until(lambda: c.streams[download].ended is not None, what="the download")
        self.assertEqual(bytes(c.streams[download].data), self.long)

    def test_keepalive_requests_ends_with_goaway(self):
        """keepalive_requests holds for HTTP/2 too: a GOAWAY naming the
        last request, which is answered in full, and then the close."""
        srv = self.serve(keepalive_requests=3, keepalive_timeout_ms=600000)
        c = self.connect(srv)
        for _ in range(3):
            self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")
        self.assertTrue(wait_closed(c), "open after keepalive_requests")
        self.assertEqual(c.goaway, (5, 0))

    def test_retired_listener_sends_goaway(self):
        """A reload that removes the listener an HTTP/2 connection came
        by: GOAWAY NO_ERROR naming its last stream, then the close, as an
        HTTP/1.1 one gets Connection: close."""
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        # The GOAWAY comes at the reload, not when the listener closes.
        srv = self.serve(listen=["127.0.0.1:%d" % p for p in ports], drain_delay_ms=600000,
                         keepalive_timeout_ms=600000)
        c = H2Client(*srv.listeners[1])
        self.addCleanup(c.close)
        self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")
        with open(srv.config_path) as f:
            text = f.read()
        text = re.sub(r"^listen = .*$", 'listen = [ "127.0.0.1:%d" ];' % ports[0], text,
                      flags=re.M)
        with open(srv.config_path, "w") as f:
            f.write(text)
        srv.send_signal(signal.SIGHUP)
        srv.wait_for_log("configuration reloaded")
        c.until(lambda: c.goaway is not None, what="the GOAWAY")
        self.assertEqual(c.goaway, (1, 0))
        self.assertTrue(wait_closed(c), "open after its GOAWAY")
        srv.send_signal(signal.SIGTERM)
        srv.wait_for_log("health reports draining")
        srv.send_signal(signal.SIGTERM)  # the second cuts drain_delay_ms short
        self.assertIsNotNone(srv.wait(WAIT_S))

    def test_authority_and_host_that_differ(self):
        """:authority and a host field naming different hosts: 400, with
        no body for HEAD."""
        srv = self.serve()
        c = self.connect(srv)
        c.conn.config.validate_outbound_headers = False
        s = c.get("/a.txt", headers=[("host", "elsewhere.example")])
        self.assertEqual(s.headers[":status"], "400")
        s = c.get("/a.txt", method="HEAD", headers=[("host", "elsewhere.example")])
        self.assertEqual(s.headers[":status"], "400")
        self.assertEqual(bytes(s.data), b"")
        s = c.get("/a.txt", headers=[("host", c.authority.upper())])
        self.assertEqual((s.headers[":status"], bytes(s.data)), ("200", b"a\n"))

    def test_tls12_cipher_without_aead_gets_http11(self):
        """RFC 9113 9.2.2: over TLS 1.2, ALPN picks h2 only with an AEAD
        cipher; a CBC one the operator allowed gets http/1.1, which
        answers."""
        cert, key = make_cert(os.path.join(self.tmp, "tls-cbc"))
        srv = self.serve(listen=["127.0.0.1:0 tls"], h2=True, h2c=False,
                         tls_certificate=cert, tls_certificate_key=key,
                         tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256")
        for cipher, protocol in (("ECDHE-ECDSA-AES128-SHA256", "http/1.1"),
                                 ("ECDHE-ECDSA-AES128-GCM-SHA256", "h2")):
            with self.subTest(cipher=cipher):
                ctx = ssl.create_default_context(cafile=cert)
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                ctx.set_ciphers(cipher)
                ctx.set_alpn_protocols(["h2", "http/1.1"])
                with socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT_S) as raw:
                    with ctx.wrap_socket(raw, server_hostname=srv.host) as tls:
                        self.assertEqual(tls.cipher()[0], cipher)
                        self.assertEqual(tls.selected_alpn_protocol(), protocol)
                        if protocol == "http/1.1":
                            tls.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n"
                                        b"Connection: close\r\n\r\n")
                            answer = b""
                            while (data := tls.recv(65536)):
                                answer += data
                            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:80])
                            self.assertTrue(answer.endswith(b"\r\n\r\na\n"), answer[-80:])

    def test_priority_urgency_orders_the_data(self):
        """RFC 9218: with the windows shut, two answers wait; when they
        open, the stream of urgency 0 gets the connection's window before
        the one of urgency 7 asked first."""
        srv = self.serve()
        c = self.connect(srv, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0,
                                        9: 1})  # SETTINGS_NO_RFC7540_PRIORITIES
        c.auto_ack = False
        late = c.request("/big.bin", headers=[("priority", "u=7")])
        urgent = c.request("/big.bin", headers=[("priority", "u=0")])
        c.until(lambda: c.streams[late].headers and c.streams[urgent].headers,
                what="both heads")
        c.conn.increment_flow_control_window(BIG_BYTES, late)
        c.conn.increment_flow_control_window(BIG_BYTES, urgent)
        c.flush()
        c.until(lambda: len(c.streams[late].data) + len(c.streams[urgent].data) >= 65535,
                what="the connection's window")
        self.assertEqual((len(c.streams[urgent].data), len(c.streams[late].data)), (65535, 0))

    def test_idle_connections_park(self):
        """A connection with nothing in flight parks as an HTTP/1.1 one
        does, with no coroutine (only the scrape's is left), and wakes for
        its next request."""
        srv = self.serve(metrics_path="/metrics", keepalive_timeout_ms=600000)
        clients = []
        for _ in range(20):
            c = H2Client(srv.host, srv.port)
            self.addCleanup(c.close)
            self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")
            clients.append(c)

        def scrape():
            r = fetch(srv.host, srv.port, "/metrics")
            self.assertEqual(r.status, 200)
            return {line.split()[0]: float(line.split()[1])
                    for line in r.body.decode().splitlines()
                    if line.startswith("coserve_co")}

        wait_for(lambda: scrape()["coserve_coroutines"] <= 1, what="the connections parked")
        self.assertGreaterEqual(scrape()["coserve_connections_open"], 21)
        for c in clients:
            self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")

    def test_parked_connections_give_back_their_frame_buffers(self):
        """A connection parked a second hands nghttp2's 16 KiB frame buffer
        and its 4 KiB stream map back to the kernel: 500 idle connections that each
        fetched a full DATA frame (every page of the buffer written) cost
        8.1 KiB each (27.8 with neither given back, 11.5 with the frame
        buffer only), and each wakes to a byte-exact answer from the
        zeroed pages."""
        srv = self.serve(keepalive_timeout_ms=600000, max_connections=IDLE_CLIENTS + 16,
                         **RSS_POOL)
        first = self.connect(srv)
        self.assertEqual(bytes(first.get("/big.bin").data), self.big)
        with open("/proc/%d/status" % srv.pid) as f:
            before = int([l for l in f if l.startswith("VmRSS:")][0].split()[1])
        clients = []
        for _ in range(IDLE_CLIENTS):
            c = self.connect(srv)
            self.assertEqual(len(c.get("/frame.bin").data), len(self.frame))
            clients.append(c)

        def per_connection():
            with open("/proc/%d/status" % srv.pid) as f:
                after = int([l for l in f if l.startswith("VmRSS:")][0].split()[1])
            return (after - before) / IDLE_CLIENTS

        # A connection parked a whole second gives its buffers back at its
        # reactor's next one-second tick.
        if not (WRAPPED or ASAN or TSAN):
            wait_for(lambda: per_connection() < 10, timeout=10 * SLOWDOWN, step=0.25)
        per = per_connection()
        print("h2c: %d idle connections, %.1f KiB each" % (IDLE_CLIENTS, per))
        if not (WRAPPED or ASAN or TSAN):
            self.assertLess(per, 10)
        for c in clients:
            self.assertEqual(bytes(c.get("/frame.bin").data), self.frame)
            self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")


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
