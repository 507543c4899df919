"""HTTP semantics of the real daemon (RFC 9110): conditional requests in
the order of 13.2.2 (If-Match, If-Unmodified-Since, If-None-Match,
If-Modified-Since, If-Range), 304 and 412 responses and their framing,
several ranges as multipart/byteranges (sorted, coalesced, capped), Range
on HEAD, and HEAD answering with exactly GET's header fields. Cases are
rows in tables; each is sent on its own connection, and the connection
must still be in sync afterwards."""

import datetime
import email.parser
import email.policy
import email.utils
import os
import re
import tempfile
import time
import unittest

from coserve_test import ServerTestCase, curl, have_program, main, write_file

DOC = os.urandom(10000)
TEXT = b"".join(b"line %04d of the text file\n" % i for i in range(200))
SYNC = b"still in sync\n"
RANGE_MAX_PARTS = 16
DAY = 86400

# Header templates: {etag}, {weak}, {lm}, {later}, {past} are filled in from
# the validators the daemon gives doc.bin (modified a day ago).
# name, request headers, status for both GET and HEAD.
PRECEDENCE = [
    # Step 1: If-Match, strong comparison.
    ("if-match exact", {"If-Match": "{etag}"}, 200),
    ("if-match star", {"If-Match": "*"}, 200),
    ("if-match list", {"If-Match": '"x", {etag}, "y"'}, 200),
    ("if-match other", {"If-Match": '"x"'}, 412),
    ("if-match weak tag", {"If-Match": "{weak}"}, 412),
    ("if-match malformed", {"If-Match": "{etag} junk"}, 412),
    ("if-match fails before if-none-match matches",
     {"If-Match": '"x"', "If-None-Match": "{etag}"}, 412),
    ("if-match fails before if-modified-since",
     {"If-Match": '"x"', "If-Modified-Since": "{lm}"}, 412),
    ("if-match passes, if-none-match matches",
     {"If-Match": "{etag}", "If-None-Match": "{etag}"}, 304),
    ("if-match makes if-unmodified-since not count",
     {"If-Match": "{etag}", "If-Unmodified-Since": "{past}"}, 200),
    # Step 2: If-Unmodified-Since.
    ("ius equal", {"If-Unmodified-Since": "{lm}"}, 200),
    ("ius later", {"If-Unmodified-Since": "{later}"}, 200),
    ("ius in the past", {"If-Unmodified-Since": "{past}"}, 412),
    ("ius invalid is ignored", {"If-Unmodified-Since": "yesterday"}, 200),
    ("ius list is ignored", {"If-Unmodified-Since": "{past}, {past}"}, 200),
    ("ius fails before if-none-match matches",
     {"If-Unmodified-Since": "{past}", "If-None-Match": "{etag}"}, 412),
    ("ius passes, if-none-match matches",
     {"If-Unmodified-Since": "{lm}", "If-None-Match": "{etag}"}, 304),
    # Step 3: If-None-Match, weak comparison.
    ("inm exact", {"If-None-Match": "{etag}"}, 304),
    ("inm weak tag", {"If-None-Match": "{weak}"}, 304),
    ("inm star", {"If-None-Match": "*"}, 304),
    ("inm list", {"If-None-Match": '"x", {weak}'}, 304),
    ("inm other", {"If-None-Match": '"x"'}, 200),
    ("inm malformed", {"If-None-Match": "{etag} junk"}, 200),
    ("inm makes ims not count",
     {"If-None-Match": '"x"', "If-Modified-Since": "{lm}"}, 200),
    # Step 4: If-Modified-Since.
    ("ims equal", {"If-Modified-Since": "{lm}"}, 304),
    ("ims later", {"If-Modified-Since": "{later}"}, 304),
    ("ims earlier", {"If-Modified-Since": "{past}"}, 200),
    ("ims invalid", {"If-Modified-Since": "yesterday"}, 200),
    # A 304 or 412 wins over a Range.
    ("inm match with a range", {"If-None-Match": "{etag}", "Range": "bytes=0-9"}, 304),
    ("if-match fails with a range", {"If-Match": '"x"', "Range": "bytes=0-9"}, 412),
    ("ius fails with an unsatisfiable range",
     {"If-Unmodified-Since": "{past}", "Range": "bytes=99999-"}, 412),
]

# Range value -> the parts of the 206 over DOC, sorted and merged; one part
# is a plain 206, several are multipart/byteranges. None: 200, whole file.
# "416": unsatisfiable.
N = len(DOC)
RANGES = [
    ("bytes=0-1,5-6", [(0, 1), (5, 6)]),
    ("bytes=5-6,0-1", [(0, 1), (5, 6)]),
    ("bytes=0-99,-100", [(0, 99), (N - 100, N - 1)]),
    ("bytes=0-0,%d-,5000-5000" % (N - 1), [(0, 0), (5000, 5000), (N - 1, N - 1)]),
    ("bytes=100-199, 0-49 ,150-300", [(0, 49), (100, 300)]),
    ("bytes=0-1,,5-6,", [(0, 1), (5, 6)]),
    # Adjacent or overlapping ranges merge; one left is a plain 206.
    ("bytes=0-1,2-3", [(0, 3)]),
    ("bytes=0-10,5-20", [(0, 20)]),
    ("bytes=10-19,0-9,20-29", [(0, 29)]),
    ("bytes=0-4999,5000-", [(0, N - 1)]),
    # Unsatisfiable specs are dropped.
    ("bytes=0-1,%d-" % (N + 10), [(0, 1)]),
    ("bytes=%d-,%d-" % (N, N + 10), "416"),
    # The cap: RANGE_MAX_PARTS specs are served, one more is not.
    ("bytes=" + ",".join("%d-%d" % (i * 100, i * 100 + 9) for i in range(RANGE_MAX_PARTS)),
     [(i * 100, i * 100 + 9) for i in range(RANGE_MAX_PARTS)]),
    ("bytes=" + ",".join("%d-%d" % (i * 100, i * 100 + 9)
                         for i in range(RANGE_MAX_PARTS + 1)), None),
    ("bytes=" + ",".join("%d-%d" % (i, i) for i in range(RANGE_MAX_PARTS + 1)), None),
    # Overlap adding up to more than the file: amplification, ignored.
    ("bytes=0-,0-", None),
    ("bytes=0-6000,4000-", None),
    ("bytes=-1,-1,-1", [(N - 1, N - 1)]),
    # One malformed spec spoils the field.
    ("bytes=0-1,x", None),
    ("bytes=0-1,5-2", None),
]

# If-Range value (templates as above) with Range bytes=0-9 -> status.
IF_RANGE = [
    ("{etag}", 206),
    ("{weak}", 200),
    ('"x"', 200),
    ("{etag}, {etag}", 200),
    ("{lm}", 206),  # a day old: a strong date
    ("{lm850}", 206),
    ("{past}", 200),
    ("{later}", 200),
    ("garbage", 200),
    ("", 200),
]


def parse_multipart(test, content_type, body, size, part_type):
    """Checks a multipart/byteranges body byte for byte; returns
    [(first, last, bytes)] in the order sent."""
    m = re.fullmatch(r"multipart/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})",
                     content_type or "")
    test.assertIsNotNone(m, "Content-Type %r" % content_type)
    boundary = m.group(1).encode()
    delim = b"--" + boundary
    test.assertTrue(body.startswith(delim + b"\r\n"), body[:100])
    pos = len(delim) + 2
    parts = []
    while True:
        end = body.index(b"\r\n\r\n", pos)
        fields = dict(line.split(b": ", 1) for line in body[pos:end].split(b"\r\n"))
        test.assertEqual(set(fields), {b"Content-Type", b"Content-Range"})
        test.assertEqual(fields[b"Content-Type"].decode(), part_type)
        cr = re.fullmatch(rb"bytes (\d+)-(\d+)/(\d+)", fields[b"Content-Range"])
        test.assertIsNotNone(cr, fields)
        first, last, total = (int(x) for x in cr.groups())
        test.assertEqual(total, size)
        pos = end + 4
        parts.append((first, last, body[pos:pos + last - first + 1]))
        pos += last - first + 1
        if body[pos:] == b"\r\n" + delim + b"--\r\n":
            return parts
        test.assertEqual(body[pos:pos + len(delim) + 4], b"\r\n" + delim + b"\r\n")
        pos += len(delim) + 4


def check_range_response(test, r, want, data, ctype):
    size = len(data)
    test.assertEqual(r.header("accept-ranges"), None if want == "416" else "bytes")
    if want is None:
        test.assertEqual(r.status, 200, r)
        test.assertIsNone(r.header("content-range"))
        test.assertEqual(r.body, data)
    elif want == "416":
        test.assertEqual(r.status, 416, r)
        test.assertEqual(r.header("content-range"), "bytes */%d" % size)
    elif len(want) == 1:
        first, last = want[0]
        test.assertEqual(r.status, 206, r)
        test.assertEqual(r.header("content-type"), ctype)
        test.assertEqual(r.header("content-range"), "bytes %d-%d/%d" % (first, last, size))
        test.assertEqual(r.body, data[first:last + 1])
    else:
        test.assertEqual(r.status, 206, r)
        test.assertIsNone(r.header("content-range"))
        test.assertEqual(int(r.header("content-length")), len(r.body))
        parts = parse_multipart(test, r.header("content-type"), r.body, size, ctype)
        test.assertEqual([(f, l) for f, l, _ in parts], want)
        for first, last, got in parts:
            test.assertEqual(got, data[first:last + 1])


class SemanticsTest(ServerTestCase):
    @classmethod
    def make_root(cls, root):
        day_ago = time.time() - DAY
        for name, data in (("doc.bin", DOC), ("text.txt", TEXT), ("sync.txt", SYNC),
                           ("empty.bin", b"")):
            write_file(os.path.join(root, name), data)
            os.utime(os.path.join(root, name), (day_ago, day_ago))
        # Modified "in the future": its Last-Modified cannot be strong yet.
        write_file(os.path.join(root, "fresh.bin"), DOC)
        later = time.time() + DAY
        os.utime(os.path.join(root, "fresh.bin"), (later, later))

    def validators(self, target="/doc.bin"):
        r = self.get(target)
        self.assertEqual(r.status, 200)
        etag, lm = r.header("etag"), r.header("last-modified")
        self.assertRegex(etag, r'^"[^"]*"$')
        t = email.utils.parsedate_to_datetime(lm)
        return {
            "etag": etag,
            "weak": "W/" + etag,
            "lm": lm,
            "lm850": t.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
            "later": email.utils.format_datetime(t + datetime.timedelta(hours=1), usegmt=True),
            "past": email.utils.format_datetime(t - datetime.timedelta(days=365), usegmt=True),
        }

    @staticmethod
    def fill(headers, v):
        return {k: val.format(**v) for k, val in headers.items()}

    def assert_in_sync(self, c):
        c.request("GET", "/sync.txt")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, SYNC))

    def exchange(self, method, target, headers):
        """One request and the next on the same connection: both must be
        answered, so nothing of the first response was left unsent or extra."""
        with self.conn() as c:
            c.request(method, target, headers)
            r = c.read_response(method)
            self.assert_in_sync(c)
            return r

    # conditional requests

    def test_precedence(self):
        v = self.validators()
        for name, headers, status in PRECEDENCE:
            for method in ("GET", "HEAD"):
                with self.subTest(name, method=method):
                    r = self.exchange(method, "/doc.bin", self.fill(headers, v))
                    self.assertEqual(r.status, status, r)
                    if status == 304:
                        self.assert_not_modified(r, v)
                    elif status == 412:
                        self.assert_error(r, method)
                    elif method == "GET":
                        self.assertEqual(r.body, DOC)

    def assert_not_modified(self, r, v):
        self.assertEqual(r.header("etag"), v["etag"])
        self.assertEqual(r.header("last-modified"), v["lm"])
        self.assertIsNotNone(email.utils.parsedate_to_datetime(r.header("date")))
        for name in ("content-type", "content-range", "transfer-encoding"):
            self.assertIsNone(r.header(name), r)
        self.assertIn(r.header("content-length"), (None, str(len(DOC))))

    def assert_error(self, r, method):
        self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
        length = int(r.header("content-length"))
        self.assertTrue(0 < length <= 4096, r)
        if method == "GET":
            self.assertEqual(len(r.body), length)
            self.assertIn(b"412", r.body)
        self.assertIsNone(r.header("etag"))
        self.assertFalse(r.closes(), "a 412 need not close the connection")

    def test_pipelined_412_and_304(self):
        v = self.validators()
        with self.conn() as c:
            c.send(b"".join([
                b"GET /doc.bin HTTP/1.1\r\nHost: t\r\nIf-Match: \"x\"\r\n\r\n",
                b"GET /doc.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n"
                % v["etag"].encode(),
                b"HEAD /doc.bin HTTP/1.1\r\nHost: t\r\nIf-Unmodified-Since: %s\r\n\r\n"
                % v["past"].encode(),
                b"GET /doc.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,5-6\r\n\r\n",
                b"GET /sync.txt HTTP/1.1\r\nHost: t\r\n\r\n",
            ]))
            statuses = [c.read_response(m).status for m in ("GET", "GET", "HEAD", "GET")]
            self.assertEqual(statuses, [412, 304, 412, 206])
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, SYNC))

    def test_if_range(self):
        v = self.validators()
        for value, status in IF_RANGE:
            with self.subTest(value):
                r = self.exchange("GET", "/doc.bin",
                                  {"Range": "bytes=0-9", "If-Range": value.format(**v)})
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.body, DOC[:10] if status == 206 else DOC)

    def test_if_range_multipart(self):
        v = self.validators()
        r = self.exchange("GET", "/doc.bin", {"Range": "bytes=0-1,5-6", "If-Range": v["etag"]})
        self.assertEqual(r.status, 206)
        parts = parse_multipart(self, r.header("content-type"), r.body, N,
                                "application/octet-stream")
        self.assertEqual([(f, l) for f, l, _ in parts], [(0, 1), (5, 6)])

    def test_if_range_date_must_be_strong(self):
        v = self.validators("/fresh.bin")
        cases = [(v["lm"], 200), (v["etag"], 206)]  # its date is too recent to be strong
        for value, status in cases:
            with self.subTest(value):
                r = self.exchange("GET", "/fresh.bin", {"Range": "bytes=0-9", "If-Range": value})
                self.assertEqual(r.status, status, r)

    def test_if_range_without_range(self):
        v = self.validators()
        r = self.exchange("GET", "/doc.bin", {"If-Range": v["etag"]})
        self.assertEqual((r.status, r.body), (200, DOC))

    # ranges

    def test_ranges(self):
        for value, want in RANGES:
            with self.subTest(value):
                r = self.exchange("GET", "/doc.bin", {"Range": value})
                check_range_response(self, r, want, DOC, "application/octet-stream")

    def test_multipart_with_email_parser(self):
        """What a generic MIME parser makes of the body."""
        r = self.exchange("GET", "/text.txt", {"Range": "bytes=0-26,-27"})
        self.assertEqual(r.status, 206)
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + r.header("content-type").encode() + b"\r\n\r\n" + r.body)
        self.assertTrue(msg.is_multipart())
        parts = list(msg.iter_parts())
        self.assertEqual(len(parts), 2)
        self.assertEqual(parts[0]["Content-Range"], "bytes 0-26/%d" % len(TEXT))
        self.assertEqual(parts[1]["Content-Range"],
                         "bytes %d-%d/%d" % (len(TEXT) - 27, len(TEXT) - 1, len(TEXT)))
        for part in parts:
            self.assertEqual(part.get_content_type(), "text/plain")
            self.assertEqual(part.get_param("charset"), "utf-8")
        self.assertEqual(parts[0].get_payload(decode=True), TEXT[:27])
        self.assertEqual(parts[1].get_payload(decode=True), TEXT[-27:])

    def test_boundary_is_fresh(self):
        seen = set()
        for _ in range(3):
            r = self.exchange("GET", "/doc.bin", {"Range": "bytes=0-1,5-6"})
            seen.add(r.header("content-type"))
        self.assertEqual(len(seen), 3)

    def test_range_ignored_on_head(self):
        """RFC 9110 14.2: Range is defined for GET only; HEAD answers as a
        GET without it would."""
        v = self.validators()
        for value in ("bytes=0-9", "bytes=0-1,5-6", "bytes=99999-"):
            with self.subTest(value):
                r = self.exchange("HEAD", "/doc.bin", {"Range": value, "If-Range": v["etag"]})
                self.assertEqual(r.status, 200, r)
                self.assertIsNone(r.header("content-range"))
                self.assertEqual(r.header("content-length"), str(N))

    def test_head_has_get_headers(self):
        """HEAD gets exactly GET's fields, Date aside: for 200, for 304, and
        for a HEAD with a Range (a GET without one, as Range is GET's only)."""
        v = self.validators()
        rows = [  # target, HEAD headers, GET headers
            ("/doc.bin", {}, {}),
            ("/empty.bin", {}, {}),
            ("/text.txt", {}, {}),
            ("/doc.bin", {"If-None-Match": v["etag"]}, {"If-None-Match": v["etag"]}),
            ("/doc.bin", {"Range": "bytes=0-9"}, {}),
            ("/doc.bin", {"Range": "bytes=0-1,5-6"}, {}),
        ]
        for target, head_headers, get_headers in rows:
            with self.subTest(target, **head_headers):
                h = self.exchange("HEAD", target, head_headers)
                g = self.exchange("GET", target, get_headers)
                strip = lambda r: [(k.lower(), val) for k, val in r.header_list
                                   if k.lower() != "date"]
                self.assertEqual((h.status, strip(h)), (g.status, strip(g)))
                if g.status == 200:
                    self.assertEqual(int(g.header("content-length")), len(g.body))

    def test_curl_multipart(self):
        if not have_program("curl"):
            self.skipTest("curl is not installed")
        with tempfile.TemporaryDirectory(prefix="coserve-out-") as tmp:
            out, hdr = os.path.join(tmp, "body"), os.path.join(tmp, "head")
            code, p = curl(self.server.url("/doc.bin"), out, ["-r", "0-1,5-6", "-D", hdr])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(code, 206)
            with open(hdr, "rb") as f:
                head = f.read().decode("latin-1")
            ctype = re.search(r"(?im)^content-type: (.*?)\r?$", head).group(1)
            with open(out, "rb") as f:
                body = f.read()
            parts = parse_multipart(self, ctype, body, N, "application/octet-stream")
            self.assertEqual(parts, [(0, 1, DOC[0:2]), (5, 6, DOC[5:7])])
            # A single range through curl stays a plain 206.
            code, p = curl(self.server.url("/doc.bin"), out, ["-r", "0-1,2-3"])
            self.assertEqual(code, 206)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), DOC[:4])

    def test_curl_conditionals(self):
        if not have_program("curl"):
            self.skipTest("curl is not installed")
        v = self.validators()
        with tempfile.TemporaryDirectory(prefix="coserve-out-") as tmp:
            out = os.path.join(tmp, "body")
            rows = [
                (["-H", "If-None-Match: " + v["etag"]], 304),
                (["-H", 'If-Match: "x"'], 412),
                (["-z", v["past"]], 200),  # If-Modified-Since
                (["-z", v["later"]], 304),
                (["-z", "-" + v["past"]], 412),  # If-Unmodified-Since
            ]
            for extra, status in rows:
                with self.subTest(extra):
                    code, p = curl(self.server.url("/doc.bin"), out, extra)
                    self.assertEqual(code, status, p.stderr)


MiB = 1 << 20
BIG = os.urandom(300 * 1024)


class SmallChunksTest(ServerTestCase):
    """Parts and their delimiters across many 4 KiB chunk buffers."""

    server_config = {"chunk_bytes": 4096}

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "big.bin"), BIG)
        write_file(os.path.join(root, "sync.txt"), SYNC)

    def test_ranges(self):
        n = len(BIG)
        rows = [
            ("bytes=0-5000,10000-20000,-4097",
             [(0, 5000), (10000, 20000), (n - 4097, n - 1)]),
            ("bytes=4095-4096,8191-8192,12287-12288",
             [(4095, 4096), (8191, 8192), (12287, 12288)]),
            ("bytes=" + ",".join("%d-%d" % (i * 4100, i * 4100 + 4089) for i in range(16)),
             [(i * 4100, i * 4100 + 4089) for i in range(16)]),
            ("bytes=1-,0-0", [(0, n - 1)]),
            ("bytes=100-200000", [(100, 200000)]),
            ("bytes=0-0,%d-" % (n - 1), [(0, 0), (n - 1, n - 1)]),
        ]
        for value, want in rows:
            with self.subTest(value), self.conn() as c:
                c.request("GET", "/big.bin", {"Range": value})
                r = c.read_response()
                check_range_response(self, r, want, BIG, "application/octet-stream")
                c.request("GET", "/sync.txt")
                self.assertEqual(c.read_response().body, SYNC)


if __name__ == "__main__":
    main()
