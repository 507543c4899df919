"""Site settings over real sockets: virtual hosts, dotfiles, symlink
policy, response headers by location, error pages, media-type overrides
and the access log format."""

import os
import re
import tempfile
import shutil
import unittest

from coserve_test import Server, ServerTestCase, fetch, main, write_file

SECRET = b"outside the root\n"


class SitesTest(ServerTestCase):

    @classmethod
    def make_root(cls, root):
        # The default site's root, and beside it the other sites'.
        cls.default = root
        cls.example = os.path.join(cls.tmp, "example")
        cls.static = os.path.join(cls.tmp, "static")
        cls.exact = os.path.join(cls.tmp, "exact")
        write_file(os.path.join(cls.tmp, "secret.txt"), SECRET)
        for site_root, who in ((cls.default, b"default"), (cls.example, b"example"),
                               (cls.static, b"static"), (cls.exact, b"exact")):
            write_file(os.path.join(site_root, "index.html"), who + b" index\n")
        d = cls.default
        write_file(os.path.join(d, ".env"), b"SECRET=1\n")
        write_file(os.path.join(d, ".git", "config"), b"[core]\n")
        write_file(os.path.join(d, ".well-known", "security.txt"), b"Contact: x\n")
        write_file(os.path.join(d, "assets", "app.css"), b"body{}\n")
        write_file(os.path.join(d, "assets", "old", "a.js"), b"1;\n")
        write_file(os.path.join(d, "notes.md"), b"# notes\n")
        write_file(os.path.join(d, "page.html"), b"<p>page\n")
        write_file(os.path.join(d, "404.html"), b"<h1>custom not found</h1>\n")
        write_file(os.path.join(d, "real.txt"), b"real\n")
        os.symlink("real.txt", os.path.join(d, "link.txt"))
        os.symlink(os.path.join(cls.tmp, "secret.txt"), os.path.join(d, "out.txt"))
        e = cls.example
        write_file(os.path.join(e, "real.txt"), b"example real\n")
        os.symlink("real.txt", os.path.join(e, "link.txt"))
        write_file(os.path.join(e, ".env"), b"EXAMPLE=1\n")

    @classmethod
    def server_options(cls):
        return {"config": {
            "mime_overrides": ["md text/markdown; charset=utf-8", "css text/x-test"],
            "default_type": "text/plain",
            "headers": [
                {"match": "/assets/", "cache_control": "public, max-age=31536000, immutable"},
                {"match": "/assets/old/", "expires_s": 60},
                {"match": "*.html", "cache_control": "no-cache",
                 "add": ["X-Frame-Options: DENY"]},
            ],
            "error_pages": [{"status": 404, "path": "/404.html"}],
            "servers": [
                {"names": ["example.test", "www.example.test"], "root": cls.example,
                 "symlinks": "off", "dotfiles": "allow"},
                {"names": ["*.static.test"], "root": cls.static},
                {"names": ["exact.static.test"], "root": cls.exact},
            ],
        }}

    def get(self, target, host="default.test", headers=None, method="GET"):
        h = {"Host": host}
        h.update(headers or {})
        return fetch(self.server.host, self.server.port, target, headers=h, method=method)

    def test_virtual_hosts(self):
        cases = [
            ("default.test", b"default index\n"),
            ("example.test", b"example index\n"),
            ("EXAMPLE.test:8080", b"example index\n"),
            ("www.example.test.", b"example index\n"),
            ("a.static.test", b"static index\n"),
            ("a.b.static.test", b"static index\n"),
            ("static.test", b"default index\n"),  # "*." needs a label
            ("127.0.0.1", b"default index\n"),
            ("exact.static.test", b"exact index\n"),  # exact beats an earlier wildcard
            ("[::1]:80", b"default index\n"),
        ]
        for host, body in cases:
            with self.subTest(host):
                r = self.get("/", host=host)
                self.assertEqual((r.status, r.body), (200, body))

    def test_dotfiles(self):
        cases = [
            ("default.test", "/.env", 404),
            ("default.test", "/.git/config", 404),
            ("default.test", "/.well-known/security.txt", 200),
            ("default.test", "/%2eenv", 404),
            ("example.test", "/.env", 200),  # dotfiles = "allow"
        ]
        for host, target, status in cases:
            with self.subTest(host=host, target=target):
                r = self.get(target, host=host)
                self.assertEqual(r.status, status, r)
                if status == 404:
                    self.assertNotIn(b"SECRET", r.body)

    def test_symlinks(self):
        cases = [
            ("default.test", "/link.txt", 200, b"real\n"),
            ("default.test", "/out.txt", 404, None),
            ("example.test", "/real.txt", 200, b"example real\n"),
            ("example.test", "/link.txt", 404, None),  # symlinks = "off"
        ]
        for host, target, status, body in cases:
            with self.subTest(host=host, target=target):
                r = self.get(target, host=host)
                self.assertEqual(r.status, status, r)
                if body is not None:
                    self.assertEqual(r.body, body)
                self.assertNotIn(SECRET, r.body)

    def test_headers_by_location(self):
        r = self.get("/assets/app.css")
        self.assertEqual(r.header("cache-control"), "public, max-age=31536000, immutable")
        self.assertIsNone(r.header("expires"))
        r = self.get("/assets/old/a.js")
        self.assertEqual(r.header("cache-control"), "public, max-age=31536000, immutable")
        self.assertIsNotNone(r.header("expires"))
        r = self.get("/page.html")
        self.assertEqual(r.header("cache-control"), "no-cache")
        self.assertEqual(r.header("x-frame-options"), "DENY")
        self.assertIsNone(self.get("/real.txt").header("cache-control"))
        # A 304 carries the cache headers a 200 would.
        etag = self.get("/page.html").header("etag")
        r = self.get("/page.html", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header("cache-control"), "no-cache")
        self.assertEqual(r.header("x-frame-options"), "DENY")
        # Rules are per site: the example site has none.
        self.assertIsNone(self.get("/index.html", host="example.test").header("cache-control"))

    def test_error_pages(self):
        r = self.get("/missing")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.body, b"<h1>custom not found</h1>\n")
        self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
        r = self.get("/missing", method="HEAD")
        self.assertEqual((r.status, r.body), (404, b""))
        self.assertEqual(r.header("content-length"), str(len(b"<h1>custom not found</h1>\n")))
        # The example site has no error page: the built-in one.
        r = self.get("/missing", host="example.test")
        self.assertEqual(r.status, 404)
        self.assertIn(b"404 Not Found", r.body)

    def test_mime_overrides(self):
        self.assertEqual(self.get("/notes.md").header("content-type"),
                         "text/markdown; charset=utf-8")
        write_file(os.path.join(self.default, "README"), b"plain\n")
        self.assertEqual(self.get("/README").header("content-type"),
                         "text/plain; charset=utf-8")
        # Text types get the charset, as built-in ones do.
        self.assertEqual(self.get("/assets/app.css").header("content-type"),
                         "text/x-test; charset=utf-8")


class AccessLogFormatTest(unittest.TestCase):

    def test_custom_format(self):
        tmp = tempfile.mkdtemp(prefix="coserve-logfmt-")
        try:
            write_file(os.path.join(tmp, "www", "real.txt"), b"example real\n")
            log = os.path.join(tmp, "access.log")
            with Server(root=os.path.join(tmp, "www"), config={
                    "access_log": log,
                    "access_log_format": "$host|$request_method|$request_uri|$status|"
                                         "$body_bytes_sent|$request_time"}) as srv:
                r = fetch(srv.host, srv.port, "/real.txt", headers={"Host": "example.test"})
                self.assertEqual(r.status, 200)
                r = fetch(srv.host, srv.port, "/nope", method="HEAD")
                self.assertEqual(r.status, 404)
            with open(log) as f:
                lines = f.read().splitlines()
            self.assertEqual(len(lines), 2, lines)
            # Two connections, perhaps on two reactors, each logging in its own time.
            lines.sort(key=lambda line: not line.startswith("example.test|"))
            self.assertRegex(lines[0], r"^example\.test\|GET\|/real\.txt\|200\|13\|\d+\.\d{3}$")
            self.assertRegex(lines[1], r"^test\|HEAD\|/nope\|404\|0\|\d+\.\d{3}$")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
