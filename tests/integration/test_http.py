"""HTTP/1.1 protocol behaviour of the real daemon over raw sockets: status
codes for good and bad request heads, connection persistence, pipelining,
and that the server keeps serving after every bad request."""

import email.utils
import os
import re
import socket

from coserve_test import ServerTestCase, daemon_nodelay, main, write_file

INDEX = b"<!doctype html><title>coserve</title><p>index\n"
SMALL_FILES = {"f%02d.txt" % i: (b"file %02d " % i) * (i + 1) for i in range(20)}
BIG = bytes(range(256)) * 1024  # 256 KiB

CLOSE_AFTER = {400, 414, 431, 501, 505}
ALLOW_METHODS = {"GET", "HEAD", "OPTIONS"}


def head(request_line, *fields):
    """A raw request head from a request line and header lines."""
    return ("\r\n".join((request_line,) + fields) + "\r\n\r\n").encode("latin-1")


H = "Host: t"


# name, raw request bytes, allowed statuses, connection closes afterwards
# (True / False / None = either), method to read the response as.
REQUESTS = [
    ("get", head("GET /index.html HTTP/1.1", H), {200}, False, "GET"),
    ("head", head("HEAD /index.html HTTP/1.1", H), {200}, False, "HEAD"),
    ("options", head("OPTIONS /index.html HTTP/1.1", H), {204}, False, "OPTIONS"),
    ("http/1.0 closes", head("GET /index.html HTTP/1.0"), {200}, True, "GET"),
    ("connection close", head("GET /index.html HTTP/1.1", H, "Connection: close"),
     {200}, True, "GET"),
    ("absolute-form", head("GET http://t/index.html HTTP/1.1", H), {200}, False, "GET"),
    ("long query fits", head("GET /index.html?" + "q" * 8000 + " HTTP/1.1", H),
     {200}, False, "GET"),
    ("1000 fields is the limit",
     head("GET /index.html HTTP/1.1", H, *["X-F%d: v" % i for i in range(999)]),
     {200}, False, "GET"),
    ("missing", head("GET /no-such-file HTTP/1.1", H), {404}, False, "GET"),
    ("post", head("POST /index.html HTTP/1.1", H, "Content-Length: 0"), {405}, None, "POST"),
    ("put", head("PUT /index.html HTTP/1.1", H, "Content-Length: 0"), {405}, None, "PUT"),
    ("delete", head("DELETE /index.html HTTP/1.1", H), {405}, None, "DELETE"),
    ("patch", head("PATCH /index.html HTTP/1.1", H, "Content-Length: 0"), {405}, None, "PATCH"),
    ("trace", head("TRACE /index.html HTTP/1.1", H), {405}, None, "TRACE"),
    ("connect", head("CONNECT t:443 HTTP/1.1", H), {405, 400}, None, "CONNECT"),
    ("unknown method", head("BREW /index.html HTTP/1.1", H), {501}, True, "BREW"),
    ("lower-case method is another token", head("get /index.html HTTP/1.1", H),
     {501}, True, "get"),
    ("no host on 1.1", head("GET /index.html HTTP/1.1"), {400}, True, "GET"),
    ("two hosts", head("GET /index.html HTTP/1.1", "Host: a", "Host: b"), {400}, True, "GET"),
    ("http/2.0", head("GET /index.html HTTP/2.0", H), {505}, True, "GET"),
    ("http/3.0", head("GET /index.html HTTP/3.0", H), {505}, True, "GET"),
    ("http/0.9 line", b"GET /index.html\r\n\r\n", {400}, True, "GET"),
    ("lower-case protocol", head("GET /index.html http/1.1", H), {400}, True, "GET"),
    ("version garbage", head("GET /index.html HTTP/1.1x", H), {400}, True, "GET"),
    ("double space", head("GET  /index.html HTTP/1.1", H), {400}, True, "GET"),
    ("relative target", head("GET index.html HTTP/1.1", H), {400}, True, "GET"),
    ("control byte in target", head("GET /ind\x01ex.html HTTP/1.1", H), {400}, True, "GET"),
    ("transfer-encoding", head("GET /index.html HTTP/1.1", H, "Transfer-Encoding: chunked")
     + b"0\r\n\r\n", {501, 400}, True, "GET"),
    ("transfer-encoding and length",
     head("POST /index.html HTTP/1.1", H, "Transfer-Encoding: chunked", "Content-Length: 5")
     + b"0\r\n\r\n", {501, 400}, True, "POST"),
    ("request line too long", head("GET /" + "a" * 9000 + " HTTP/1.1", H), {414}, True, "GET"),
    ("header block too big",
     head("GET /index.html HTTP/1.1", H, *["X-Big-%d: %s" % (i, "b" * 1000) for i in range(17)]),
     {431}, True, "GET"),
    ("too many fields",
     head("GET /index.html HTTP/1.1", H, *["X-F%d: v" % i for i in range(1000)]),
     {431}, True, "GET"),
    ("field without colon", head("GET /index.html HTTP/1.1", H, "X-Bad field"), {400}, True, "GET"),
    ("space before colon", head("GET /index.html HTTP/1.1", "Host : t"), {400}, True, "GET"),
    ("obs-fold", head("GET /index.html HTTP/1.1", H, "X-A: a", " folded"), {400}, True, "GET"),
    ("bad field name", head("GET /index.html HTTP/1.1", H, "X(y): z"), {400}, True, "GET"),
    ("nul in field", head("GET /index.html HTTP/1.1", H, "X-A: a\x00b"), {400}, True, "GET"),
    ("content-length not a number", head("GET /index.html HTTP/1.1", H, "Content-Length: abc"),
     {400}, True, "GET"),
    ("negative content-length", head("GET /index.html HTTP/1.1", H, "Content-Length: -1"),
     {400}, True, "GET"),
    ("conflicting content-lengths",
     head("GET /index.html HTTP/1.1", H, "Content-Length: 1", "Content-Length: 2"),
     {400}, True, "GET"),
]

DATE_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                     r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


def allow_set(value):
    return {t.strip() for t in (value or "").split(",") if t.strip()}


class HTTPTest(ServerTestCase):
    server_config = {"keepalive_timeout_ms": 15000, "header_timeout_ms": 10000}

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "index.html"), INDEX)
        write_file(os.path.join(root, "big.bin"), BIG)
        for name, data in SMALL_FILES.items():
            write_file(os.path.join(root, name), data)

    def assert_served(self, msg=""):
        """A new connection still gets the index: the server lives on."""
        r = self.get("/index.html")
        self.assertEqual(r.status, 200, msg)
        self.assertEqual(r.body, INDEX, msg)

    def assert_error_response(self, r):
        length = r.header("content-length")
        self.assertIsNotNone(length, "error response without Content-Length: %r" % r)
        self.assertEqual(int(length), len(r.body))
        self.assertTrue(0 < len(r.body) <= 4096, "error body should be small, not empty")

    def test_request_table(self):
        for name, raw, statuses, closes, method in REQUESTS:
            with self.subTest(name):
                with self.conn() as c:
                    c.send(raw)
                    r = c.read_response("HEAD" if method == "HEAD" else method)
                    self.assertIn(r.status, statuses, r)
                    if r.status >= 400:
                        self.assert_error_response(r)
                    if r.status == 405:
                        self.assertEqual(allow_set(r.header("allow")), ALLOW_METHODS, r)
                    if r.status in CLOSE_AFTER or closes is True:
                        self.assertTrue(r.closes(), "expected Connection: close: %r" % r)
                        self.assertTrue(c.closed_by_peer(5), "server kept the connection open")
                    elif closes is False:
                        self.assertFalse(r.closes(), r)
                        c.request("GET", "/f01.txt")
                        again = c.read_response()
                        self.assertEqual(again.status, 200)
                        self.assertEqual(again.body, SMALL_FILES["f01.txt"])
                self.assert_served("after %s" % name)

    def test_ok_response_headers(self):
        r = self.get("/index.html")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.version, "HTTP/1.1")
        for name in ("date", "server", "content-length", "content-type", "last-modified",
                     "etag", "accept-ranges"):
            self.assertIn(name, r.headers, r)
        self.assertRegex(r.header("date"), DATE_RE)
        self.assertRegex(r.header("last-modified"), DATE_RE)
        email.utils.parsedate_to_datetime(r.header("date"))
        self.assertEqual(int(r.header("content-length")), len(INDEX))
        self.assertEqual(r.header("accept-ranges"), "bytes")
        self.assertRegex(r.header("etag"), r'^"[^"]*"$')

    def test_head_matches_get(self):
        with self.conn() as c:
            c.request("GET", "/big.bin")
            g = c.read_response()
            c.request("HEAD", "/big.bin")
            h = c.read_response("HEAD")
            c.request("GET", "/f02.txt")
            after = c.read_response()
        self.assertEqual(g.body, BIG)
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        for name in ("content-length", "content-type", "etag", "last-modified"):
            self.assertEqual(h.header(name), g.header(name), name)
        self.assertEqual(after.body, SMALL_FILES["f02.txt"], "HEAD sent a body")

    def test_options(self):
        with self.conn() as c:
            c.request("OPTIONS", "/index.html")
            r = c.read_response("OPTIONS")
            self.assertEqual(r.status, 204)
            self.assertEqual(allow_set(r.header("allow")), ALLOW_METHODS)
            c.request("GET", "/f03.txt")
            self.assertEqual(c.read_response().body, SMALL_FILES["f03.txt"],
                             "OPTIONS response left bytes behind")

    def test_keepalive_100_requests(self):
        names = sorted(SMALL_FILES)
        with self.conn() as c:
            for i in range(100):
                name = names[i % len(names)]
                c.request("GET", "/" + name)
                r = c.read_response()
                self.assertEqual(r.status, 200, "request %d" % i)
                self.assertEqual(r.body, SMALL_FILES[name], "request %d" % i)
                self.assertFalse(r.closes())

    def test_pipelined_20_in_one_write(self):
        # (method, target, expected status, expected body)
        plan = []
        for i, name in enumerate(sorted(SMALL_FILES)):
            if i == 5:
                plan.append(("HEAD", "/" + name, 200, b""))
            elif i == 9:
                plan.append(("GET", "/missing-%d" % i, 404, None))
            elif i == 12:
                plan.append(("GET", "/big.bin", 200, BIG))
            else:
                plan.append(("GET", "/" + name, 200, SMALL_FILES[name]))
        self.assertEqual(len(plan), 20)
        with self.conn() as c:
            c.send(b"".join(c_req(m, t) for m, t, _, _ in plan))
            for i, (method, target, status, body) in enumerate(plan):
                r = c.read_response(method)
                self.assertEqual(r.status, status, "response %d (%s %s)" % (i, method, target))
                if body is not None:
                    self.assertEqual(r.body, body, "response %d (%s %s)" % (i, method, target))
            c.request("GET", "/index.html", {"Connection": "close"})
            self.assertEqual(c.read_response().body, INDEX)
            self.assertTrue(c.closed_by_peer(5))

    def test_connection_close_honoured(self):
        with self.conn() as c:
            c.request("GET", "/f04.txt", {"Connection": "close"})
            r = c.read_response()
            self.assertEqual(r.body, SMALL_FILES["f04.txt"])
            self.assertTrue(r.closes())
            self.assertTrue(c.closed_by_peer(5))

    def test_http10_defaults_to_close(self):
        with self.conn() as c:
            c.request("GET", "/f05.txt", version="HTTP/1.0")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, SMALL_FILES["f05.txt"])
            self.assertTrue(c.closed_by_peer(5))

    def test_get_with_small_body_stays_in_sync(self):
        with self.conn() as c:
            c.send(head("GET /f06.txt HTTP/1.1", H, "Content-Length: 5") + b"hello"
                   + head("GET /f07.txt HTTP/1.1", H))
            first = c.read_response()
            second = c.read_response()
        self.assertEqual(first.body, SMALL_FILES["f06.txt"])
        self.assertEqual(second.status, 200)
        self.assertEqual(second.body, SMALL_FILES["f07.txt"])

    def test_expect_100_continue(self):
        # The answer comes without waiting for the body, and says the
        # connection closes: whether the client still sends the body
        # cannot then desynchronise anything.
        with self.conn() as c:
            c.send(head("GET /f06.txt HTTP/1.1", H, "Content-Length: 5",
                        "Expect: 100-continue"))
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, SMALL_FILES["f06.txt"]))
            self.assertTrue(r.closes())
            self.assertTrue(c.closed_by_peer())
        # Without a body, Expect changes nothing.
        with self.conn() as c:
            c.send(head("GET /f06.txt HTTP/1.1", H, "Expect: 100-continue")
                   + head("GET /f07.txt HTTP/1.1", H))
            self.assertEqual(c.read_response().body, SMALL_FILES["f06.txt"])
            self.assertEqual(c.read_response().body, SMALL_FILES["f07.txt"])

    def test_transfer_encoding_is_refused_and_closes(self):
        cases = [
            (("Transfer-Encoding: chunked",), 501),
            (("Transfer-Encoding: chunked", "Content-Length: 5"), 400),
            (("Content-Length: 5", "Transfer-Encoding: chunked"), 400),
        ]
        for fields, status in cases:
            with self.subTest(fields), self.conn() as c:
                c.send(head("GET /f06.txt HTTP/1.1", H, *fields) + b"5\r\nhello\r\n0\r\n\r\n"
                       + head("GET /f07.txt HTTP/1.1", H))
                r = c.read_response()
                self.assertEqual(r.status, status)
                self.assertTrue(r.closes())
                self.assertTrue(c.closed_by_peer())

    def test_body_arriving_later_is_discarded(self):
        with self.conn() as c:
            c.send(head("GET /f08.txt HTTP/1.1", H, "Content-Length: 11"))
            c.send(b"hello ")
            c.send(b"world" + head("GET /f09.txt HTTP/1.1", H))
            self.assertEqual(c.read_response().body, SMALL_FILES["f08.txt"])
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, SMALL_FILES["f09.txt"])

    def test_head_sent_byte_by_byte(self):
        raw = head("GET /f10.txt HTTP/1.1", H, "X-Split: yes")
        with self.conn() as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(raw)):
                c.send(raw[i:i + 1])
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, SMALL_FILES["f10.txt"])

    def test_daemons_end_has_nodelay(self):
        """The daemon's end of a connection has TCP_NODELAY, which it sets
        once on its listening sockets for every accepted one to inherit:
        pidfd_getfd lends this test the daemon's own socket to ask."""
        with self.conn() as c:
            c.send(head("GET /f01.txt HTTP/1.1", H))
            self.assertEqual(c.read_response().status, 200)
            self.assertEqual(daemon_nodelay(self.server.pid, c.sock), 1)

    def test_bad_request_after_good_ones_on_one_connection(self):
        with self.conn() as c:
            c.send(head("GET /f11.txt HTTP/1.1", H) + head("GET /f12.txt HTTP/9.9", H)
                   + head("GET /f13.txt HTTP/1.1", H))
            self.assertEqual(c.read_response().body, SMALL_FILES["f11.txt"])
            r = c.read_response()
            self.assertEqual(r.status, 505)
            self.assertTrue(c.closed_by_peer(5), "no close after 505")
        self.assert_served()


def c_req(method, target):
    return head("%s %s HTTP/1.1" % (method, target), H)


if __name__ == "__main__":
    main()
