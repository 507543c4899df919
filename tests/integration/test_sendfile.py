"""Zero-copy bodies: files and ranges of sendfile_min_bytes or more go out
with sendfile, byte-exact, and the metrics show it (coserve_file_sends_total
moves, coserve_file_reads_total does not); smaller ones keep the copy path.
A stalled client holds up no other, and neither does one that reads as fast
as the daemon writes; the send timeout still cuts a client off, the access
log counts exact bytes, and sendfile_min_bytes = 0 turns it off."""

import os
import re
import socket
import struct
import threading
import time
import unittest

from coserve_test import (SLOWDOWN, SLOWFS, ServerTestCase, fetch, main, sha256, wait_for,
                          write_file)

MiB = 1 << 20
MIN = 16384  # the default sendfile_min_bytes

# name -> (size, whether a whole GET goes by sendfile)
FILES = {
    "below.bin": (MIN - 1, False),
    "edge.bin": (MIN, True),
    "steps.bin": (600001, True),  # more than one 512 KiB step
    "big.bin": (5 * MiB + 7, True),
}
DATA = {name: os.urandom(size) for name, (size, _) in FILES.items()}
BIG = DATA["big.bin"]
BIG_LEN = len(BIG)

# Range of big.bin -> (parts as (first, last), whether sendfile sends any).
RANGES = {
    "bytes=0-0": ([(0, 0)], False),
    "bytes=4097-2000000": ([(4097, 2000000)], True),  # not page-aligned
    "bytes=-100000": ([(BIG_LEN - 100000, BIG_LEN - 1)], True),
    "bytes=5000000-": ([(5000000, BIG_LEN - 1)], True),
    "bytes=10-20,30-40": ([(10, 20), (30, 40)], False),
    # Small parts copied, the large one sent, in one multipart body.
    "bytes=0-9,100000-400000,%d-" % (BIG_LEN - 10):
        ([(0, 9), (100000, 400000), (BIG_LEN - 10, BIG_LEN - 1)], True),
}

SAMPLE_RE = re.compile(r'^(coserve_[a-z_]+)(\{[^}]*\})? (\S+)$', re.M)
SENDS = ("coserve_file_sends_total", '{source="page_cache"}')
SENDS_POOL = ("coserve_file_sends_total", '{source="pool"}')
READS = ("coserve_file_reads_total", '{source="page_cache"}')
READS_POOL = ("coserve_file_reads_total", '{source="pool"}')
KEPT = ("coserve_file_cache_body_bytes", "")
SEND_TIMEOUTS = ("coserve_timeouts_total", '{kind="send"}')


def scrape(srv):
    r = fetch(srv.listeners[1][0], srv.listeners[1][1], "/metrics")
    assert r.status == 200, r
    return {(m.group(1), m.group(2) or ""): float(m.group(3))
            for m in SAMPLE_RE.finditer(r.body.decode())}


def multipart_parts(body, content_type):
    """[(first, last, bytes)] of a multipart/byteranges body."""
    boundary = content_type.split("boundary=", 1)[1].encode()
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        m = re.search(rb"Content-Range: bytes (\d+)-(\d+)/\d+", head)
        parts.append((int(m.group(1)), int(m.group(2)), data[:-2]))  # CRLF before the next
    return parts


def stalled_download(srv, target, rcvbuf=4096, headers=None):
    """A GET whose client reads only the head: the daemon then waits on a
    full socket, part-way through the body."""
    c = srv.connect(rcvbuf=rcvbuf)
    c.request("GET", target, dict(headers or {}, Connection="close"))
    return c, c.read_head()


def read_until_closed(c, limit):
    data = bytearray(c.buf)
    c.buf.clear()
    while len(data) < limit:
        try:
            chunk = c.sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


class SendfileTest(ServerTestCase):

    @classmethod
    def make_root(cls, root):
        for name, data in DATA.items():
            write_file(os.path.join(root, name), data)

    @classmethod
    def server_options(cls):
        cls.access_log = os.path.join(cls.tmp, "access.log")
        return {"config": {"metrics_listen": "127.0.0.1:0", "access_log": cls.access_log}}

    def delta(self, before, after, key):
        return after.get(key, 0) - before.get(key, 0)

    def test_whole_files_byte_exact(self):
        for name, (size, zerocopy) in FILES.items():
            with self.subTest(name=name):
                before = scrape(self.server)
                r = self.get("/" + name)
                after = scrape(self.server)
                self.assertEqual(r.status, 200)
                self.assertEqual(int(r.header("content-length")), size)
                self.assertEqual(sha256(r.body), sha256(DATA[name]))
                sends = self.delta(before, after, SENDS) + self.delta(before, after, SENDS_POOL)
                reads = self.delta(before, after, READS) + self.delta(before, after, READS_POOL)
                if zerocopy:
                    self.assertGreaterEqual(sends, 1, "no sendfile for %s" % name)
                    self.assertEqual(reads, 0, "%s was copied" % name)
                else:
                    self.assertEqual(sends, 0, "%s went by sendfile" % name)
                    # Read, or kept in memory by an earlier request.
                    kept = after.get(KEPT, 0) >= size
                    self.assertTrue(reads >= 1 or kept, "%s: no read, not kept" % name)

    def test_ranges_byte_exact(self):
        for spec, (parts, zerocopy) in RANGES.items():
            with self.subTest(range=spec):
                before = scrape(self.server)
                r = self.get("/big.bin", {"Range": spec})
                after = scrape(self.server)
                self.assertEqual(r.status, 206, r)
                if len(parts) == 1:
                    first, last = parts[0]
                    self.assertEqual(r.header("content-range"),
                                     "bytes %d-%d/%d" % (first, last, BIG_LEN))
                    self.assertEqual(r.body, BIG[first:last + 1])
                else:
                    got = multipart_parts(r.body, r.header("content-type"))
                    self.assertEqual([(f, l) for f, l, _ in got], parts)
                    for first, last, data in got:
                        self.assertEqual(data, BIG[first:last + 1], "part %d-%d" % (first, last))
                sends = self.delta(before, after, SENDS) + self.delta(before, after, SENDS_POOL)
                if zerocopy:
                    self.assertGreaterEqual(sends, 1)
                else:
                    self.assertEqual(sends, 0)

    def test_head_sends_nothing(self):
        before = scrape(self.server)
        r = self.get("/big.bin", method="HEAD")
        after = scrape(self.server)
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(int(r.header("content-length")), BIG_LEN)
        self.assertEqual(self.delta(before, after, SENDS) + self.delta(before, after, SENDS_POOL),
                         0)

    def test_keep_alive_after_sendfile(self):
        # The next response on the connection starts right after the last byte.
        with self.conn() as c:
            for name in ("big.bin", "below.bin", "steps.bin", "edge.bin"):
                c.request("GET", "/" + name)
                r = c.read_response()
                self.assertEqual((r.status, sha256(r.body)), (200, sha256(DATA[name])))

    def test_access_log_counts_exact_bytes(self):
        ua = "sendfile-log-%d" % time.monotonic_ns()
        self.assertEqual(self.get("/big.bin", {"User-Agent": ua}).status, 200)
        self.assertEqual(self.get("/big.bin", {"User-Agent": ua, "Range": "bytes=4097-2000000"})
                         .status, 206)

        def lines():
            with open(self.access_log, encoding="utf-8", errors="replace") as f:
                return [l for l in f if ua in l]

        wait_for(lambda: len(lines()) == 2, what="two access log lines")
        # Two connections, perhaps on two reactors, each logging in its own time.
        sizes = sorted(int(re.search(r'" (\d{3}) (\d+) ', l).group(2)) for l in lines())
        self.assertEqual(sizes, sorted([BIG_LEN, 2000000 - 4097 + 1]))

    def test_stalled_client_holds_up_no_other(self):
        c, head = stalled_download(self.server, "/big.bin")
        with c:
            self.assertIn(b" 200 ", head.split(b"\r\n")[0])
            # The daemon now waits for this socket; every other client is served.
            t0 = time.monotonic()
            for _ in range(10):
                r = self.get("/steps.bin")
                self.assertEqual((r.status, r.body), (200, DATA["steps.bin"]))
            # Gross: a reactor stuck behind the stalled client would never answer.
            self.assertLess(time.monotonic() - t0, 60)
            body = read_until_closed(c, BIG_LEN)
        self.assertEqual(sha256(body), sha256(BIG))

    def test_client_gone_before_the_first_byte_is_no_500(self):
        # Reset right after the request: the daemon's first send fails
        # (or its head goes out first, whichever wins), an abort either way.
        ua = "sendfile-reset-%d" % time.monotonic_ns()
        for _ in range(20):
            c = self.server.connect()
            c.request("GET", "/big.bin", {"User-Agent": ua})
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()

        def lines():
            with open(self.access_log, encoding="utf-8", errors="replace") as f:
                return [l for l in f if ua in l]

        wait_for(lambda: len(lines()) == 20, what="twenty access log lines")
        statuses = {re.search(r'" (\d{3}) ', l).group(1) for l in lines()}
        self.assertEqual(statuses, {"200"})

    def test_many_concurrent_downloads(self):
        results = []

        def download(name):
            r = self.get("/" + name)
            results.append(r.status == 200 and r.body == DATA[name])

        threads = [threading.Thread(target=download, args=(name,))
                   for name in list(FILES) * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(results, [True] * len(threads))


class SendTimeoutTest(ServerTestCase):
    """A client that stops reading is cut off after send_timeout_ms, on the
    sendfile path as on the copy path."""

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "big.bin"), BIG)

    @classmethod
    def server_options(cls):
        cls.access_log = os.path.join(cls.tmp, "access.log")
        return {"config": {"metrics_listen": "127.0.0.1:0", "send_timeout_ms": 300,
                           "access_log": cls.access_log}}

    def test_send_timeout_cuts_off_a_stalled_client(self):
        ua = "sendfile-cut-%d" % time.monotonic_ns()
        before = scrape(self.server)[SEND_TIMEOUTS]
        c, head = stalled_download(self.server, "/big.bin", headers={"User-Agent": ua})
        with c:
            wait_for(lambda: scrape(self.server)[SEND_TIMEOUTS] > before,
                     what="a send timeout")
            body = read_until_closed(c, BIG_LEN)
        self.assertLess(len(body), BIG_LEN)
        self.assertEqual(body, BIG[:len(body)])
        m = scrape(self.server)
        self.assertGreaterEqual(m[SENDS] + m[SENDS_POOL], 1)

        # The log counts what went out before the cut, as the copy path does.
        def lines():
            with open(self.access_log, encoding="utf-8", errors="replace") as f:
                return [l for l in f if ua in l]

        wait_for(lambda: len(lines()) == 1, what="the access log line")
        status, size = re.search(r'" (\d{3}) (\d+) ', lines()[0]).groups()
        self.assertEqual(status, "200")
        self.assertGreaterEqual(int(size), max(len(body), 1))
        self.assertLess(int(size), BIG_LEN)


class SendfileOffTest(ServerTestCase):
    """sendfile_min_bytes = 0: every body is copied."""

    server_config = {"metrics_listen": "127.0.0.1:0", "sendfile_min_bytes": 0}

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "big.bin"), BIG)

    def test_copies(self):
        r = self.get("/big.bin")
        self.assertEqual((r.status, sha256(r.body)), (200, sha256(BIG)))
        r = self.get("/big.bin", {"Range": "bytes=4097-2000000"})
        self.assertEqual((r.status, r.body), (206, BIG[4097:2000001]))
        m = scrape(self.server)
        self.assertEqual(m[SENDS] + m[SENDS_POOL], 0)
        self.assertGreaterEqual(m[READS] + m[READS_POOL], 2)


class FastClientTest(ServerTestCase):
    """A client that empties its socket between any two of the daemon's
    writes (slowfs makes every write slow, as a fast link or a sanitizer
    build does) never makes a write wait, so nothing but the daemon's own
    share per turn lets the reactor serve anyone else meanwhile. One
    reactor: both clients are on it."""

    SIZE = 32 * MiB
    # Per write: 512 KiB sendfile steps, about 0.6 s in all. Stretched
    # with the daemon's pace, so that the small request, sent after the
    # first MiB, meets the download still under way under valgrind too.
    SEND_US = 10000 * SLOWDOWN
    CONFIG = {"reactors": 1}

    @classmethod
    def make_root(cls, root):
        cls.data = os.urandom(cls.SIZE)
        write_file(os.path.join(root, "long.bin"), cls.data)
        write_file(os.path.join(root, "a.txt"), b"a\n")

    @classmethod
    def setUpClass(cls):
        if not SLOWFS or not os.path.exists(SLOWFS):
            raise unittest.SkipTest("SLOWFS is not set to the built slowfs.so")
        super().setUpClass()

    @classmethod
    def server_options(cls):
        cls.access_log = os.path.join(cls.tmp, "access.log")
        return {"config": dict(cls.CONFIG, access_log=cls.access_log),
                "env": {"LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": "NO-FILE-HOLDS-THIS",
                        "SLOWFS_SEND_US": str(cls.SEND_US)}}

    def test_fast_download_holds_up_no_other(self):
        small = self.conn()
        self.addCleanup(small.close)
        big = self.conn()
        self.addCleanup(big.close)
        got = bytearray()

        def body_len():
            end = got.find(b"\r\n\r\n")
            return -1 if end == -1 else len(got) - end - 4

        # Keep-alive: the access log line of a closing connection would
        # wait for the client's close.
        def drain():
            while body_len() < self.SIZE:
                try:
                    chunk = big.sock.recv(1 << 20)
                except OSError:
                    return
                if not chunk:
                    return
                got.extend(chunk)

        big.request("GET", "/long.bin")
        reader = threading.Thread(target=drain)
        reader.start()
        self.addCleanup(reader.join, 60)
        wait_for(lambda: len(got) >= MiB, what="the first MiB")
        small.request("GET", "/a.txt")
        r = small.read_response()
        self.assertEqual((r.status, r.body), (200, b"a\n"))
        reader.join(120)
        self.assertFalse(reader.is_alive(), "the download did not end")
        self.assertEqual(body_len(), self.SIZE)
        self.assertEqual(sha256(bytes(got[got.index(b"\r\n\r\n") + 4:])), sha256(self.data))

        # The reactor logs each request as it ends; the client's own
        # reading may lag its server by the socket buffers' megabytes.
        def lines():
            with open(self.access_log, encoding="utf-8", errors="replace") as f:
                return [l.split('"')[1] for l in f]

        wait_for(lambda: len(lines()) == 2, what="two access log lines")
        self.assertEqual(lines(), ["GET /a.txt HTTP/1.1", "GET /long.bin HTTP/1.1"],
                         "the download ended first")


class FastClientCopyTest(FastClientTest):
    """The same on the copy path: 64 KiB chunks, each a write."""

    SIZE = 16 * MiB
    SEND_US = 4000 * SLOWDOWN  # 256 chunks: about 1 s in all
    CONFIG = {"reactors": 1, "sendfile_min_bytes": 0}


if __name__ == "__main__":
    main()
