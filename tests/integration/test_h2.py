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
made here with the openssl CLI.

Over HTTP/2 too: what a site does beyond files (listings, header rules,
error pages, health, metrics, virtual hosts by :authority), the
connection limits and the send timeout, and the defences: rapid reset,
CONTINUATION floods and the 2019 family (CVE-2019-9511 to 9518), with the
frames python3-h2 will not send written byte by byte."""

import fcntl
import gzip
import json
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
SEND_TIMEOUT_MS = 1000  # short enough to wait for, long enough for a loaded machine
OTHER = "127.0.0.2"  # a second client address (loopback answers all of 127/8)
CAP = 3  # max_connections_per_client
# WINDOW_UPDATEs per round trip of the data dribble: one, as the attack
# goes; a few where the daemon's pace (TSan, valgrind) would make the
# 40,000 round trips to its cut-off take minutes.
DRIBBLE_STEP = 1 if SLOWDOWN == 1 else 8
# Growth of the daemon's peak RSS that a flood may cause (it causes none:
# 0-200 KiB), and 128 streams stalled on one connection (about 3 MiB:
# their coroutines and h2_max_buffer_bytes; a buffer each would be 8 MiB
# more).
FLOOD_RSS_KIB = 4096
STALL_RSS_KIB = 8192


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


# The last stream id of a drain's first GOAWAY, the notice: none refused.
NOTICE = 2 ** 31 - 1


def final_goaway(c):
    """Whether c has had a GOAWAY other than a notice."""
    return c.goaway is not None and c.goaway[0] != NOTICE


class H2Client:
    """One HTTP/2 connection over a blocking socket, with python3-h2
    doing the framing; what arrives is sorted into self.streams."""

    def __init__(self, host, port, tls_ca=None, timeout=IO_TIMEOUT_S, big_windows=False,
                 settings=None, source=None):
        sock = socket.create_connection((host, port), timeout=timeout,
                                        source_address=(source, 0) if source else None)
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
        self.goaway = None  # (last stream id, error code) of the last GOAWAY
        self.goaways = []  # ... and of each
        self.hold = False  # True: what python3-h2 queues is not sent
        self.pings = 0  # PINGs received (python3-h2 queues their ACKs)
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
        if self.hold:
            return
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", headers=(), end_stream=True, authority=None):
        """A new stream's request; authority is its :authority (by
        default the address connected to; "" sends none)."""
        sid = self.conn.get_next_available_stream_id()
        authority = self.authority if authority is None else authority
        fields = [(":method", method), (":path", path), (":scheme", self.scheme)]
        if authority:
            fields.append((":authority", authority))
        self.conn.send_headers(sid, fields + list(headers), end_stream=end_stream)
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
                self.goaways.append(self.goaway)
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
        elif isinstance(ev, h2.events.PingReceived):
            self.pings += 1

    def until(self, predicate, timeout=IO_TIMEOUT_S, what="the awaited frames"):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: not within %.0f s" % (what, timeout))
            if not self.pump(min(left, 0.5)) and not predicate():
                raise AssertionError("%s: the server closed the connection" % what)

    def get(self, path, method="GET", headers=(), authority=None):
        sid = self.request(path, method, headers, authority=authority)
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

    def test_responses_indexed_from_the_second_request(self):
        """A connection that has asked for one thing gets its response's
        fields unindexed, so if it parks it holds no HPACK table entries;
        from its second request on they go into the table, and a repeated
        response's fields come back the same from references."""
        c = self.client()
        name = sorted(self.small)[0]
        first = c.get("/" + name)
        self.assertEqual(first.data, self.small[name])
        self.assertEqual(len(c.conn.decoder.header_table.dynamic_entries), 0)
        for _ in range(3):
            again = c.get("/" + name)
            self.assertEqual(again.data, self.small[name])
        self.assertGreater(len(c.conn.decoder.header_table.dynamic_entries), 0)

        def fields(r):
            return {k: v for k, v in r.headers.items() if k != "date"}
        self.assertEqual(fields(again), fields(first))

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


SAMPLE_RE = re.compile(r'^(coserve_[a-z_]+)(\{[^}]*\})? (\S+)$')


def exposition(text):
    """{name + labels: value} of a metrics scrape, checking every line
    is HELP, TYPE or a sample."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("not exposition format: %r" % line)
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


class H2SitesTest(ServerTestCase):
    """What a site does beyond files, over HTTP/2: listings, header
    rules, an error page, health and metrics at their paths, and the site
    chosen by :authority as HTTP/1.1 chooses it by Host."""

    LISTED = ["one.txt", "two words.txt", "a&b.txt"]

    @classmethod
    def make_root(cls, root):
        cls.example = os.path.join(cls.tmp, "example")
        for site_root, who in ((root, b"default"), (cls.example, b"example")):
            write_file(os.path.join(site_root, "index.html"), who + b" index\n")
            write_file(os.path.join(site_root, "page.html"), who + b" page\n")
        write_file(os.path.join(root, "404.html"), b"<h1>custom not found</h1>\n")
        write_file(os.path.join(root, "assets", "app.css"), b"body{}\n")
        for name in cls.LISTED:
            write_file(os.path.join(root, "d", name), name.encode() * 3)
        os.makedirs(os.path.join(root, "d", "sub"))

    @classmethod
    def server_options(cls):
        options = super().server_options()
        options["config"].update({
            "h2c": True, "autoindex": True, "keepalive_timeout_ms": 600000,
            "health_path": "/health", "metrics_path": "/metrics",
            "headers": [
                {"match": "/assets/", "cache_control": "public, max-age=31536000, immutable"},
                # Keep-Alive is connection-specific: HTTP/2 forbids it
                # (RFC 9113 8.2.2), and python3-h2 refuses a response with it.
                {"match": "*.html", "cache_control": "no-cache",
                 "add": ["X-Frame-Options: DENY", "Keep-Alive: timeout=5"]},
            ],
            "error_pages": [{"status": 404, "path": "/404.html"}],
            # headers and error_pages are not inherited: the example site has none.
            "servers": [{"names": ["example.test", "www.example.test"], "root": cls.example}],
        })
        return options

    def client(self):
        need_h2()
        c = H2Client(self.server.host, self.server.port)
        self.addCleanup(c.close)
        return c

    def test_listing(self):
        """A directory without an index is listed (HTML and JSON), each
        link serving its entry; HEAD gets GET's head; without the slash,
        a redirect to it."""
        c = self.client()
        s = c.get("/d/")
        self.assertEqual(s.headers[":status"], "200")
        self.assertEqual(s.headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(s.headers["cache-control"], "no-cache")
        self.assertEqual(int(s.headers["content-length"]), len(s.data))
        listing = bytes(s.data)
        hrefs = re.findall(r'href="([^"]*)"', listing.decode())
        self.assertEqual(sorted(h for h in hrefs if h != "../"),
                         sorted(["sub/", "one.txt", "two%20words.txt", "a%26b.txt"]))
        self.assertIn(b"a&amp;b.txt", s.data)
        for href in hrefs:
            if not href.endswith("/"):
                name = href.replace("%20", " ").replace("%26", "&")
                self.assertEqual(bytes(c.get("/d/" + href).data), name.encode() * 3, href)
        s = c.get("/d/?format=json")
        self.assertEqual((s.headers[":status"], s.headers["content-type"]),
                         ("200", "application/json"))
        self.assertEqual(sorted(e["name"] for e in json.loads(bytes(s.data))),
                         sorted(self.LISTED + ["sub"]))
        head = c.get("/d/", method="HEAD")
        self.assertEqual((head.headers[":status"], bytes(head.data)), ("200", b""))
        self.assertEqual(head.headers["content-length"], str(len(listing)))
        s = c.get("/d?x=1")
        self.assertEqual((s.headers[":status"], s.headers["location"]), ("301", "/d/?x=1"))

    def test_header_rules(self):
        """A 200 and a 304 get the fields of the rules that match them,
        names in lower case and never a connection-specific one; other
        paths, the example site and the error page get none."""
        c = self.client()
        s = c.get("/assets/app.css")
        self.assertEqual(s.headers["cache-control"], "public, max-age=31536000, immutable")
        s = c.get("/page.html")
        self.assertEqual((s.headers[":status"], bytes(s.data)), ("200", b"default page\n"))
        self.assertEqual((s.headers["cache-control"], s.headers["x-frame-options"]),
                         ("no-cache", "DENY"))
        self.assertNotIn("keep-alive", s.headers)
        s = c.get("/page.html", headers=[("if-none-match", s.headers["etag"])])
        self.assertEqual(s.headers[":status"], "304")
        self.assertEqual((s.headers["cache-control"], s.headers["x-frame-options"]),
                         ("no-cache", "DENY"))
        self.assertNotIn("cache-control", c.get("/d/one.txt").headers)
        s = c.get("/page.html", authority="example.test")
        self.assertEqual(bytes(s.data), b"example page\n")
        self.assertNotIn("cache-control", s.headers)
        s = c.get("/missing.html")
        self.assertEqual(s.headers[":status"], "404")
        self.assertNotIn("x-frame-options", s.headers)

    def test_error_page(self):
        """The site's page for 404, whole, with HEAD getting its head; a
        site without one gets the built-in page."""
        page = b"<h1>custom not found</h1>\n"
        c = self.client()
        s = c.get("/missing")
        self.assertEqual((s.headers[":status"], bytes(s.data)), ("404", page))
        self.assertEqual(s.headers["content-type"], "text/html; charset=utf-8")
        s = c.get("/missing", method="HEAD")
        self.assertEqual((s.headers[":status"], bytes(s.data)), ("404", b""))
        self.assertEqual(s.headers["content-length"], str(len(page)))
        s = c.get("/missing", authority="example.test")
        self.assertEqual(s.headers[":status"], "404")
        self.assertIn(b"404 Not Found", s.data)

    def test_health(self):
        """The health path answers from memory, on every site, exact path
        only."""
        c = self.client()
        for authority in (None, "example.test"):
            s = c.get("/health", authority=authority)
            self.assertEqual((s.headers[":status"], bytes(s.data)), ("200", b"ok\n"))
            self.assertEqual(s.headers["cache-control"], "no-store")
            self.assertEqual(s.headers["content-type"], "text/plain; charset=utf-8")
        s = c.get("/health", method="HEAD")
        self.assertEqual((s.headers[":status"], bytes(s.data), s.headers["content-length"]),
                         ("200", b"", "3"))
        self.assertEqual(c.get("/health/").headers[":status"], "404")

    def test_metrics(self):
        """The metrics path scraped over HTTP/2, in the exposition format;
        the requests of HTTP/2 streams are counted."""
        c = self.client()

        def scrape():
            s = c.get("/metrics")
            self.assertEqual(s.headers[":status"], "200")
            self.assertEqual(s.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
            return exposition(bytes(s.data).decode())

        before = scrape()
        for _ in range(3):
            self.assertEqual(c.get("/page.html").headers[":status"], "200")
        self.assertEqual(c.get("/missing").headers[":status"], "404")
        scrapes = []

        def delta(name):
            return scrapes[-1][name] - before.get(name, 0)

        def counted():
            # A request is counted once its answer is out.
            scrapes.append(scrape())
            return (delta('coserve_requests_total{class="4xx"}') == 1 and
                    delta('coserve_requests_total{class="2xx"}') >= 3 + 1)

        wait_for(counted, what="the HTTP/2 requests counted")
        # The pages, the first scrape, and at most the later scrapes.
        self.assertLessEqual(delta('coserve_requests_total{class="2xx"}'), 3 + len(scrapes))

    VHOSTS = [
        # (:authority, host field or None, the body of "/")
        ("example.test", None, b"example index\n"),
        ("EXAMPLE.test:8443", None, b"example index\n"),
        ("www.example.test.", None, b"example index\n"),
        ("other.test", None, b"default index\n"),
        (None, None, b"default index\n"),  # the address connected to
        ("", "example.test", b"example index\n"),  # no :authority: the host field
    ]

    def test_virtual_hosts_by_authority(self):
        c = self.client()
        for authority, host, body in self.VHOSTS:
            with self.subTest(authority=authority, host=host):
                s = c.get("/", headers=[("host", host)] if host else [], authority=authority)
                self.assertEqual((s.headers[":status"], bytes(s.data)), ("200", body))
        # Each site its own files: the example site has no d/.
        self.assertEqual(c.get("/d/one.txt", authority="example.test").headers[":status"],
                         "404")


class H2DrainTest(ServerTestCase):
    """SIGTERM: GOAWAY, and the stream in flight still finishes."""

    shared_server = False

    @classmethod
    def make_root(cls, root):
        cls.big = os.urandom(BIG_BYTES)
        write_file(os.path.join(root, "big.bin"), cls.big)
        write_file(os.path.join(root, "a.txt"), b"a\n")

    def test_goaway_lets_the_stream_finish(self):
        need_h2()
        srv = Server(root=self.root, config={"h2c": True, "shutdown_grace_ms": 30000})
        try:
            c = H2Client(srv.host, srv.port)
            c.auto_ack = False  # the windows close: the stream stalls
            sid = c.request("/big.bin")
            c.until(lambda: len(c.streams[sid].data) >= 65535 // 2, what="the first DATA")
            srv.send_signal(signal.SIGTERM)
            c.until(lambda: final_goaway(c), what="the GOAWAY")
            self.assertEqual(c.goaways, [(NOTICE, 0), (sid, 0)])  # NO_ERROR
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


    def test_reload_sends_goaway_and_the_stream_finishes(self):
        """SIGHUP: a connection from before the reload gets a GOAWAY
        naming its stream in flight, which finishes byte-exact; the
        connection then closes, and a new one is served under the new
        configuration (its Server field gone)."""
        need_h2()
        srv = Server(root=self.root, config={"h2c": True, "server_tokens": "full"})
        try:
            c = H2Client(srv.host, srv.port)
            c.auto_ack = False  # the windows close: the stream stalls
            sid = c.request("/big.bin")
            c.until(lambda: len(c.streams[sid].data) >= 65535 // 2, what="the first DATA")
            self.assertRegex(c.streams[sid].headers.get("server", ""), r"^coserve/\d")
            with open(srv.config_path) as f:
                text = f.read()
            with open(srv.config_path, "w") as f:
                f.write(text.replace('server_tokens = "full"', 'server_tokens = "off"'))
            mark = len(srv.stderr_lines)
            srv.send_signal(signal.SIGHUP)
            srv.wait_for_log("configuration reloaded", since=mark)
            c.until(lambda: final_goaway(c), what="the GOAWAY")
            self.assertEqual(c.goaways, [(NOTICE, 0), (sid, 0)])  # NO_ERROR
            c.auto_ack = True
            c.ack_held()
            c.until(lambda: c.streams[sid].ended is not None, what="the rest of the stream")
            self.assertIsNone(c.streams[sid].reset)
            self.assertEqual(bytes(c.streams[sid].data), self.big)
            self.assertTrue(wait_closed(c), "open after its GOAWAY")
            n = H2Client(srv.host, srv.port)
            s = n.get("/big.bin")
            self.assertEqual((s.headers[":status"], bytes(s.data)), ("200", self.big))
            self.assertNotIn("server", s.headers)
            n.close()
            srv.send_signal(signal.SIGTERM)
            srv.wait()
            srv.check_clean_exit()
        finally:
            srv.cleanup()


    def test_request_on_its_way_at_the_notice_is_answered(self):
        """A reload's first GOAWAY is a notice (the highest stream id)
        with a PING; a request the client sent before it answered the
        PING is served, and the GOAWAY that follows names it."""
        need_h2()
        if WRAPPED:
            # The request must be read within the notice's second
            # (H2_NOTICE_MS), as in the test below; the sanitizer runs
            # cover it.
            self.skipTest("the request must be read within the notice's second")
        srv = Server(root=self.root, config={"h2c": True})
        try:
            c = H2Client(srv.host, srv.port)
            self.assertEqual(bytes(c.get("/big.bin").data), self.big)
            c.hold = True  # the PING's answer waits
            mark = len(srv.stderr_lines)
            srv.send_signal(signal.SIGHUP)
            # Answered within the notice's second, measured by the server.
            c.until(lambda: c.goaway is not None and c.pings == 1, what="the notice")
            self.assertEqual(c.goaways, [(NOTICE, 0)])
            held = c.conn.data_to_send()
            self.assertTrue(held, "no PING came with the notice")
            sid = c.request("/big.bin")
            c.sock.sendall(c.conn.data_to_send() + held)  # the request first
            c.hold = False
            c.until(lambda: c.streams[sid].ended is not None, what="the request")
            self.assertEqual(c.streams[sid].headers[":status"], "200")
            self.assertEqual(bytes(c.streams[sid].data), self.big)
            c.until(lambda: final_goaway(c), what="the GOAWAY")
            self.assertEqual(c.goaways, [(NOTICE, 0), (sid, 0)])
            self.assertTrue(wait_closed(c), "open after its GOAWAY")
            c.close()
            srv.wait_for_log("configuration reloaded", since=mark)
            srv.send_signal(signal.SIGTERM)
            srv.wait()
            srv.check_clean_exit()
        finally:
            srv.cleanup()

    def test_connections_park_while_their_notice_is_out(self):
        """A reload's notice leaves idle connections parked (no coroutine,
        no buffers) while their clients have it: 150 that do not answer
        its PING (woken 64 a loop turn) are still open a moment later,
        and the daemon runs one coroutine, the scrape's. Then each gets
        its GOAWAY and closes."""
        need_h2()
        if WRAPPED:
            self.skipTest("the scrape must come within the notice's second")
        srv = Server(root=self.root, config={"h2c": True, "metrics_path": "/metrics",
                                             "keepalive_timeout_ms": 600000})
        try:
            clients = []
            for _ in range(150):
                c = H2Client(srv.host, srv.port)
                self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")
                c.hold = True  # the PING's answer never goes
                clients.append(c)
            srv.send_signal(signal.SIGHUP)
            for c in clients:
                c.until(lambda: c.goaway is not None, what="the notice")
            m = exposition(fetch(srv.host, srv.port, "/metrics").body.decode())
            self.assertGreaterEqual(m["coserve_connections_open"], 150)
            self.assertEqual(m["coserve_coroutines"], 1)
            for c in clients:
                c.until(lambda: final_goaway(c), what="the GOAWAY")
                self.assertEqual(c.goaways, [(NOTICE, 0), (1, 0)])
                self.assertTrue(wait_closed(c), "open after its GOAWAY")
                c.close()
            srv.send_signal(signal.SIGTERM)
            srv.wait()
            srv.check_clean_exit()
        finally:
            srv.cleanup()

    def test_unanswered_notice_ends_in_a_goaway(self):
        """A client that never answers the notice's PING still gets the
        GOAWAY naming its last stream (a second later), and the close."""
        need_h2()
        srv = Server(root=self.root, config={"h2c": True})
        try:
            c = H2Client(srv.host, srv.port)
            self.assertEqual(bytes(c.get("/big.bin").data), self.big)
            c.hold = True  # nothing goes out any more
            srv.send_signal(signal.SIGTERM)
            c.until(lambda: final_goaway(c), what="the GOAWAY")
            self.assertEqual(c.goaways, [(NOTICE, 0), (1, 0)])
            self.assertTrue(wait_closed(c), "open after its GOAWAY")
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
        cls.big = os.urandom(BIG_BYTES)
        write_file(os.path.join(root, "big.bin"), cls.big)

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

    def test_send_timeout_resets_the_stream(self):
        """A stream whose client opens no window for send_timeout_ms (its
        own shut from the start, or the connection's spent) is reset
        CANCEL, not before, and counted as a send timeout; the connection
        goes on serving."""
        need_h2()
        srv = self.start_server(config={"h2c": True, "send_timeout_ms": SEND_TIMEOUT_MS,
                                        "metrics_path": "/metrics"})
        name = 'coserve_timeouts_total{kind="send"}'

        def send_timeouts():
            r = fetch(srv.host, srv.port, "/metrics")
            self.assertEqual(r.status, 200)
            return exposition(r.body.decode()).get(name, 0)

        for case, settings, got in (
                ("stream window shut", {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}, 0),
                ("connection window spent", None, 65535)):
            with self.subTest(case):
                before = send_timeouts()
                c = H2Client(srv.host, srv.port, settings=settings)
                self.addCleanup(c.close)
                c.auto_ack = False
                sent = time.monotonic()
                sid = c.request("/big.bin")
                c.until(lambda: c.streams[sid].reset is not None, what="the stream's reset")
                self.assertGreaterEqual(c.streams[sid].ended - sent, SEND_TIMEOUT_MS / 1000 * 0.95)
                self.assertEqual(c.streams[sid].reset, 8)  # CANCEL
                self.assertEqual(c.streams[sid].headers[":status"], "200")
                self.assertEqual(bytes(c.streams[sid].data), self.big[:got])
                c.ack_held()
                again = c.request("/a.txt")
                c.conn.increment_flow_control_window(1024, again)
                c.flush()
                c.until(lambda: c.streams[again].ended is not None, what="the next stream")
                self.assertEqual((c.streams[again].reset, bytes(c.streams[again].data)),
                                 (None, b"a\n"))
                wait_for(lambda: send_timeouts() > before, what="the send timeout counted")
                self.assertEqual(send_timeouts() - before, 1)

    def test_max_connections(self):
        """HTTP/2 connections count against max_connections as HTTP/1.1
        ones do, parked or not: with two of each open, a fifth gets no
        answer, not even the server's SETTINGS, until an HTTP/2 one
        closes; then it is served, and the others were left alone."""
        need_h2()
        srv = self.start_server(config={"h2c": True, "max_connections": 4,
                                        "keepalive_timeout_ms": 60000,
                                        "header_timeout_ms": 60000})
        h2s, h1s = [], []
        try:
            for _ in range(2):
                h2s.append(H2Client(srv.host, srv.port))
                self.assertEqual(bytes(h2s[-1].get("/a.txt").data), b"a\n")
                h1s.append(srv.connect())
                h1s[-1].request("GET", "/a.txt")
                self.assertEqual(h1s[-1].read_response().body, b"a\n")
            fifth = H2Client(srv.host, srv.port)
            h2s.append(fifth)
            sid = fifth.request("/a.txt")
            r, _, _ = select.select([fifth.sock], [], [], 1.0)
            self.assertFalse(r, "a 5th connection was answered (or dropped) while 4 were open")
            h2s.pop(0).close()
            fifth.until(lambda: fifth.streams[sid].ended is not None, what="the 5th's answer")
            self.assertEqual(bytes(fifth.streams[sid].data), b"a\n")
            for c in h2s:
                self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")
            for c in h1s:
                c.request("GET", "/a.txt")
                self.assertEqual(c.read_response().body, b"a\n")
        finally:
            for c in h2s + h1s:
                c.close()

    def test_per_client_cap(self):
        """max_connections_per_client holds for HTTP/2: over the cap a
        connection is closed at once, before a single frame, while
        another address is served; a place freed lets the next one in."""
        need_h2()
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=IO_TIMEOUT_S,
                                     source_address=(OTHER, 0)).close()
        except ConnectionRefusedError:
            pass
        except OSError as e:
            raise unittest.SkipTest("cannot use %s as a source: %s" % (OTHER, e))
        srv = self.start_server(config={"h2c": True, "max_connections_per_client": CAP,
                                        "metrics_path": "/metrics",
                                        "keepalive_timeout_ms": 600000})

        def refused():
            try:
                c = H2Client(srv.host, srv.port, source=OTHER)
            except (ConnectionResetError, BrokenPipeError):
                return True
            try:
                c.request("/a.txt")
                r, _, _ = select.select([c.sock], [], [], WAIT_S)
                if not r:
                    return False
                try:
                    data = c.sock.recv(65536)
                except ConnectionResetError:
                    return True
                self.assertEqual(data, b"", "the connection over the cap got frames")
                return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            finally:
                c.close()

        def admitted():  # a closed connection's place is freed on the server's time
            try:
                c = H2Client(srv.host, srv.port, source=OTHER)
            except (ConnectionResetError, BrokenPipeError):
                return False
            try:
                body = bytes(c.get("/a.txt").data)
            except (AssertionError, ConnectionResetError, BrokenPipeError):  # closed
                c.close()
                return False
            held.append(c)
            return body == b"a\n"

        held = []
        try:
            for _ in range(CAP):
                held.append(H2Client(srv.host, srv.port, source=OTHER))
                self.assertEqual(bytes(held[-1].get("/a.txt").data), b"a\n")
            self.assertTrue(refused(), "a connection over the cap was kept")
            other = H2Client(srv.host, srv.port)
            held.append(other)
            self.assertEqual(bytes(other.get("/a.txt").data), b"a\n")
            held.pop(0).close()
            wait_for(admitted, what="a place freed by a close")
            self.assertTrue(refused(), "a connection over the cap was kept")
            for c in held:
                self.assertEqual(bytes(c.get("/a.txt").data), b"a\n")
            m = exposition(bytes(other.get("/metrics").data).decode())
            self.assertGreaterEqual(m['coserve_connections_refused_total{reason="per_client"}'], 2)
        finally:
            for c in held:
                c.close()


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
            c.goaways.append(c.goaway)
        frames.append((ftype, flags, payload))
        buf = buf[9 + length:]
    return frames, buf


def next_frames(c, buf, what):
    """The frames of c's next read, awaited up to IO_TIMEOUT_S, and what
    is left of buf after them; None for the frames once the server has
    closed the connection."""
    r, _, _ = select.select([c.sock], [], [], IO_TIMEOUT_S)
    if not r:
        raise AssertionError("no %s within %.0f s" % (what, IO_TIMEOUT_S))
    try:
        data = c.sock.recv(65536)
    except ConnectionResetError:
        data = b""
    if not data:
        return None, buf
    return read_frames(c, buf, data)


def flood(c, unit, max_bytes, meanwhile=None, counts=None):
    """Sends unit over and over until the server closes the connection:
    the bytes sent by then, or None when max_bytes went out and it is
    still open. Each 64 KiB ends with a PING whose ACK is awaited, so the
    client is reading, not sending, when the server cuts it off, and the
    GOAWAY is read (noted in c.goaway) rather than lost to a reset.
    unit may be a function instead, giving round i's frames (when each
    must be new: a stream each); meanwhile() is called after each round
    while the connection is open; counts, a dict, counts the frames the
    server sent by type."""
    sent, buf, i = 0, b"", 0
    while sent < max_bytes:
        batch = unit(i) if callable(unit) else unit * (65536 // len(unit))
        marker = i.to_bytes(8, "big")
        i += 1
        try:
            c.sock.sendall(batch + frame(6, 0, 0, marker))
        except (BrokenPipeError, ConnectionResetError):
            wait_closed(c)
            return sent
        sent += len(batch)
        acked = False
        while not acked:
            frames, buf = next_frames(c, buf, "PING ACK")
            if frames is None:
                return sent
            for ftype, _, _ in frames if counts is not None else ():
                counts[ftype] = counts.get(ftype, 0) + 1
            acked = (6, 1, marker) in frames
        if meanwhile is not None:
            meanwhile()
    return None


def dribble(c, sid, max_bytes, step=1, meanwhile=None):
    """CVE-2019-9511's data dribble: opens stream sid's window and the
    connection's a byte at a time, step WINDOW_UPDATEs of each per round,
    each round awaiting the DATA they let out, until the server closes
    the connection: (the bytes sent by then, the DATA frames received),
    a GOAWAY noted in c.goaway; None when max_bytes went out and it is
    still open. meanwhile() is called after every 256 KiB sent."""
    unit = (frame(8, 0, sid, (1).to_bytes(4, "big"))
            + frame(8, 0, 0, (1).to_bytes(4, "big"))) * step
    sent, frames, granted, received, buf, check = 0, 0, 0, 0, b"", 1 << 18
    while sent < max_bytes:
        try:
            c.sock.sendall(unit)
        except (BrokenPipeError, ConnectionResetError):
            wait_closed(c)
            return sent, frames
        sent += len(unit)
        granted += step
        while received < granted:
            new, buf = next_frames(c, buf, "DATA after a WINDOW_UPDATE")
            if new is None:
                return sent, frames
            for ftype, _, payload in new:
                if ftype == 0:
                    frames += 1
                    received += len(payload)
        if meanwhile is not None and sent >= check:
            check += 1 << 18
            meanwhile()
    return None


def literal(name, value):
    """An HPACK field line, literal and not indexed: the same bytes may be
    sent again and again, as neither side's dynamic table changes."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def request_block(authority, path=b"/a.txt"):
    """A GET's pseudo-header fields in HPACK, indexing nothing: :method
    and :scheme from the static table, :path and :authority literal."""
    return (b"\x82\x86" + b"\x04" + bytes([len(path)]) + path
            + b"\x01" + bytes([len(authority)]) + authority)


def priority_update(sid, value):
    """A PRIORITY_UPDATE frame (RFC 9218 7.1, type 0x10), which python3-h2
    cannot send: on stream 0, naming the stream it is about."""
    return frame(0x10, 0, 0, sid.to_bytes(4, "big") + value)


def rss_kib(pid, field="VmRSS"):
    """pid's resident memory in KiB (field "VmHWM": its peak so far)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for %d" % (field, pid))


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

    def connect(self, srv, settings=None, **kw):
        c = H2Client(srv.host, srv.port, settings=settings, **kw)
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

    def test_requests_keep_a_connection(self):
        """keepalive_timeout_ms is the wait for the next request: a client
        asking for something every quarter of it keeps its connection for
        three times it, as over HTTP/1.1.

        An answer from memory within one turn never shows as a live stream
        coroutine, so a stream's end restarts the deadline; without that
        the client got GOAWAY keepalive_timeout_ms after its first answer."""
        # Stretched with the daemon's pace: a quarter of it between
        # answers must leave room for the answer itself under valgrind.
        idle_ms = self.IDLE_MS * SLOWDOWN
        srv = self.serve(keepalive_timeout_ms=idle_ms)
        c = self.connect(srv)
        answers = 0
        deadline = time.monotonic() + 3 * idle_ms / 1000
        while time.monotonic() < deadline:
            self.assertEqual(bytes(c.get("/a.txt").data), b"a\n",
                             "closed after %d answers" % answers)
            answers += 1
            pause = time.monotonic() + idle_ms / 4000
            while time.monotonic() < pause:
                self.assertTrue(c.pump(0.05), "closed after %d answers, %d ms apart"
                                % (answers, idle_ms / 4))

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
        # good waits idle through each flood, which under valgrind can
        # take longer than the default keep-alive.
        srv = self.serve(header_timeout_ms=60000, keepalive_timeout_ms=600000)
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

    def test_hpack_references_earn_no_flood_budget(self):
        """A request's fields count toward the flood budget as the lesser
        of their bytes and their header block's on the wire: one large
        field put in the HPACK table, then a head of a thousand references
        to it (4 MB of fields in a couple of KiB, answered 431), does not
        let a PING flood run past a few MiB (it ran to 33.6 MB when the
        decoded bytes counted)."""
        srv = self.serve(header_timeout_ms=60000)
        c = self.connect(srv)
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        big = ("x-big", "b" * 4000)
        sid = c.request("/a.txt", headers=[big])
        c.until(lambda: c.streams[sid].ended is not None, what="the first answer")
        sid = c.request("/a.txt", headers=[big] * 1000)
        c.until(lambda: c.streams[sid].ended is not None or c.streams[sid].reset is not None,
                what="the answer to the head of references")
        sent = flood(c, PING, 16 * 1024 * 1024)
        self.assertIsNotNone(sent, "16 MiB of PING frames and still open")
        self.assertEqual(c.goaway[1] if c.goaway else None, ENHANCE_YOUR_CALM)
        print("\nPING flood after a head of HPACK references: cut off after %.1f MiB"
              % (sent / 2 ** 20))
        self.assertLess(sent, 4 * 1024 * 1024)
        self.assert_still_serving(srv)

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

    # --- the 2019 family, beyond the floods of frames that ask for nothing

    def served(self, good):
        """A check for flood()'s meanwhile: good's next GET is answered."""
        return lambda: self.assertEqual(bytes(good.get("/a.txt").data), b"a\n")

    def assert_memory_flat(self, srv, before_kib, limit_kib, what):
        """The daemon's peak RSS grew less than limit_kib since it was
        before_kib; printed, and not held against a sanitizer's or
        valgrind's daemon, whose memory says more about them."""
        grown = rss_kib(srv.pid, "VmHWM") - before_kib
        print("\n%s: the daemon's peak RSS grew %d KiB" % (what, grown))
        if not (WRAPPED or ASAN or TSAN):
            self.assertLess(grown, limit_kib, what)

    def test_data_dribble_is_cut_off(self):
        """CVE-2019-9511: a stream on an 8 MiB file whose windows (its
        own, shut from the start, and the connection's) the client opens
        a byte at a time, each pair of WINDOW_UPDATEs awaiting the
        one-byte DATA frame it lets out: GOAWAY ENHANCE_YOUR_CALM within
        4 MiB of them (they count against the flood budget), the daemon's
        memory flat, another connection served all along."""
        # The flood budget must cut it off, not a timeout: nor may good,
        # between its requests, meet one under valgrind's pace.
        srv = self.serve(header_timeout_ms=600000, keepalive_timeout_ms=600000)
        good = self.connect(srv)
        c = self.connect(srv, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        sid = c.request("/long.bin")
        c.until(lambda: c.streams[sid].headers, what="the head")
        before = rss_kib(srv.pid)
        got = dribble(c, sid, 4 * 1024 * 1024, DRIBBLE_STEP, meanwhile=self.served(good))
        self.assertIsNotNone(got, "4 MiB of WINDOW_UPDATEs dribbling DATA out, still open")
        self.assertEqual(c.goaway and c.goaway[1], ENHANCE_YOUR_CALM)
        print("\ndata dribble: cut off after %.2f MiB of WINDOW_UPDATEs, %d DATA frames"
              % (got[0] / 2 ** 20, got[1]))
        self.assert_memory_flat(srv, before, FLOOD_RSS_KIB, "data dribble")
        self.served(good)()

    def test_reset_flood_is_cut_off(self):
        """CVE-2019-9514: streams opened with requests HTTP/2 forbids (a
        connection-specific field after the pseudo-header fields), which
        nghttp2 answers with RST_STREAM PROTOCOL_ERROR, 100 per PING round
        trip (below the stream limit) and every answer read: GOAWAY
        ENHANCE_YOUR_CALM within 4 MiB, the daemon's memory flat, another
        connection served all along.

        nghttp2's reset limit counts the resets a client sends, not those
        it provokes; the flood budget counts only requests taken whole, so
        these earn nothing (before, 4 MiB drew 71,100 resets and the
        connection stayed open until header_timeout_ms, set to a minute
        here as for the floods above)."""
        srv = self.serve(header_timeout_ms=60000)
        good = self.connect(srv)
        c = self.connect(srv)
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        block = request_block(c.authority.encode()) + literal(b"connection", b"keep-alive")

        def streams(i):
            return b"".join(frame(1, 0x5, 1 + 2 * (100 * i + k), block) for k in range(100))

        before = rss_kib(srv.pid)
        counts = {}
        sent = flood(c, streams, 4 * 1024 * 1024, self.served(good), counts)
        print("\nreset flood: %d RST_STREAM, %s" % (
            counts.get(3, 0), "still open after 4 MiB" if sent is None
            else "cut off after %.2f MiB" % (sent / 2 ** 20)))
        self.assert_memory_flat(srv, before, FLOOD_RSS_KIB, "reset flood")
        self.assertIsNotNone(sent, "4 MiB of requests answered RST_STREAM, still open")
        self.assertEqual(c.goaway and c.goaway[1], ENHANCE_YOUR_CALM)

    def test_empty_header_flood_is_cut_off(self):
        """CVE-2019-9516: request heads of a thousand fields with an empty
        name and value each (nghttp2 resets the stream at the first;
        the rest are decoded all the same), twenty to a PING round trip:
        GOAWAY ENHANCE_YOUR_CALM within 4 MiB, the daemon's memory flat,
        another connection served all along."""
        srv = self.serve(header_timeout_ms=60000)  # the budget's cut, not the timeout's
        good = self.connect(srv)
        c = self.connect(srv)
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        block = request_block(c.authority.encode()) + literal(b"", b"") * 1000

        def streams(i):
            return b"".join(frame(1, 0x5, 1 + 2 * (20 * i + k), block) for k in range(20))

        before = rss_kib(srv.pid)
        counts = {}
        sent = flood(c, streams, 4 * 1024 * 1024, self.served(good), counts)
        self.assertIsNotNone(sent, "4 MiB of empty header fields, still open")
        self.assertEqual(c.goaway and c.goaway[1], ENHANCE_YOUR_CALM)
        print("\nempty header flood: cut off after %.2f MiB, %d RST_STREAM"
              % (sent / 2 ** 20, counts.get(3, 0)))
        self.assert_memory_flat(srv, before, FLOOD_RSS_KIB, "empty header flood")
        self.served(good)()

    def test_stalled_reader_is_cut_off(self):
        """CVE-2019-9517, internal data buffering: windows wide open, 128
        streams on an 8 MiB file, and the socket never read. The streams
        hold at most h2_max_buffer_bytes between them (memory flat), the
        connection is closed send_timeout_ms after its socket stops
        taking bytes, having queued no more than the socket buffers hold,
        and another connection is served meanwhile."""
        srv = self.serve(send_timeout_ms=SEND_TIMEOUT_MS, metrics_path="/metrics")
        good = self.connect(srv)
        c = self.connect(srv, big_windows=True)
        for client in (good, c):
            client.until(lambda: client.settings_seen, what="the server's SETTINGS")

        def open_connections():  # good's, and the scrape's own
            r = fetch(srv.host, srv.port, "/metrics")
            self.assertEqual(r.status, 200)
            return exposition(r.body.decode())["coserve_connections_open"]

        self.assertEqual(open_connections(), 3)
        before = rss_kib(srv.pid)
        sent = time.monotonic()
        for _ in range(128):
            c.request("/long.bin")
        self.served(good)()
        wait_for(lambda: open_connections() <= 2, what="the stalled reader cut off")
        self.assertGreaterEqual(time.monotonic() - sent, SEND_TIMEOUT_MS / 1000)
        self.assert_memory_flat(srv, before, STALL_RSS_KIB, "stalled reader")
        queued = 0
        while True:  # what the kernel still had for it, then the close
            r, _, _ = select.select([c.sock], [], [], IO_TIMEOUT_S)
            self.assertTrue(r, "neither bytes nor a close within %.0f s" % IO_TIMEOUT_S)
            try:
                data = c.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not data:
                break
            queued += len(data)
        print("\nstalled reader: %.1f MiB queued when it was cut off" % (queued / 2 ** 20))
        self.assertLess(queued, 64 * 1024 * 1024)
        self.served(good)()

    def zero_window_streams(self, c):
        """128 streams on an 8 MiB file on c, whose windows are shut."""
        c.until(lambda: c.settings_seen, what="the server's SETTINGS")
        return [c.request("/long.bin") for _ in range(128)]

    def test_zero_window_streams_are_cancelled(self):
        """CVE-2019-9517's shape with flow control: 128 streams on an 8 MiB
        file, their windows shut and never opened. They hold at most
        h2_max_buffer_bytes between them (memory flat); those that have
        sent their heads are reset CANCEL send_timeout_ms later, not
        before; another connection is served meanwhile."""
        srv = self.serve(send_timeout_ms=SEND_TIMEOUT_MS)
        good = self.connect(srv)
        c = self.connect(srv, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        before = rss_kib(srv.pid)
        sent = time.monotonic()
        sids = self.zero_window_streams(c)
        c.until(lambda: sum(1 for s in sids if c.streams[s].headers) >= 2, what="heads")
        self.served(good)()
        c.until(lambda: any(c.streams[s].reset is not None for s in sids),
                what="the first reset")
        self.assertGreaterEqual(time.monotonic() - sent, SEND_TIMEOUT_MS / 1000 * 0.95)
        self.assertEqual({c.streams[s].reset for s in sids if c.streams[s].reset is not None},
                         {8})  # CANCEL
        self.assertEqual(sum(len(c.streams[s].data) for s in sids), 0)
        self.assert_memory_flat(srv, before, STALL_RSS_KIB, "zero window")
        self.served(good)()

    def test_zero_window_abuser_is_cut_off(self):
        """CVE-2019-9517 with flow control, as an abuser plays it: 128
        streams on an 8 MiB file, windows never opened, each stream reset
        replaced at once by a new one. The connection is cut off (GOAWAY
        or closed) within three send timeouts.

        Each stream is reset CANCEL after send_timeout_ms; past 16 such
        resets within two send timeouts the connection goes (before, only
        keepalive_requests ended it, half an hour at the defaults)."""
        srv = self.serve(send_timeout_ms=SEND_TIMEOUT_MS)
        c = self.connect(srv, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        sids = self.zero_window_streams(c)
        replaced, closed = 0, False
        # Three send timeouts at the daemon's pace: without the cut-off,
        # only keepalive_requests would end it, half an hour on.
        deadline = time.monotonic() + 3 * SEND_TIMEOUT_MS / 1000 * SLOWDOWN
        while not closed and c.goaway is None and time.monotonic() < deadline:
            closed = not c.pump(0.1)
            for s in [s for s in sids if c.streams[s].reset is not None]:
                sids.remove(s)
                try:
                    sids.append(c.request("/long.bin"))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                replaced += 1
        print("\nzero window: %d streams reset and replaced, %s" % (
            replaced, "cut off" if closed or c.goaway else "still open"))
        self.assertTrue(closed or c.goaway is not None,
                        "open after three send timeouts of shut windows")

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
        self.assertEqual(c.goaways, [(5, 0)])  # no notice: it asked for no more

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
        c.until(lambda: final_goaway(c), what="the GOAWAY")
        self.assertEqual(c.goaways, [(NOTICE, 0), (1, 0)])
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
        self.assert_urgent_first(c, late, urgent)

    def assert_urgent_first(self, c, late, urgent):
        """Once both heads came and both windows open, the connection's
        window goes to urgent alone."""
        c.until(lambda: c.streams[late].headers and c.streams[urgent].headers,
                what="both heads")
        c.conn.increment_flow_control_window(BIG_BYTES, late)
        c.conn.increment_flow_control_window(BIG_BYTES, urgent)
        c.flush()
        c.until(lambda: len(c.streams[late].data) + len(c.streams[urgent].data) >= 65535,
                what="the connection's window")
        self.assertEqual((len(c.streams[urgent].data), len(c.streams[late].data)), (65535, 0))

    def test_priority_update_orders_the_data(self):
        """RFC 9218 7.1: PRIORITY_UPDATE frames (written here: python3-h2
        sends none) reprioritize two streams asked without a priority
        field, one open, one not yet (its update comes before its
        HEADERS, as the RFC allows): with the windows opened as in the
        test above, the one moved to urgency 0 gets the connection's
        window before the one moved to 7, asked first (nghttp2 drops the
        frame unread unless h2_session_new asks for it)."""
        srv = self.serve()
        c = self.connect(srv, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0,
                                        9: 1})  # SETTINGS_NO_RFC7540_PRIORITIES
        c.auto_ack = False
        late = c.request("/big.bin")
        c.sock.sendall(priority_update(late, b"u=7") + priority_update(late + 2, b"u=0"))
        urgent = c.request("/big.bin")
        self.assertEqual(urgent, late + 2)
        self.assert_urgent_first(c, late, urgent)

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
