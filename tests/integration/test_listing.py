"""Directory listings (autoindex) over real sockets: the HTML's names,
escaping and links (each link is followed and must serve the entry it
names), the JSON form against the directory itself, autoindex off, the
truncation limit, and a directory of 100,000 entries listed while other
requests keep completing quickly and the daemon's memory stays bounded.
Limits are gross; the figures are printed."""

import html.parser
import json
import os
import threading
import time
import unittest
import urllib.parse

from coserve_test import SLOWDOWN, Server, ServerTestCase, fetch, main

BIG_ENTRIES = 100000
# Growth of the daemon's peak RSS while two 100,000-entry listings are
# produced: the entries and one 64 KiB chunk each come to a few MiB; a
# listing held whole, or a leak per entry, goes far past this.
BIG_GROWTH_LIMIT = 200 << 20
# A small request made meanwhile: only a gross stall fails it (a loaded
# 2-core machine took up to 3.4 s to schedule one). That a listing never
# reads its directory on the reactor is test_slowfs.py's cases E and F,
# with a readdir slowed to seconds; a daemon under valgrind (SLOWDOWN) is
# that much slower.
FAST_REQUEST_LIMIT_S = 5.0 * SLOWDOWN


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for %d" % (field, pid))


class Rows(html.parser.HTMLParser):
    """The listing's table rows as (href, link text, size, mtime)."""

    def __init__(self):
        super().__init__()
        self.rows, self.title, self._row, self._cell, self._in_title = [], "", None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = {"href": None, "cells": []}
        elif tag == "td" and self._row is not None:
            self._cell = ""
        elif tag == "a" and self._row is not None:
            self._row["href"] = dict(attrs)["href"]
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None:
            self._row["cells"].append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row["href"] is not None:
                self.rows.append((self._row["href"],) + tuple(self._row["cells"]))
            self._row = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._in_title:
            self.title += data


def parse_rows(body):
    p = Rows()
    p.feed(body.decode("utf-8", "strict"))
    p.close()
    return p


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def sort_key(path, name):
    return (0 if os.path.isdir(os.path.join(path, name)) else 1, os.fsencode(name))


NAMES = ["plain.txt", "my file.txt", "a&b.txt", "<tag>.txt", "it's \"quoted\".txt",
         "caf\u00e9 \u2603.txt", "percent%20.txt", "colon:name", "q?x#y.txt",
         "Upper.txt", "~tilde"]
DIRS = ["sub dir", "Zeta", "\u00e9t\u00e9"]


class Listing(ServerTestCase):
    server_config = {"autoindex": True}

    @classmethod
    def make_root(cls, root):
        d = os.path.join(root, "d")
        os.makedirs(d)
        for i, name in enumerate(NAMES):
            with open(os.path.join(d, name), "wb") as f:
                f.write(b"x" * (i * 100 + 1))
        for name in DIRS:
            os.makedirs(os.path.join(d, name))
        with open(os.path.join(d, ".hidden"), "wb") as f:
            f.write(b"secret\n")
        # Not UTF-8: listed with U+FFFD, still reachable by its link.
        with open(os.path.join(os.fsencode(d), b"latin1-\xe9.txt"), "wb") as f:
            f.write(b"latin\n")
        os.utime(os.path.join(d, "plain.txt"), (951782400, 951782400))
        os.makedirs(os.path.join(root, "withindex"))
        with open(os.path.join(root, "withindex", "index.html"), "wb") as f:
            f.write(b"<p>index</p>\n")
        os.makedirs(os.path.join(root, "empty"))
        os.makedirs(os.path.join(root, "a&b <c>"))

    def entries(self):
        d = os.path.join(self.root, "d")
        return sorted((n for n in os.listdir(os.fsencode(d)) if not n.startswith(b".")),
                      key=lambda n: (0 if os.path.isdir(os.path.join(os.fsencode(d), n)) else 1, n))

    def test_html(self):
        r = self.get("/d/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
        self.assertEqual(r.header("cache-control"), "no-cache")
        self.assertIsNone(r.header("etag"))
        self.assertIsNone(r.header("last-modified"))
        self.assertEqual(int(r.header("content-length")), len(r.body))
        page = parse_rows(r.body)
        self.assertEqual(page.title, "Index of /d/")
        rows = page.rows
        self.assertEqual(rows[0][0], "../")
        rows = rows[1:]
        d = os.path.join(self.root, "d")
        want = self.entries()
        self.assertEqual([urllib.parse.unquote_to_bytes(h[0]).rstrip(b"/") for h in rows], want)
        for (href, text, size, mtime), name in zip(rows, want):
            path = os.path.join(os.fsencode(d), name)
            st = os.stat(path)
            isdir = os.path.isdir(path)
            self.assertEqual(href.endswith("/"), isdir)
            # Only unreserved characters and percent-escapes in links.
            self.assertRegex(href, r"^([A-Za-z0-9._~-]|%[0-9A-F]{2})+/?$")
            self.assertEqual(text, name.decode("utf-8", "replace") + ("/" if isdir else ""))
            self.assertEqual(size, "-" if isdir else str(st.st_size))
            self.assertEqual(mtime, iso(st.st_mtime))
        self.assertNotIn(b"hidden", r.body)
        # Markup in names arrives escaped, never as markup.
        self.assertIn(b"a&amp;b.txt", r.body)
        self.assertIn(b"&lt;tag&gt;.txt", r.body)
        self.assertIn(b"it&#39;s &quot;quoted&quot;.txt", r.body)
        self.assertNotIn(b"<tag>", r.body)
        self.assertIn(b'href="plain.txt"', r.body)
        self.assertIn(b"2000-02-29T00:00:00Z", r.body)

    def test_links_are_served(self):
        page = parse_rows(self.get("/d/").body)
        for href, text, _, _ in page.rows:
            target = urllib.parse.urljoin("/d/", href)
            r = self.get(target)
            self.assertEqual(r.status, 200, "%s -> %s" % (href, target))
            if not href.endswith("/"):
                name = urllib.parse.unquote_to_bytes(href)
                with open(os.path.join(os.fsencode(self.root), b"d", name), "rb") as f:
                    self.assertEqual(r.body, f.read())

    def test_json(self):
        for target in ("/d/?format=json", "/d/?a=b&format=json"):
            r = self.get(target)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("content-type"), "application/json")
            self.assertEqual(r.header("cache-control"), "no-cache")
            doc = json.loads(r.body.decode("utf-8", "strict"))
            self.assertIsInstance(doc, list)
            d = os.fsencode(os.path.join(self.root, "d"))
            want = self.entries()
            self.assertEqual([urllib.parse.unquote_to_bytes(e["href"]).rstrip(b"/") for e in doc],
                             want)
            for e, name in zip(doc, want):
                st = os.stat(os.path.join(d, name))
                self.assertEqual(e["name"], name.decode("utf-8", "replace"))
                self.assertEqual(e["type"], "dir" if os.path.isdir(os.path.join(d, name))
                                 else "file")
                self.assertEqual(e["size"], st.st_size)
                self.assertEqual(e["mtime"], iso(st.st_mtime))
            names = [e["name"] for e in doc]
            self.assertIn("latin1-\ufffd.txt", names)
            self.assertIn("caf\u00e9 \u2603.txt", names)
            self.assertIn("it's \"quoted\".txt", names)
            self.assertNotIn(".hidden", names)

    def test_head(self):
        g = self.get("/d/")
        h = self.get("/d/", method="HEAD")
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        for name in ("content-type", "content-length", "cache-control"):
            self.assertEqual(h.header(name), g.header(name))
        hj = self.get("/d/?format=json", method="HEAD")
        self.assertEqual(int(hj.header("content-length")),
                         len(self.get("/d/?format=json").body))

    def test_root_empty_and_escaped_title(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        page = parse_rows(r.body)
        self.assertEqual(page.title, "Index of /")
        self.assertNotIn("../", [row[0] for row in page.rows])
        self.assertIn("a%26b%20%3Cc%3E/", [row[0] for row in page.rows])
        r = self.get("/empty/")
        self.assertEqual([row[0] for row in parse_rows(r.body).rows], ["../"])
        self.assertEqual(json.loads(self.get("/empty/?format=json").body), [])
        r = self.get("/a%26b%20%3Cc%3E/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"<title>Index of /a&amp;b &lt;c&gt;/</title>", r.body)

    def test_index_and_redirect_unchanged(self):
        r = self.get("/withindex/")
        self.assertEqual((r.status, r.body), (200, b"<p>index</p>\n"))
        r = self.get("/d")
        self.assertEqual(r.status, 301)
        self.assertTrue(r.header("location").endswith("/d/"))

    def test_keep_alive_after_listings(self):
        with self.conn() as c:
            for target in ("/d/", "/d/?format=json", "/d/plain.txt", "/empty/"):
                c.request("GET", target)
                self.assertEqual(c.read_response().status, 200)


def make_links(root):
    links = os.path.join(root, "links")
    os.makedirs(links)
    with open(os.path.join(links, "target.txt"), "wb") as f:
        f.write(b"12345")
    os.symlink("target.txt", os.path.join(links, "in"))
    os.symlink("/etc/passwd", os.path.join(links, "out"))
    os.symlink("nope", os.path.join(links, "dangling"))
    os.symlink("../links", os.path.join(links, "dir-link"))


class Symlinks(ServerTestCase):
    server_config = {"autoindex": True}

    @classmethod
    def make_root(cls, root):
        make_links(root)

    def test_links_inside_root_show_their_target(self):
        doc = {e["name"]: e for e in json.loads(self.get("/links/?format=json").body)}
        self.assertEqual((doc["in"]["type"], doc["in"]["size"]), ("file", 5))
        self.assertEqual(doc["dir-link"]["type"], "dir")
        self.assertEqual(doc["dir-link"]["href"], "dir-link/")
        # Outside the root or nowhere: the link itself, nothing of its target.
        self.assertEqual(doc["out"]["type"], "other")
        self.assertEqual(doc["out"]["size"], len("/etc/passwd"))
        self.assertEqual(doc["dangling"]["type"], "other")
        self.assertEqual(self.get("/links/out").status, 404)


class SymlinksOff(ServerTestCase):
    server_config = {"autoindex": True, "symlinks": "off"}

    @classmethod
    def make_root(cls, root):
        make_links(root)

    def test_links_not_followed(self):
        doc = {e["name"]: e for e in json.loads(self.get("/links/?format=json").body)}
        for name in ("in", "out", "dangling", "dir-link"):
            self.assertEqual(doc[name]["type"], "other", name)
        self.assertEqual(doc["target.txt"]["type"], "file")


def make_dotfiles(root):
    for name in (".a", "b", ".c"):
        with open(os.path.join(root, name), "wb") as f:
            f.write(b"x")
    os.makedirs(os.path.join(root, ".well-known", ".inner"))
    os.makedirs(os.path.join(root, "sub", ".well-known"))
    with open(os.path.join(root, ".well-known", "security.txt"), "wb") as f:
        f.write(b"x")


class Dotfiles(ServerTestCase):
    server_config = {"autoindex": True, "dotfiles": "allow"}

    @classmethod
    def make_root(cls, root):
        make_dotfiles(root)

    def test_dotfiles_listed_when_allowed(self):
        doc = json.loads(self.get("/?format=json").body)
        self.assertEqual([e["name"] for e in doc], [".well-known", "sub", ".a", ".c", "b"])
        doc = json.loads(self.get("/.well-known/?format=json").body)
        self.assertEqual([e["name"] for e in doc], [".inner", "security.txt"])


class DotfilesDenied(ServerTestCase):
    server_config = {"autoindex": True}

    @classmethod
    def make_root(cls, root):
        make_dotfiles(root)

    def test_only_what_a_get_serves(self):
        # Hidden names are listed exactly where a GET would serve them:
        # /.well-known/ at the root only (RFC 8615).
        doc = json.loads(self.get("/?format=json").body)
        self.assertEqual([e["name"] for e in doc], [".well-known", "sub", "b"])
        doc = json.loads(self.get("/.well-known/?format=json").body)
        self.assertEqual([e["name"] for e in doc], ["security.txt"])
        self.assertEqual(self.get("/.well-known/security.txt").status, 200)
        self.assertEqual(json.loads(self.get("/sub/?format=json").body), [])
        self.assertEqual(self.get("/.a").status, 404)


class AutoindexOff(ServerTestCase):
    @classmethod
    def make_root(cls, root):
        os.makedirs(os.path.join(root, "d"))
        with open(os.path.join(root, "d", "f.txt"), "wb") as f:
            f.write(b"f\n")

    def test_forbidden(self):
        self.assertEqual(self.get("/d/").status, 403)
        self.assertEqual(self.get("/d/?format=json").status, 403)
        self.assertEqual(self.get("/").status, 403)
        self.assertEqual(self.get("/d/f.txt").status, 200)


class Truncated(ServerTestCase):
    server_config = {"autoindex": True, "autoindex_max_entries": 10}

    @classmethod
    def make_root(cls, root):
        for i in range(25):
            with open(os.path.join(root, "f%02d" % i), "wb") as f:
                f.write(b"x")

    def test_truncation(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("listing-truncated"), "15")
        self.assertEqual(len(parse_rows(r.body).rows), 10)
        self.assertIn(b"Listing truncated: 15 more entries not shown (the limit is 10).",
                      r.body)
        r = self.get("/?format=json")
        self.assertEqual(r.header("listing-truncated"), "15")
        doc = json.loads(r.body)
        self.assertEqual(len(doc), 10)
        names = [e["name"] for e in doc]
        self.assertEqual(names, sorted(names))


class Big(ServerTestCase):
    # One I/O thread: only the batching keeps other requests moving.
    server_config = {"autoindex": True, "io_threads": 1}

    @classmethod
    def make_root(cls, root):
        big = os.path.join(root, "big")
        os.makedirs(big)
        t0 = time.monotonic()
        for i in range(BIG_ENTRIES):
            os.close(os.open(os.path.join(big, "entry-%06d-with-a-longish-name.dat" % i),
                             os.O_CREAT | os.O_WRONLY, 0o644))
        print("made %d files in %.1f s" % (BIG_ENTRIES, time.monotonic() - t0))
        with open(os.path.join(root, "small.txt"), "wb") as f:
            f.write(b"small\n")

    def fetch_listing(self, target, out, key):
        t0 = time.monotonic()
        r = fetch(self.server.host, self.server.port, target, timeout=120)
        out[key] = (r, time.monotonic() - t0)

    def test_big_listing(self):
        pid = self.server.pid
        self.assertEqual(self.get("/small.txt").status, 200)
        before = rss_kib(pid)
        results = {}
        threads = [threading.Thread(target=self.fetch_listing, args=(t, results, t))
                   for t in ("/big/", "/big/?format=json")]
        latencies = []
        peak = before
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            t0 = time.monotonic()
            r = self.get("/small.txt")
            latencies.append(time.monotonic() - t0)
            self.assertEqual(r.body, b"small\n")
            peak = max(peak, rss_kib(pid))
            time.sleep(0.005)
        for t in threads:
            t.join()
        hwm = rss_kib(pid, "VmHWM")
        html_r, html_s = results["/big/"]
        json_r, json_s = results["/big/?format=json"]
        self.assertEqual(html_r.status, 200)
        self.assertEqual(json_r.status, 200)
        rows = parse_rows(html_r.body).rows
        self.assertEqual(len(rows), BIG_ENTRIES + 1)
        self.assertEqual(rows[1][0], "entry-000000-with-a-longish-name.dat")
        self.assertEqual(rows[-1][0], "entry-%06d-with-a-longish-name.dat" % (BIG_ENTRIES - 1))
        doc = json.loads(json_r.body)
        self.assertEqual(len(doc), BIG_ENTRIES)
        self.assertIsNone(html_r.header("listing-truncated"))
        growth = (max(peak, hwm) - before) * 1024
        print("big listing: %d entries, html %.1f MiB in %.2f s, json %.1f MiB in %.2f s; "
              "%d concurrent small requests, max %.0f ms, median %.1f ms; "
              "rss %.1f MiB before, peak %.1f MiB (VmHWM %.1f MiB)"
              % (BIG_ENTRIES, len(html_r.body) / 2**20, html_s, len(json_r.body) / 2**20,
                 json_s, len(latencies), max(latencies) * 1000,
                 sorted(latencies)[len(latencies) // 2] * 1000, before / 1024, peak / 1024,
                 hwm / 1024))
        self.assertGreater(len(latencies), 0)
        self.assertLess(max(latencies), FAST_REQUEST_LIMIT_S)
        self.assertLess(growth, BIG_GROWTH_LIMIT)

    def test_slow_reader_holds_bounded_memory(self):
        # A client that stops reading: the daemon stops at the full socket,
        # holding the entries and one chunk, not the rendered document.
        import socket
        pid = self.server.pid
        before = rss_kib(pid)
        s = socket.create_connection((self.server.host, self.server.port))
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /big/ HTTP/1.1\r\nHost: t\r\n\r\n")
            s.settimeout(60)
            self.assertTrue(s.recv(1024).startswith(b"HTTP/1.1 200 "))
            t0 = time.monotonic()
            r = self.get("/small.txt")
            self.assertLess(time.monotonic() - t0, FAST_REQUEST_LIMIT_S)
            self.assertEqual(r.body, b"small\n")
            after = rss_kib(pid)
        finally:
            s.close()
        print("stalled big listing: rss %.1f -> %.1f MiB" % (before / 1024, after / 1024))
        self.assertLess((after - before) * 1024, BIG_GROWTH_LIMIT)


if __name__ == "__main__":
    main()
