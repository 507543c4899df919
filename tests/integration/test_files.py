"""Static-file semantics of the real daemon: byte-exact bodies (raw socket,
curl, wget), media types, validators (304), ranges (206/416), If-Range,
directories, path traversal and symlinks, files over 4 GiB, and 200 clients
at once."""

import datetime
import email.utils
import hashlib
import os
import re
import tempfile
import threading
import time
import unittest
import urllib.parse

from coserve_test import (SLOWFS, WAIT_S, ServerTestCase, curl, fetch, file_sha256, have_program, main,
                          sha256, wait_for, wget, write_file)

MiB = 1 << 20
GiB = 1 << 30

INDEX = b"<!doctype html><title>root</title><p>root index\n"
SUB_INDEX = b"<!doctype html><title>sub</title><p>sub index\n"
INNER = b"inner file\n"
SECRET = b"TOP-SECRET-" + os.urandom(8).hex().encode()
RANGE_DATA = os.urandom(1000)

# name -> size of a random file whose body must come back byte-exact.
SIZED = {
    "empty.bin": 0,
    "one.bin": 1,
    "mib.bin": MiB,
    "huge.bin": 65 * MiB + 1,
}

# file name -> expected Content-Type.
CONTENT_TYPES = [
    ("index.html", "text/html; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("image.png", "image/png"),
    ("notes.txt", "text/plain; charset=utf-8"),
    ("data.unknownext", "application/octet-stream"),
    ("noext", "application/octet-stream"),
]

# Range header value -> (first, last) of a 206 over RANGE_DATA, or a status.
RANGES_206 = [
    ("bytes=0-0", 0, 0),
    ("bytes=0-9", 0, 9),
    ("bytes=10-19", 10, 19),
    ("bytes=999-999", 999, 999),
    ("bytes=990-", 990, 999),
    ("bytes=500-", 500, 999),
    ("bytes=0-", 0, 999),
    ("bytes=-10", 990, 999),
    ("bytes=-1", 999, 999),
    ("bytes=0-99999", 0, 999),
    ("bytes=-5000", 0, 999),
]
RANGES_200 = [  # not a valid byte range set: the whole file
    "bytes=abc",
    "bytes=5-2",
    "bytes=",
    "items=0-9",
]
RANGES_416 = [
    "bytes=1000-",
    "bytes=1000-2000",
    "bytes=5000-",
    "bytes=-0",
]

# target -> allowed statuses. The secret lives next to the root; no answer
# may ever contain it.
TRAVERSALS = [
    ("/../secret.txt", {400, 404}),
    ("/%2e%2e/secret.txt", {400, 404}),
    ("/%2E%2E/secret.txt", {400, 404}),
    ("/.%2e/secret.txt", {400, 404}),
    ("/a/../../secret.txt", {400, 404}),
    ("/sub/../../secret.txt", {400, 404}),
    ("/./../secret.txt", {400, 404}),
    ("//../secret.txt", {400, 404}),
    ("/..", {400, 404}),
    ("/%2e%2e", {400, 404}),
    ("http://t/../secret.txt", {400, 404}),
    ("/..%2fsecret.txt", {400}),
    ("/..%2Fsecret.txt", {400}),
    ("/%2e%2e%2fsecret.txt", {400}),
    ("/sub/..%2f..%2fsecret.txt", {400}),
    ("/..\\secret.txt", {400}),
    ("/%5c..%5csecret.txt", {400}),
    ("/..%5csecret.txt", {400}),
    ("/%00", {400}),
    ("/index.html%00", {400}),
    ("/index.html%00.txt", {400}),
    ("/%", {400}),
    ("/%zz", {400}),
    ("/%2", {400}),
    ("/%252e%252e/secret.txt", {400, 404}),
]

# target -> allowed statuses, body (None: not 200, so the secret check only).
SYMLINKS = [
    ("/link-out", {403, 404}, None),
    ("/abs-out", {403, 404}, None),
    ("/dir-out/secret.txt", {403, 404}, None),
    ("/link-in", {200}, INDEX),
    ("/sub-link/inner.txt", {200}, INNER),
]

# target -> status, and the Location (path, query) for 301s or the body for 200s.
DIRECTORIES = [
    ("/", 200, INDEX),
    ("/index.html", 200, INDEX),
    ("/sub/", 200, SUB_INDEX),
    ("/sub/inner.txt", 200, INNER),
    ("/sub", 301, ("/sub/", "")),
    ("/sub?x=1&y=2", 301, ("/sub/", "x=1&y=2")),
    ("/noindex", 301, ("/noindex/", "")),
    # The Location comes from the resolved path: never another site.
    ("//evil.example/../sub", 301, ("/sub/", "")),
    ("/a%20dir", 301, ("/a%20dir/", "")),
    ("/sub?" + "q" * 6000, 301, ("/sub/", "q" * 6000)),
    ("/noindex/", 403, None),
    ("/noindex/x.txt", 200, INNER),
    ("/missing", 404, None),
    ("/missing/", 404, None),
    ("/sub/missing.html", 404, None),
    ("/file.txt/", 404, None),
    ("/file.txt/x", 404, None),
]


class FilesTest(ServerTestCase):
    sized = {}  # name -> (size, sha256)

    @classmethod
    def make_root(cls, root):
        outside = os.path.dirname(root)
        write_file(os.path.join(outside, "secret.txt"), SECRET)
        write_file(os.path.join(root, "index.html"), INDEX)
        day_ago = time.time() - 86400  # so "later than Last-Modified" is still the past
        os.utime(os.path.join(root, "index.html"), (day_ago, day_ago))
        write_file(os.path.join(root, "sub", "index.html"), SUB_INDEX)
        write_file(os.path.join(root, "sub", "inner.txt"), INNER)
        write_file(os.path.join(root, "noindex", "x.txt"), INNER)
        write_file(os.path.join(root, "a dir", "index.html"), SUB_INDEX)
        write_file(os.path.join(root, "file.txt"), INNER)
        write_file(os.path.join(root, "range.bin"), RANGE_DATA)
        for name, _ in CONTENT_TYPES:
            if name != "index.html":
                write_file(os.path.join(root, name), b"content of " + name.encode())
        for name, size in SIZED.items():
            h = hashlib.sha256()
            with open(os.path.join(root, name), "wb") as f:
                left = size
                while left > 0:
                    chunk = os.urandom(min(left, 4 * MiB))
                    f.write(chunk)
                    h.update(chunk)
                    left -= len(chunk)
            cls.sized[name] = (size, h.hexdigest())
        os.symlink("../secret.txt", os.path.join(root, "link-out"))
        os.symlink(os.path.join(outside, "secret.txt"), os.path.join(root, "abs-out"))
        os.symlink("..", os.path.join(root, "dir-out"))
        os.symlink("index.html", os.path.join(root, "link-in"))
        os.symlink("sub", os.path.join(root, "sub-link"))
        cls.concurrent = {}
        for i in range(8):
            data = os.urandom(64 * 1024 + i * 1000)
            name = "c%d.bin" % i
            write_file(os.path.join(root, name), data)
            cls.concurrent[name] = data

    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="coserve-out-")

    def tearDown(self):
        for name in os.listdir(self.scratch):
            os.unlink(os.path.join(self.scratch, name))
        os.rmdir(self.scratch)

    def validators(self, target):
        r = self.get(target)
        self.assertEqual(r.status, 200)
        return r.header("etag"), r.header("last-modified")

    def assert_error_body(self, r):
        """Error responses carry a small body and a Content-Length that fits it."""
        self.assertIsNotNone(r.header("content-length"), "no Content-Length: %r" % r)
        self.assertEqual(int(r.header("content-length")), len(r.body))
        self.assertTrue(0 < len(r.body) <= 4096, "error body should be small, not empty: %r" % r)

    def assert_in_sync(self, c):
        """The next request on c is answered correctly: nothing was left over."""
        c.request("GET", "/sub/inner.txt")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, INNER))

    # bodies

    def test_bodies_raw_socket(self):
        for name, (size, digest) in self.sized.items():
            with self.subTest(name), self.conn() as c:
                h = hashlib.sha256()
                c.request("GET", "/" + name)
                r = c.read_response(sink=h.update)
                self.assertEqual(r.status, 200)
                self.assertEqual(int(r.header("content-length")), size)
                self.assertEqual(h.hexdigest(), digest)
                self.assert_in_sync(c)

    def test_bodies_curl(self):
        for name, (size, digest) in self.sized.items():
            with self.subTest(name):
                out = os.path.join(self.scratch, name)
                code, p = curl(self.server.url("/" + name), out)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(code, 200)
                self.assertEqual(os.path.getsize(out), size)
                self.assertEqual(file_sha256(out), digest)

    def test_curl_range(self):
        out = os.path.join(self.scratch, "part")
        code, p = curl(self.server.url("/range.bin"), out, ["--range", "100-199"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(code, 206)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), RANGE_DATA[100:200])

    def test_wget(self):
        if not have_program("wget"):
            self.skipTest("wget is not installed")
        for name in ("mib.bin", "empty.bin", "index.html"):
            with self.subTest(name):
                out = os.path.join(self.scratch, name)
                p = wget(self.server.url("/" + name), out)
                self.assertEqual(p.returncode, 0, p.stderr)
                if name in self.sized:
                    self.assertEqual(file_sha256(out), self.sized[name][1])
                else:
                    with open(out, "rb") as f:
                        self.assertEqual(f.read(), INDEX)

    def test_head(self):
        for name, (size, _) in self.sized.items():
            with self.subTest(name), self.conn() as c:
                c.request("HEAD", "/" + name)
                r = c.read_response("HEAD")
                self.assertEqual(r.status, 200)
                self.assertEqual(int(r.header("content-length")), size)
                self.assertIsNotNone(r.header("etag"))
                self.assert_in_sync(c)  # no body bytes followed the head

    def test_content_types(self):
        for name, ctype in CONTENT_TYPES:
            with self.subTest(name):
                r = self.get("/" + name)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("content-type"), ctype)

    # validators

    def test_not_modified(self):
        etag, last_modified = self.validators("/index.html")
        self.assertRegex(etag, r'^"[^"]*"$', "ETag must be strong and quoted")
        lm = email.utils.parsedate_to_datetime(last_modified)
        later = email.utils.format_datetime(lm + datetime.timedelta(hours=1), usegmt=True)
        earlier = email.utils.format_datetime(lm - datetime.timedelta(days=365), usegmt=True)
        cases = [  # name, request headers, status
            ("inm exact", {"If-None-Match": etag}, 304),
            ("inm list", {"If-None-Match": '"nope", %s, "other"' % etag}, 304),
            ("inm star", {"If-None-Match": "*"}, 304),
            ("inm weak form", {"If-None-Match": "W/" + etag}, 304),
            ("inm other", {"If-None-Match": '"nope"'}, 200),
            ("ims equal", {"If-Modified-Since": last_modified}, 304),
            ("ims later", {"If-Modified-Since": later}, 304),
            ("ims earlier", {"If-Modified-Since": earlier}, 200),
            ("ims garbage", {"If-Modified-Since": "yesterday"}, 200),
            ("inm wins over ims", {"If-None-Match": '"nope"', "If-Modified-Since": last_modified},
             200),
        ]
        for name, headers, status in cases:
            for method in ("GET", "HEAD"):
                with self.subTest(name, method=method), self.conn() as c:
                    c.request(method, "/index.html", headers)
                    r = c.read_response(method)
                    self.assertEqual(r.status, status, r)
                    if status == 304:
                        self.assertEqual(r.header("etag"), etag)
                    elif method == "GET":
                        self.assertEqual(r.body, INDEX)
                    self.assert_in_sync(c)

    def test_modified_file_gets_new_etag_at_once(self):
        path = os.path.join(self.root, "changing.txt")
        write_file(path, b"version one\n")
        try:
            etag1, _ = self.validators("/changing.txt")
            write_file(path, b"version two, longer\n")
            r = self.get("/changing.txt", {"If-None-Match": etag1})
            self.assertEqual(r.status, 200, "stale ETag still matched after a rewrite")
            self.assertEqual(r.body, b"version two, longer\n")
            etag2 = r.header("etag")
            self.assertNotEqual(etag2, etag1)
            # Same size, new content, a later mtime: the ETag must move too.
            st = os.stat(path)
            write_file(path, b"version 3!, longer\n\n")
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 * 10**9))
            r = self.get("/changing.txt", {"If-None-Match": etag2})
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"version 3!, longer\n\n")
            self.assertNotEqual(r.header("etag"), etag2)
        finally:
            os.unlink(path)

    # ranges

    def test_ranges_206(self):
        for value, first, last in RANGES_206:
            with self.subTest(value), self.conn() as c:
                c.request("GET", "/range.bin", {"Range": value})
                r = c.read_response()
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.header("content-range"), "bytes %d-%d/%d"
                                 % (first, last, len(RANGE_DATA)))
                self.assertEqual(int(r.header("content-length")), last - first + 1)
                self.assertEqual(r.body, RANGE_DATA[first:last + 1])
                self.assert_in_sync(c)

    def test_ranges_ignored(self):
        for value in RANGES_200:
            with self.subTest(value), self.conn() as c:
                c.request("GET", "/range.bin", {"Range": value})
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertIsNone(r.header("content-range"))
                self.assertEqual(r.body, RANGE_DATA)
                self.assert_in_sync(c)

    def test_ranges_unsatisfiable(self):
        rows = [("/range.bin", v, len(RANGE_DATA)) for v in RANGES_416]
        rows.append(("/empty.bin", "bytes=0-", 0))
        for target, value, size in rows:
            with self.subTest(target=target, range=value), self.conn() as c:
                c.request("GET", target, {"Range": value})
                r = c.read_response()
                self.assertEqual(r.status, 416, r)
                self.assertEqual(r.header("content-range"), "bytes */%d" % size)
                self.assertNotIn(RANGE_DATA[:16], r.body)
                self.assert_error_body(r)
                self.assert_in_sync(c)

    def test_if_range(self):
        etag, _ = self.validators("/range.bin")
        cases = [  # If-Range value, status
            (etag, 206),
            ('"some-other-etag"', 200),
            ("W/" + etag, 200),  # If-Range compares strongly
            ("Thu, 01 Jan 1970 00:00:00 GMT", 200),
        ]
        for value, status in cases:
            with self.subTest(value):
                r = self.get("/range.bin", {"Range": "bytes=0-9", "If-Range": value})
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.body, RANGE_DATA[:10] if status == 206 else RANGE_DATA)

    def test_sparse_file_over_4gib(self):
        size = 5 * GiB
        mark = b"coserve-64-bit-offset-marker"
        mark_at = 4 * GiB + 4096 * 100 + 123  # would be 409723 if truncated to 32 bits
        path = os.path.join(self.root, "sparse.bin")
        try:
            with open(path, "wb") as f:
                f.truncate(size)
                f.seek(mark_at)
                f.write(mark)
            if os.stat(path).st_blocks * 512 > 64 * MiB:
                self.skipTest("the filesystem did not make a sparse file")
        except OSError as e:
            if os.path.exists(path):
                os.unlink(path)
            self.skipTest("cannot make a 5 GiB sparse file here: %s" % e)
        try:
            r = self.get("/sparse.bin", method="HEAD")
            self.assertEqual(r.status, 200)
            self.assertEqual(int(r.header("content-length")), size)
            expect_near_mark = b"\0" * 10 + mark + b"\0" * 10
            cases = [  # Range, first, last, body
                ("bytes=%d-%d" % (size - 100, size - 1), size - 100, size - 1, b"\0" * 100),
                ("bytes=%d-" % (size - 50), size - 50, size - 1, b"\0" * 50),
                ("bytes=-64", size - 64, size - 1, b"\0" * 64),
                ("bytes=%d-%d" % (mark_at - 10, mark_at + len(mark) + 9),
                 mark_at - 10, mark_at + len(mark) + 9, expect_near_mark),
            ]
            for value, first, last, body in cases:
                with self.subTest(value):
                    r = self.get("/sparse.bin", {"Range": value})
                    self.assertEqual(r.status, 206, r)
                    self.assertEqual(r.header("content-range"),
                                     "bytes %d-%d/%d" % (first, last, size))
                    self.assertEqual(r.body, body)
        finally:
            os.unlink(path)

    # names

    def test_directories(self):
        for target, status, expect in DIRECTORIES:
            with self.subTest(target), self.conn() as c:
                c.request("GET", target)
                r = c.read_response()
                self.assertEqual(r.status, status, r)
                if status == 200:
                    self.assertEqual(r.body, expect)
                elif status == 301:
                    loc = urllib.parse.urlsplit(r.header("location", ""))
                    self.assertEqual((loc.path, loc.query), expect, r)
                if status >= 400:
                    self.assert_error_body(r)
                elif r.header("content-length") is not None:
                    self.assertEqual(int(r.header("content-length")), len(r.body))
                if not r.closes():
                    self.assert_in_sync(c)

    def test_traversal(self):
        for target, statuses in TRAVERSALS:
            with self.subTest(target), self.conn() as c:
                c.send(b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: t\r\n"
                       b"Connection: close\r\n\r\n")
                r = c.read_response()
                self.assertIn(r.status, statuses, r)
                self.assertNotIn(SECRET, r.body)
                self.assert_error_body(r)
        r = self.get("/index.html")  # and the server is still there
        self.assertEqual(r.body, INDEX)

    def test_symlinks(self):
        for target, statuses, body in SYMLINKS:
            with self.subTest(target):
                r = self.get(target)
                self.assertIn(r.status, statuses, r)
                self.assertNotIn(SECRET, r.body)
                if body is not None:
                    self.assertEqual(r.body, body)
                else:
                    self.assert_error_body(r)

    # load

    def test_200_concurrent_clients(self):
        n = 200
        names = sorted(self.concurrent)
        barrier = threading.Barrier(n, timeout=60)
        results = [None] * n

        def client(i):
            name = names[i % len(names)]
            try:
                with self.server.connect(timeout=60) as c:
                    barrier.wait()
                    c.request("GET", "/" + name, {"Connection": "close"})
                    r = c.read_response()
                    ok = r.status == 200 and sha256(r.body) == sha256(self.concurrent[name])
                    results[i] = "ok" if ok else "status %d, %d bytes" % (r.status, len(r.body))
            except Exception as e:  # reported below, per client
                results[i] = "%s: %s" % (type(e).__name__, e)
                barrier.abort()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        failures = [(i, r) for i, r in enumerate(results) if r != "ok"]
        self.assertEqual(failures, [], "%d of %d clients failed" % (len(failures), n))


class KeptBodyTest(ServerTestCase):
    """A small file's bytes are kept in memory with its open-file cache
    entry: later requests, whole or ranged, are answered with no read at
    all (coserve_file_reads_total stays put), byte-exact, and a rewrite in
    place is seen by the next request, even with the old mtime put back.
    A file changed within the last two seconds is read each time: another
    write in the same timestamp tick could not be told from it."""

    server_config = {"metrics_listen": "127.0.0.1:0"}
    OLD = time.time() - 86400
    DATA = os.urandom(3000)

    @classmethod
    def make_root(cls, root):
        cls.path = os.path.join(root, "small.bin")
        write_file(cls.path, cls.DATA)
        os.utime(cls.path, (cls.OLD, cls.OLD))

    def metrics(self):
        r = fetch("127.0.0.1", self.server.listeners[1][1], "/metrics")
        self.assertEqual(r.status, 200, r)
        return {m.group(1) + (m.group(2) or ""): float(m.group(3))
                for m in re.finditer(r'^(coserve_[a-z_]+)(\{[^}]*\})? (\S+)$', r.body.decode(), re.M)}

    def reads(self):
        m = self.metrics()
        return (m['coserve_file_reads_total{source="page_cache"}'] +
                m['coserve_file_reads_total{source="pool"}'])

    def test_kept_then_rewritten(self):
        def kept():
            r = self.get("/small.bin")
            self.assertEqual((r.status, r.body), (200, self.DATA))
            return self.metrics()["coserve_file_cache_body_bytes"] >= len(self.DATA)

        # Kept once its ctime (set by make_root's utime) is two seconds old.
        wait_for(kept, WAIT_S, "small.bin kept")
        before = self.reads()
        with self.server.connect() as c:
            for _ in range(5):
                c.request("GET", "/small.bin")
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, self.DATA))
            c.request("GET", "/small.bin", {"Range": "bytes=100-199"})
            r = c.read_response()
            self.assertEqual((r.status, r.body), (206, self.DATA[100:200]))
            self.assertEqual(r.header("content-range"), "bytes 100-199/3000")
            c.request("HEAD", "/small.bin")
            r = c.read_response("HEAD")
            self.assertEqual((r.status, r.header("content-length"), r.body), (200, "3000", b""))
        # With two reactors the connection may have been another's: its
        # first request filled that reactor's cache.
        self.assertLessEqual(self.reads() - before, 1, "a kept body was read again")
        # Same size, new bytes, and the same old mtime put back: only the
        # ctime tells.
        new = os.urandom(len(self.DATA))
        write_file(self.path, new)
        os.utime(self.path, (self.OLD, self.OLD))
        for _ in range(3):
            r = self.get("/small.bin")
            self.assertEqual((r.status, r.body), (200, new))

    def test_just_written_is_read_each_time(self):
        path = os.path.join(self.root, "fresh.bin")
        data = os.urandom(2000)
        write_file(path, data)
        try:
            before = self.reads()
            for _ in range(3):
                r = self.get("/fresh.bin")
                self.assertEqual((r.status, r.body), (200, data))
            # A slow machine may reach the two seconds before the last one:
            # it then fills the body with a read, counted too.
            self.assertGreaterEqual(self.reads() - before, 3)
        finally:
            os.unlink(path)


@unittest.skipUnless(SLOWFS and os.path.exists(SLOWFS), "SLOWFS is not set to the built slowfs.so")
class OneJobForASmallFileTest(ServerTestCase):
    """A small file that is not in memory (slowfs: its name misses the
    dentry cache, and a read that may not wait gets EAGAIN) costs one I/O
    pool job, which opens it and reads its bytes, not one for the open and
    one for the read. Its cache entry saves the open later, not the read:
    slowfs never lets the bytes be in memory."""

    server_config = {"metrics_listen": "127.0.0.1:0", "health_probe_interval_ms": 3600000,
                     "open_file_cache_ttl_ms": 600000}
    server_env = {"LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": "SLOW", "SLOWFS_DELAY_MS": "20"}
    DATA = os.urandom(5000)
    metrics = KeptBodyTest.metrics

    @classmethod
    def make_root(cls, root):
        if "SLOW" in root:
            raise unittest.SkipTest("the temp dir name holds the marker: %s" % root)
        cls.path = os.path.join(root, "SLOW-small.bin")
        write_file(cls.path, cls.DATA)

    def test_one_job_each(self):
        # The daemon submits its start-up storage probe after its reactors
        # begin to accept: counted inside the first request's window, it
        # would look like a second job (seen in a loaded CI run).
        wait_for(lambda: self.metrics()["coserve_health_probes_total"] >= 1,
                 what="the start-up health probe")
        jobs = []
        with self.server.connect() as c:  # one reactor, one cache
            for _ in range(4):
                before = self.metrics()["coserve_io_jobs_total"]
                c.request("GET", "/SLOW-small.bin")
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, self.DATA))
                jobs.append(self.metrics()["coserve_io_jobs_total"] - before)
        self.assertEqual(jobs, [1, 1, 1, 1], "I/O pool jobs per request")


@unittest.skipUnless(SLOWFS and os.path.exists(SLOWFS), "SLOWFS is not set to the built slowfs.so")
class FilesWithoutOpenat2(FilesTest):
    """Every test above again on the fallback for kernels without openat2:
    slowfs.so makes the syscall fail with ENOSYS, so paths are confined by
    checking /proc/self/fd instead."""
    server_env = {"LD_PRELOAD": SLOWFS, "SLOWFS_NO_OPENAT2": "1"}

    def test_fallback_is_in_use(self):
        self.assertTrue(any("openat2 is unavailable" in line
                            for line in self.server.stderr_lines), self.server.stderr_lines)


if __name__ == "__main__":
    main()
