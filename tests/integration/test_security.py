"""Nothing outside the root, no dotfile and no directory listing is ever
served unless the configuration says so.

A table of traversal attempts (dot segments plain, encoded, double
encoded and mixed case; backslashes raw and encoded; NUL; overlong UTF-8;
absolute-form targets; symlinks out of the root, absolute, relative and
through /proc) is run against both ways coserve keeps paths beneath the
root: openat2(RESOLVE_BENEATH), and the /proc/self/fd check used where
openat2 is missing (forced with slowfs.so's SLOWFS_NO_OPENAT2). A race
test swaps a directory inside the root between a real directory, a
symlink out of the root and a symlink within it while clients request
files through it. Then the same root is served with the default
configuration and with each option that widens what is served
(dotfiles, autoindex, symlinks), in both modes.
"""

import os
import threading
import time
import unittest

from coserve_test import SLOWFS, WRAPPED, ServerTestCase, fetch, main, wait_for, write_file

SECRET = b"TOP-SECRET-" + os.urandom(8).hex().encode()
DOT = b"DOTFILE-" + os.urandom(8).hex().encode()
INDEX = b"<!doctype html><p>root index\n"
INSIDE = b"inside file\n"
INSIDE_INDEX = b"<!doctype html><p>inside index\n"
WELL_KNOWN = b"acme token\n"

FALLBACK_ENV = {"LD_PRELOAD": SLOWFS, "SLOWFS_NO_OPENAT2": "1"}
have_slowfs = bool(SLOWFS) and os.path.exists(SLOWFS)

# target -> statuses allowed with the default configuration. The secret
# (outside the root) and the dotfiles' bytes must never come back.
TRAVERSALS = [
    # dot segments
    ("/../secret.txt", {400}),
    ("/../../../../../../etc/passwd", {400}),
    ("/sub/../../secret.txt", {400}),
    ("/sub/./../.././secret.txt", {400}),
    ("//../secret.txt", {400}),
    ("/./../secret.txt", {400}),
    ("/..", {400}),
    ("/sub/..", {200}),  # the root itself, as a directory
    ("/...", {404}),
    ("/..;/secret.txt", {404}),
    ("/secret.txt", {404}),
    # percent-encoded dots and slashes
    ("/%2e%2e/secret.txt", {400}),
    ("/%2E%2E/secret.txt", {400}),
    ("/.%2e/secret.txt", {400}),
    ("/%2e./secret.txt", {400}),
    ("/sub/%2e%2e/%2e%2e/secret.txt", {400}),
    ("/%2e%2e%2fsecret.txt", {400}),
    ("/..%2fsecret.txt", {400}),
    ("/..%2Fsecret.txt", {400}),
    ("/sub%2f..%2f..%2fsecret.txt", {400}),
    ("/%2fetc%2fpasswd", {400}),
    # double encoding: decoded once, "%2e" is just a name
    ("/%252e%252e/secret.txt", {404}),
    ("/%252e%252e%252fsecret.txt", {404}),
    ("/..%252fsecret.txt", {404}),
    ("/%25%32%65%25%32%65/secret.txt", {404}),
    # backslashes and mixed separators
    ("/..\\secret.txt", {400}),
    ("/sub\\..\\..\\secret.txt", {400}),
    ("/sub/..\\../secret.txt", {400}),
    ("/%5c..%5csecret.txt", {400}),
    ("/..%5csecret.txt", {400}),
    ("/..%5Csecret.txt", {400}),
    ("/%255c..%255csecret.txt", {404}),
    # NUL and other control bytes
    ("/%00", {400}),
    ("/index.html%00", {400}),
    ("/index.html%00.txt", {400}),
    ("/../secret.txt%00.html", {400}),
    ("/%00/../secret.txt", {400}),
    ("/index.html%0a", {400}),
    ("/index.html%0d%0aX-Injected:%201", {400}),
    ("/%7f", {400}),
    # overlong and odd UTF-8 for '.', '/' and '\': bytes, never separators
    ("/%c0%ae%c0%ae/secret.txt", {404}),
    ("/%c0%ae%c0%ae%c0%afsecret.txt", {404}),
    ("/%e0%80%ae%e0%80%ae/secret.txt", {404}),
    ("/%f0%80%80%ae%f0%80%80%ae/secret.txt", {404}),
    ("/..%c0%afsecret.txt", {404}),
    ("/..%c1%9csecret.txt", {404}),
    ("/%c0%2e%c0%2e/secret.txt", {404}),
    ("/%ef%bc%8e%ef%bc%8e/secret.txt", {404}),  # fullwidth full stops
    ("/%u002e%u002e/secret.txt", {400}),
    # malformed escapes
    ("/%", {400}),
    ("/%2", {400}),
    ("/%zz", {400}),
    ("/%%32%65", {400}),
    # absolute form
    ("http://t/../secret.txt", {400}),
    ("http://t/%2e%2e/secret.txt", {400}),
    ("http://../secret.txt", {404}),  # authority "..", path "/secret.txt"
    ("HTTP://t/sub/../../secret.txt", {400}),
    ("file:///etc/passwd", {400}),
    ("*", {400}),
    # symlinks out of the root
    ("/link-out", {404}),
    ("/abs-out", {404}),
    ("/dir-out/secret.txt", {404}),
    # Out of the root and back in: openat2 refuses the detour (404); the
    # /proc check sees only where it ends, inside the root (200, INDEX).
    ("/dir-out/www/index.html", {200, 404}),
    ("/proc-out", {404}),
    ("/proc-fd-out", {404}),
    ("/sub/deep-out", {404}),
    ("/sub/deep-out/secret.txt", {404}),
    # dotfiles (denied by default), also by roundabout spellings
    ("/.htpasswd", {404}),
    ("/%2ehtpasswd", {404}),
    ("/sub/../.htpasswd", {404}),
    ("/.well-known/../.htpasswd", {404}),
    ("/.git/config", {404}),
    ("/.git/", {404}),
    ("/.git", {404}),
    ("/sub/.env", {404}),
    ("/sub/%2eenv", {404}),
    ("/.well-known/.hidden", {404}),
    ("/sub/.well-known/acme", {404}),
    # no listing by default
    ("/noindex/", {403}),
    ("/noindex/?format=json", {403}),
]

# target -> status and body (None: any body without a secret).
WITHIN = [
    ("/", 200, INDEX),
    ("/index.html", 200, INDEX),
    ("/sub/inner.txt", 200, INSIDE),
    ("/link-in", 200, INDEX),
    ("/sub-link/inner.txt", 200, INSIDE),
    ("/.well-known/acme", 200, WELL_KNOWN),
    ("/noindex/x.txt", 200, INSIDE),
]


def make_tree(base):
    """base/secret.txt and base/outside/ lie outside base/www, the root."""
    root = os.path.join(base, "www")
    outside = os.path.join(base, "outside")
    write_file(os.path.join(base, "secret.txt"), SECRET)
    write_file(os.path.join(outside, "file.txt"), SECRET)
    write_file(os.path.join(outside, "index.html"), SECRET)
    write_file(os.path.join(root, "index.html"), INDEX)
    write_file(os.path.join(root, "sub", "inner.txt"), INSIDE)
    write_file(os.path.join(root, "noindex", "x.txt"), INSIDE)
    write_file(os.path.join(root, ".htpasswd"), DOT)
    write_file(os.path.join(root, ".git", "config"), DOT)
    write_file(os.path.join(root, ".git", "index.html"), DOT)
    write_file(os.path.join(root, "sub", ".env"), DOT)
    write_file(os.path.join(root, "sub", ".well-known", "acme"), DOT)
    write_file(os.path.join(root, ".well-known", "acme"), WELL_KNOWN)
    write_file(os.path.join(root, ".well-known", ".hidden"), DOT)
    write_file(os.path.join(root, "hold", "file.txt"), INSIDE)
    write_file(os.path.join(root, "hold", "index.html"), INSIDE_INDEX)
    os.symlink("../secret.txt", os.path.join(root, "link-out"))
    os.symlink(os.path.join(base, "secret.txt"), os.path.join(root, "abs-out"))
    os.symlink("..", os.path.join(root, "dir-out"))
    os.symlink("/proc/self/root" + os.path.join(base, "secret.txt"),
               os.path.join(root, "proc-out"))
    os.symlink("/proc/self/fd/0", os.path.join(root, "proc-fd-out"))
    os.symlink("../../outside", os.path.join(root, "sub", "deep-out"))
    os.symlink("index.html", os.path.join(root, "link-in"))
    os.symlink("sub", os.path.join(root, "sub-link"))
    os.symlink("hold", os.path.join(root, "race"))
    return root


def raw_get(srv, target):
    with srv.connect() as c:
        c.send(b"GET " + target.encode("latin-1") +
               b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        return c.read_response()


class Tree:
    """A fresh tree and a daemon on it, shared by a test class (a mixin
    for ServerTestCase, which owns both)."""

    config = {}
    fallback = False

    @classmethod
    def setUpClass(cls):
        if cls.fallback and not have_slowfs:
            raise unittest.SkipTest("SLOWFS is not set to the built slowfs.so")
        super().setUpClass()

    @classmethod
    def make_root(cls, root):
        cls.base = os.path.dirname(root)
        make_tree(cls.base)

    @classmethod
    def server_options(cls):
        return {"config": dict(cls.config), "env": FALLBACK_ENV if cls.fallback else None}

    def assert_safe(self, r):
        self.assertNotIn(SECRET, r.body)
        self.assertNotIn(DOT, r.body)

    def test_mode(self):
        if WRAPPED and not self.fallback:
            self.skipTest("valgrind 3.19 does not know openat2: the daemon uses the "
                          "/proc/self/fd fallback here too")
        fallback_logged = any("openat2 is unavailable" in l for l in self.server.stderr_lines)
        self.assertEqual(fallback_logged, self.fallback)


class TraversalTest(Tree, ServerTestCase):
    """The table, with the default configuration."""

    def test_traversal_table(self):
        for target, statuses in TRAVERSALS:
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertIn(r.status, statuses, r)
                self.assert_safe(r)
                if r.status == 200:
                    self.assertEqual(r.body, INDEX)
        self.assertEqual(fetch(self.server.host, self.server.port, "/").body, INDEX)

    def test_within_root(self):
        for target, status, body in WITHIN:
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.body, body)

    def test_head_and_range_do_not_leak(self):
        for target in ("/link-out", "/.htpasswd", "/dir-out/secret.txt"):
            with self.subTest(target=target), self.server.connect() as c:
                c.request("HEAD", target)
                r = c.read_response("HEAD")
                self.assertEqual(r.status, 404)
                c.request("GET", target, {"Range": "bytes=0-3"})
                r = c.read_response()
                self.assertEqual(r.status, 404)
                self.assert_safe(r)


class OpenWatch:
    """inotify IN_OPEN on a path (through ctypes: the stdlib has no
    inotify), to prove that a file outside the root is never even opened.
    O_PATH descriptors raise no IN_OPEN (Linux 6.x)."""

    IN_OPEN = 0x20

    def __init__(self, path):
        import ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self.libc.inotify_add_watch(
                self.fd, os.fsencode(path), self.IN_OPEN) < 0:
            raise unittest.SkipTest("no inotify here")

    def opened(self):
        try:
            return len(os.read(self.fd, 4096)) > 0
        except BlockingIOError:
            return False

    def close(self):
        os.close(self.fd)


class NoOpenOutsideMixin:
    def test_outside_is_never_opened(self):
        """Following a link out of the root must not open what is there:
        for a device or a FIFO, opening alone has effects."""
        target = os.path.join(self.base, "outside", "file.txt")
        watch = OpenWatch(target)
        try:
            self.assertFalse(watch.opened())
            with open(target, "rb"):
                pass
            self.assertTrue(watch.opened(), "inotify does not see opens here")
            for link in ("/sub/deep-out/file.txt", "/dir-out/outside/file.txt"):
                with self.subTest(target=link):
                    r = raw_get(self.server, link)
                    self.assertEqual(r.status, 404)
                    self.assertFalse(watch.opened(), "the daemon opened %s" % target)
        finally:
            watch.close()


class TraversalOpenTest(NoOpenOutsideMixin, Tree, ServerTestCase):
    pass


@unittest.skipUnless(have_slowfs, "SLOWFS is not set to the built slowfs.so")
class TraversalOpenFallbackTest(TraversalOpenTest):
    fallback = True


@unittest.skipUnless(have_slowfs, "SLOWFS is not set to the built slowfs.so")
class TraversalFallbackTest(TraversalTest):
    fallback = True


class SymlinkRaceTest(Tree, ServerTestCase):
    """root/race flips between a real directory, a symlink out of the
    root (relative, with "..", and absolute) and a symlink to a directory
    inside it, while clients ask for files through it."""

    config = {"open_file_cache_max": 0}
    SECONDS = 3.0
    CLIENTS = 6

    def test_race(self):
        race = os.path.join(self.root, "race")
        hold = os.path.join(self.root, "hold")
        tmp = os.path.join(self.root, "race.tmp")
        outside = os.path.join(self.base, "outside")
        stop = threading.Event()
        counts = {}
        bad = []
        lock = threading.Lock()

        def swapper():
            states = 0
            while not stop.is_set():
                # A real directory at race.
                os.unlink(race)
                os.rename(hold, race)
                # A relative symlink out, then an absolute one, then one
                # within the root, each replacing the last atomically.
                os.rename(race, hold)
                for target in ("../outside", outside, "hold", "sub/../../outside"):
                    os.symlink(target, tmp)
                    os.rename(tmp, race)
                states += 1
            with lock:
                counts["swaps"] = states

        def client():
            while not stop.is_set():
                for target in ("/race/file.txt", "/race/", "/race/index.html"):
                    try:
                        r = raw_get(self.server, target)
                    except Exception as e:  # noqa: BLE001 -- reported below
                        with lock:
                            bad.append("%s: %s" % (target, e))
                        continue
                    # 503: openat2 lost its race with the renames every
                    # time it tried (EAGAIN); never a 500.
                    ok = ((r.status == 200 and r.body in (INSIDE, INSIDE_INDEX)) or
                          r.status in (403, 404, 503))
                    with lock:
                        counts[r.status] = counts.get(r.status, 0) + 1
                        if not ok or SECRET in r.body:
                            bad.append((target, r.status, r.body[:40]))

        threads = [threading.Thread(target=swapper)] + \
            [threading.Thread(target=client) for _ in range(self.CLIENTS)]
        for t in threads:
            t.start()
        try:
            time.sleep(self.SECONDS)  # how long to race, not a wait for an event
            # A loaded machine may not have met both outcomes by then.
            wait_for(lambda: counts.get(200, 0) and counts.get(404, 0))
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(bad[:5], [], counts)
        self.assertGreater(counts.get(200, 0), 0, counts)
        self.assertGreater(counts.get(404, 0), 0, counts)
        self.assertGreater(counts.get("swaps", 0), 0, counts)
        # Whatever state it stopped in, the daemon serves on.
        self.assertEqual(fetch(self.server.host, self.server.port, "/").body, INDEX)


@unittest.skipUnless(have_slowfs, "SLOWFS is not set to the built slowfs.so")
class SymlinkRaceFallbackTest(SymlinkRaceTest):
    fallback = True


class SymlinkRaceCachedTest(SymlinkRaceTest):
    """With the open-file cache: an entry never outlives what it was
    resolved through into serving what is outside."""

    config = {}


# Per option: target -> status (and for 200s, bytes the body must hold and
# bytes it must not). Everything outside the root stays 404 throughout.
OPTIONS = {
    "default": ({}, [
        ("/.htpasswd", 404, None, None),
        ("/noindex/", 403, None, None),
        ("/link-in", 200, INDEX, None),
    ]),
    "dotfiles": ({"dotfiles": "allow"}, [
        ("/.htpasswd", 200, DOT, None),
        ("/sub/.env", 200, DOT, None),
        ("/.git/config", 200, DOT, None),
        ("/.git/", 200, DOT, None),
        ("/noindex/", 403, None, None),
    ]),
    "autoindex": ({"autoindex": True}, [
        ("/noindex/", 200, b"x.txt", None),
        ("/noindex/?format=json", 200, b"x.txt", None),
        ("/sub/.well-known/", 404, None, None),
        ("/.htpasswd", 404, None, None),
        ("/dir-out/", 404, None, None),
        ("/sub/deep-out/", 404, None, None),
    ]),
    "autoindex+dotfiles": ({"autoindex": True, "dotfiles": "allow"}, [
        ("/noindex/", 200, b"x.txt", None),
        ("/.htpasswd", 200, DOT, None),
        ("/dir-out/", 404, None, None),
    ]),
    "symlinks-off": ({"symlinks": "off"}, [
        ("/link-in", 404, None, None),
        ("/sub-link/inner.txt", 404, None, None),
        ("/race/file.txt", 404, None, None),
        ("/index.html", 200, INDEX, None),
        ("/.htpasswd", 404, None, None),
    ]),
}
OUTSIDE = ["/link-out", "/abs-out", "/dir-out/secret.txt", "/proc-out", "/proc-fd-out",
           "/sub/deep-out/file.txt", "/../secret.txt", "/%2e%2e/secret.txt"]


class OptionsBase(Tree):
    option = "default"

    @classmethod
    def setUpClass(cls):
        cls.config = OPTIONS[cls.option][0]
        super().setUpClass()

    def test_option(self):
        for target, status, must, must_not in OPTIONS[self.option][1]:
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertEqual(r.status, status, r)
                self.assertNotIn(SECRET, r.body)
                if must is not None:
                    self.assertIn(must, r.body)
                if status != 200 or must is not DOT:
                    self.assertNotIn(DOT, r.body)

    def test_outside_stays_out(self):
        for target in OUTSIDE:
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertIn(r.status, (400, 404), r)
                self.assertNotIn(SECRET, r.body)

    def test_listings_hide_what_is_hidden(self):
        if not self.config.get("autoindex"):
            return
        # A directory without an index, holding a dotfile.
        write_file(os.path.join(self.root, "noindex", ".private"), DOT)
        try:
            for target in ("/noindex/", "/noindex/?format=json"):
                with self.subTest(target=target):
                    r = raw_get(self.server, target)
                    self.assertEqual(r.status, 200)
                    if self.config.get("dotfiles") == "allow":
                        self.assertIn(b".private", r.body)
                    else:
                        self.assertNotIn(b".private", r.body)
        finally:
            os.unlink(os.path.join(self.root, "noindex", ".private"))


def _option_classes():
    """One test class per option and resolution mode."""
    for option in OPTIONS:
        for fallback in (False, True):
            name = "Options_%s%s" % (option.replace("+", "_").replace("-", "_"),
                                     "_fallback" if fallback else "")
            cls = type(name, (OptionsBase, ServerTestCase),
                       {"option": option, "fallback": fallback})
            if fallback:
                cls = unittest.skipUnless(have_slowfs, "no slowfs.so")(cls)
            globals()[name] = cls


_option_classes()


if __name__ == "__main__":
    main()
