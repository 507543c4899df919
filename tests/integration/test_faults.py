"""Faults during a response: a file truncated, replaced or deleted while it
is being sent, a client that goes away while a pool read is in flight, and
storage that answers EIO.

What must hold: a response never carries bytes the file did not have at
that offset, never more or fewer than its Content-Length without the
connection being closed, and its head (Content-Length, ETag) describes the
bytes that follow, with the open-file cache on or off. A descriptor that is
already open keeps serving the old file whole when the path is renamed over
or unlinked. A client that disconnects, even while a read job is on a pool
thread, costs nothing afterwards: the daemon's descriptors, connections,
coroutines and queued jobs return to where they were (the sanitizer build
runs this too, so a completion into freed memory would fail it). EIO
answers 500 before the head is out and closes the connection after, with
one log line, and other clients never notice.

EIO and slow reads come from tests/support/slowfs.so (SLOWFS_EIO_MARKER,
SLOWFS_EIO_AFTER, SLOWFS_EIO_STAT; SLOWFS_MARKER, SLOWFS_DELAY_MS, SLOWFS_NOTIFY_FD).
"""

import os
import re
import select
import socket
import threading
import time
import unittest

from coserve_test import (SLOWFS, WAIT_S, HTTPConnection, ProtocolError, Server,
                          ServerTestCase, fetch, main, wait_for, write_file)

MiB = 1 << 20
BIG = 48 * MiB  # far more than the socket buffers hold, so a stalled reader stalls the daemon
SETTLE_S = WAIT_S  # how long resources may take to come back after a disconnect

needs_slowfs = unittest.skipUnless(SLOWFS and os.path.exists(SLOWFS),
                                   "SLOWFS is not set to the built slowfs.so")


def etag_size(etag):
    """The size a coserve ETag ("mtime-size", hex) was made from."""
    m = re.fullmatch(r'"([0-9a-f]+)-([0-9a-f]+)(?:-[a-z]+)?"', etag or "")
    if not m:
        raise AssertionError("unexpected ETag %r" % etag)
    return int(m.group(2), 16)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_targets(pid):
    """What each of the daemon's descriptors is open on, for a failure."""
    out = []
    for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        try:
            out.append("%s -> %s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
        except OSError:
            pass
    return "\n".join(out)


def fds_on(pid, path):
    """How many of the daemon's descriptors are open on path's inode."""
    ino = os.stat(path).st_ino
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.stat("/proc/%d/fd/%s" % (pid, fd)).st_ino == ino:
                n += 1
        except OSError:
            pass
    return n


def read_until_closed(c, limit):
    """Body bytes after the head until the server closes (or limit is reached)."""
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


def stalled_download(srv, target, rcvbuf=4096):
    """Starts a GET and reads only its head: the daemon is then blocked on
    a full socket, part-way through the body. Returns (connection, head)."""
    c = srv.connect(rcvbuf=rcvbuf)
    c.request("GET", target, {"Connection": "close"})
    head = c.read_head()
    return c, head


def parse_len(head):
    m = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
    assert m, head
    return int(m.group(1))


class ChangingFilesTest(ServerTestCase):
    """Truncation, rename-over and unlink while a response is in flight,
    each with the open-file cache on (the default) and off."""

    server_config = {"send_timeout_ms": 60000}  # the open-file cache: on

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "other.txt"), b"other\n" * 100)

    def path(self, name):
        return os.path.join(self.root, name)

    def assert_still_serving(self):
        r = self.get("/other.txt")
        self.assertEqual((r.status, r.body), (200, b"other\n" * 100))

    def test_truncated_while_sending_closes_without_padding(self):
        # A daemon of its own: the race tests before this one may have used
        # up the window's "read at" warnings (10 per 10 s), and this one
        # must name the file. The copy path, then sendfile.
        for zerocopy in (False, True):
            config = dict(self.server_config)
            if not zerocopy:
                config["sendfile_min_bytes"] = 0
            with self.subTest(zerocopy=zerocopy), \
                    Server(root=self.root, config=config) as srv:
                self.server = srv  # hides the class's daemon for this test only
                try:
                    self.check_truncated_while_sending(zerocopy)
                finally:
                    del self.server

    def check_truncated_while_sending(self, zerocopy):
        name = "trunc-%s-%d.bin" % (self.id().rsplit(".", 1)[-1], zerocopy)
        data = os.urandom(BIG)
        write_file(self.path(name), data)
        self.assertEqual(self.get("/" + name).status, 200)  # cached, where there is a cache
        before = len(self.server.stderr_lines)
        c, head = stalled_download(self.server, "/" + name)
        with c:
            length = parse_len(head)
            self.assertEqual(length, BIG)
            os.truncate(self.path(name), MiB)
            body = read_until_closed(c, length)
        self.assertLess(len(body), length, "the whole body came after a truncation")
        if not zerocopy:
            # Every byte is the file's own: nothing invented past the new end.
            self.assertEqual(body, data[:len(body)])
        else:
            # Up to the new end, too. Past it, sendfile queued references to
            # page cache pages, not copies, and a truncation zeroes in place
            # the part of a large folio past the new end: bytes queued but
            # not yet read may arrive as zeros (nginx's and lighttpd's
            # sendfile alike). Each page is the old one or zeros, and the
            # close still says the body is cut short.
            self.assertEqual(body[:MiB], data[:min(len(body), MiB)])
            for off in range(MiB, len(body), 4096):
                page = body[off:off + 4096]
                self.assertTrue(page == data[off:off + len(page)] or not page.strip(b"\0"),
                                "bytes at %d are neither the file's nor zeros" % off)
        # One line says why the response stopped.
        self.server.wait_for_log("shrank", since=before)
        lines = [l for l in self.server.stderr_lines[before:] if "shrank" in l]
        self.assertEqual(len(lines), 1, self.server.stderr_lines[before:])
        self.assertTrue(lines[0].startswith("coserve: warn: "), lines[0])
        self.assertIn(name, lines[0])
        # The next request describes the file as it is now.
        r = self.get("/" + name)
        self.assertEqual((r.status, len(r.body)), (200, MiB))
        self.assertEqual(r.body, data[:MiB])
        self.assertEqual(etag_size(r.header("etag")), MiB)
        self.assert_still_serving()

    def test_truncated_file_gets_a_fresh_head(self):
        p = self.path("shrink.txt")
        write_file(p, b"A" * 5000)
        r1 = self.get("/shrink.txt")
        self.assertEqual(r1.body, b"A" * 5000)
        with open(p, "r+b") as f:
            f.truncate(100)
        r2 = self.get("/shrink.txt")
        self.assertEqual((r2.status, r2.header("content-length"), r2.body),
                         (200, "100", b"A" * 100))
        self.assertNotEqual(r1.header("etag"), r2.header("etag"))
        self.assertEqual(etag_size(r2.header("etag")), 100)
        # A range that was satisfiable before is judged on the new size.
        with self.server.connect() as c:
            c.request("GET", "/shrink.txt", {"Range": "bytes=200-300"})
            self.assertEqual(c.read_response().status, 416)

    def test_renamed_over_while_sending_serves_the_old_file_whole(self):
        data = os.urandom(BIG)
        write_file(self.path("swap.bin"), data)
        self.assertEqual(self.get("/swap.bin").status, 200)
        c, head = stalled_download(self.server, "/swap.bin")
        with c:
            length = parse_len(head)
            write_file(self.path("swap.new"), b"new content\n")
            os.rename(self.path("swap.new"), self.path("swap.bin"))
            body = read_until_closed(c, length)
        self.assertEqual(len(body), length)
        self.assertTrue(body == data, "the old descriptor did not serve the old file")
        r = self.get("/swap.bin")
        self.assertEqual((r.status, r.body), (200, b"new content\n"))

    def test_deleted_while_sending_serves_the_old_file_whole(self):
        data = os.urandom(BIG)
        write_file(self.path("gone.bin"), data)
        self.assertEqual(self.get("/gone.bin").status, 200)
        c, head = stalled_download(self.server, "/gone.bin")
        with c:
            length = parse_len(head)
            os.unlink(self.path("gone.bin"))
            body = read_until_closed(c, length)
        self.assertEqual(len(body), length)
        self.assertTrue(body == data, "the old descriptor did not serve the old file")
        self.assertEqual(self.get("/gone.bin").status, 404)
        # The deleted file's descriptor is not kept open by the cache.
        self.assert_still_serving()

    def hammer(self, target, seconds, check):
        """Clients fetch target over and over for seconds; check(response)
        or check(None) for a connection closed inside a body."""
        stop = time.monotonic() + seconds
        errors = []

        def client():
            try:
                while time.monotonic() < stop:
                    with self.server.connect() as c:
                        for _ in range(20):
                            c.request("GET", target)
                            try:
                                r = c.read_response()
                            except ProtocolError:
                                check(None)
                                break
                            check(r)
                            if r.closes():
                                break
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        return threads, errors

    def test_rename_race_every_head_matches_its_body(self):
        """Deploys by rename: every response is one version, whole, with
        that version's ETag."""
        a, b = b"a" * 300000, b"b" * 200001
        ta, tb = 1_600_000_000, 1_700_000_000
        p = self.path("race.txt")
        tmp = self.path("race.tmp")
        write_file(p, a)
        os.utime(p, (ta, ta))
        etag_a = self.get("/race.txt").header("etag")
        write_file(tmp, b)
        os.utime(tmp, (tb, tb))
        os.rename(tmp, p)
        etag_b = self.get("/race.txt").header("etag")
        self.assertNotEqual(etag_a, etag_b)
        seen = {"a": 0, "b": 0}
        bad = []

        def check(r):
            if r is None:
                bad.append("closed inside a body")
            elif r.status != 200:
                bad.append(r.status)
            elif r.body == a and r.header("etag") == etag_a:
                seen["a"] += 1
            elif r.body == b and r.header("etag") == etag_b:
                seen["b"] += 1
            else:
                bad.append((r.header("etag"), len(r.body), r.body[:1]))

        threads, errors = self.hammer("/race.txt", 2.5, check)
        flip = False
        while any(t.is_alive() for t in threads):
            data, t = (a, ta) if flip else (b, tb)
            write_file(tmp, data)
            os.utime(tmp, (t, t))
            os.rename(tmp, p)
            flip = not flip
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(bad[:5], [])
        self.assertGreater(seen["a"] + seen["b"], 0)
        self.assert_still_serving()

    def test_rewrite_in_place_race_length_and_etag_agree(self):
        """Rewritten in place (truncate, then write): the bytes may mix two
        versions, which no server can prevent without copying, but a
        response is whole by its Content-Length or cut short by a close,
        and its ETag names that length."""
        p = self.path("inplace.txt")
        versions = [b"x" * 250000, b"y" * 90001, b"z" * 400003]
        write_file(p, versions[0])
        results = {"whole": 0, "cut": 0}
        bad = []

        def check(r):
            if r is None:
                results["cut"] += 1
            elif r.status == 503:
                # Shrank before the head went out: "try again".
                results["cut"] += 1
            elif r.status != 200:
                bad.append(r.status)
            elif (len(r.body) != int(r.header("content-length")) or
                  etag_size(r.header("etag")) != len(r.body)):
                bad.append((r.header("etag"), r.header("content-length"), len(r.body)))
            else:
                results["whole"] += 1

        threads, errors = self.hammer("/inplace.txt", 2.5, check)
        i = 0
        while any(t.is_alive() for t in threads):
            i += 1
            with open(p, "r+b") as f:
                f.truncate(0)
                f.write(versions[i % len(versions)])
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(bad[:5], [])
        self.assertGreater(results["whole"], 0)
        self.assert_still_serving()


class ChangingFilesNoCacheTest(ChangingFilesTest):
    server_config = dict(ChangingFilesTest.server_config, open_file_cache_max=0)


class NotifyPipe:
    """The read end of slowfs's "a delay has started" pipe."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()

    def close_write_end(self):
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def drain(self):
        while select.select([self.read_fd], [], [], 0)[0]:
            if not os.read(self.read_fd, 4096):
                break

    def wait(self, timeout=WAIT_S):
        r, _, _ = select.select([self.read_fd], [], [], timeout)
        if not r or os.read(self.read_fd, 1) != b"s":
            raise AssertionError("no slowfs delay started within %.0f s" % timeout)

    def close(self):
        self.close_write_end()
        os.close(self.read_fd)


@needs_slowfs
class DisconnectTest(ServerTestCase):
    """Clients that go away while a read (or the open) is on a pool
    thread: everything they held comes back."""

    DELAY_MS = 600
    SLOW_DATA = os.urandom(2 * MiB)

    cache_max = 0
    shared_server = False  # a daemon per test, each with its notify pipe

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "big-SLOW.bin"), cls.SLOW_DATA)
        write_file(os.path.join(root, "fast.txt"), b"fast\n")
        write_file(os.path.join(root, "fast-big.bin"), os.urandom(16 * MiB))

    def setUp(self):
        self.pipe = NotifyPipe()
        self.addCleanup(self.pipe.close)
        self.server = self.start_server(env={
            "LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": "SLOW",
            "SLOWFS_DELAY_MS": str(self.DELAY_MS),
            "SLOWFS_NOTIFY_FD": str(self.pipe.write_fd),
        }, pass_fds=[self.pipe.write_fd], config={
            "metrics_listen": "127.0.0.1:0", "chunk_bytes": 65536,
            "open_file_cache_max": self.cache_max,
            # metrics_listen turns the storage probe on, a pool job that
            # would show in io_queue_depth whenever a gauge read meets it:
            # only the start-up one runs, and baseline() waits it out.
            "health_probe_interval_ms": 3600000,
        })
        self.pipe.close_write_end()

    def gauges(self):
        """The gauges, read on a connection the daemon has closed by the
        time this returns, so it is not in the descriptor count."""
        host, port = self.server.listeners[1]
        with HTTPConnection(host, port) as c:
            c.request("GET", "/metrics", {"Connection": "close"})
            r = c.read_response()
            self.assertTrue(c.closed_by_peer())
        self.assertEqual(r.status, 200)
        out = {}
        for name in ("connections_open", "coroutines", "io_queue_depth"):
            m = re.search(r"^coserve_%s (\d+)$" % name, r.body.decode(), re.M)
            out[name] = int(m.group(1))
        return out

    def baseline(self):
        # Idle means nothing queued (the start-up storage probe may still
        # be out: under sanitizers it can take a while) and no connection
        # but the scrape's own (the last test's may still be closing: a
        # baseline counting it, and its descriptor, fails the next test).
        def idle():
            gauges = self.gauges()
            return gauges if (gauges["io_queue_depth"] == 0 and
                              gauges["connections_open"] == 1) else None
        gauges = wait_for(idle, SETTLE_S, "an empty I/O queue")
        self.base_fds = fd_targets(self.server.pid)
        return gauges, fd_count(self.server.pid)

    def assert_back_to(self, base):
        gauges, fds = base
        deadline = time.monotonic() + SETTLE_S
        while True:
            now = self.gauges(), fd_count(self.server.pid)
            if now == (gauges, fds) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(now, (gauges, fds), "resources held after the clients left; "
                         "descriptors before:\n%s\nafter:\n%s"
                         % (self.base_fds, fd_targets(self.server.pid)))

    def abort_after_head(self, clients):
        """Each client reads the head and first chunk, then waits until the
        next read is really in flight on a pool thread and resets."""
        conns = []
        for _ in range(clients):
            c = self.server.connect(rcvbuf=1 << 20)
            c.request("GET", "/big-SLOW.bin")
            conns.append(c)
        for c in conns:
            r = parse_len(c.read_head())
            self.assertEqual(r, len(self.SLOW_DATA))
        # Every response has sent its first chunk, so each now waits on a
        # pool read: a delay starts per client.
        self.pipe.drain()
        for _ in range(clients):
            self.pipe.wait()
        for c in conns:
            c.reset()

    def test_disconnect_while_read_in_flight(self):
        base = self.baseline()
        self.abort_after_head(1)
        self.assert_back_to(base)
        self.assertEqual(fetch(self.server.host, self.server.port, "/fast.txt").body, b"fast\n")

    def test_many_disconnects_while_reads_in_flight(self):
        base = self.baseline()
        self.abort_after_head(12)
        self.assert_back_to(base)

    def test_disconnect_while_open_in_flight(self):
        base = self.baseline()
        c = self.server.connect()
        c.request("GET", "/big-SLOW.bin")
        self.pipe.wait()  # the open (or its fstat) is sleeping on a worker
        c.reset()
        self.assert_back_to(base)
        self.assertEqual(fetch(self.server.host, self.server.port, "/fast.txt").body, b"fast\n")

    def test_disconnect_while_blocked_on_write(self):
        """A reader that stops, then resets: the daemon, waiting for the
        socket to drain, wakes to the error and lets everything go."""
        base = self.baseline()
        conns = []
        for _ in range(4):
            c, head = stalled_download(self.server, "/fast-big.bin")
            self.assertEqual(parse_len(head), 16 * MiB)
            conns.append(c)
        for c in conns:
            c.reset()
        self.assert_back_to(base)

    def test_graceful_close_while_read_in_flight(self):
        """A FIN instead of a reset: the daemon learns of it only when a
        write fails, one chunk later."""
        base = self.baseline()
        c = self.server.connect(rcvbuf=1 << 20)
        c.request("GET", "/big-SLOW.bin")
        c.read_head()
        self.pipe.drain()
        self.pipe.wait()
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        self.assert_back_to(base)


@needs_slowfs
class DisconnectCachedTest(DisconnectTest):
    """The same with the open-file cache: only the cached descriptor stays."""

    cache_max = None

    def baseline(self):
        # Warm the caches so the entries' descriptors are part of the
        # baseline: each reactor has its own, and the kernel picks the
        # reactor of each connection, so new connections until all have it.
        line = self.server.wait_for_log(re.compile(r"\d+ reactors?[ ,]"))
        reactors = int(re.search(r"(\d+) reactors?[ ,]", line).group(1))
        for name in ("big-SLOW.bin", "fast-big.bin"):
            path = os.path.join(self.root, name)
            for _ in range(64):
                with self.server.connect() as c:
                    c.request("GET", "/" + name, {"Range": "bytes=0-0", "Connection": "close"})
                    self.assertEqual(c.read_response().status, 206)
                    self.assertTrue(c.closed_by_peer())
                if fds_on(self.server.pid, path) == reactors:
                    break
            self.assertEqual(fds_on(self.server.pid, path), reactors)
        return super().baseline()


@needs_slowfs
class StorageErrorTest(ServerTestCase):
    """EIO from storage: 500 before the head, a close after it; one warn
    line each; other clients unaffected."""

    GOOD = 300000  # readable bytes of the bad file before its bad sector
    BAD_DATA = os.urandom(3 * MiB)
    OTHER = os.urandom(24 * MiB)

    server_env = {
        "LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": "NEVER-SLOW-MARKER",
        "SLOWFS_EIO_MARKER": "BADSECTOR", "SLOWFS_EIO_AFTER": str(GOOD),
    }
    server_config = {"chunk_bytes": 65536, "send_timeout_ms": 60000}

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "BADSECTOR.bin"), cls.BAD_DATA)
        write_file(os.path.join(root, "other.bin"), cls.OTHER)

    def eio_lines(self, since):
        self.server.wait_for_log("Input/output error", since=since)
        return [l for l in self.server.stderr_lines[since:] if "Input/output error" in l]

    def test_eio_before_the_head_is_500(self):
        before = len(self.server.stderr_lines)
        with self.server.connect() as c:
            c.request("GET", "/BADSECTOR.bin", {"Range": "bytes=%d-" % (self.GOOD + 10)})
            r = c.read_response()
            self.assertEqual(r.status, 500)
            self.assertTrue(c.closed_by_peer())
        lines = self.eio_lines(before)
        self.assertEqual(len(lines), 1, self.server.stderr_lines[before:])
        self.assertTrue(lines[0].startswith("coserve: warn: "), lines[0])
        self.assertIn("BADSECTOR.bin", lines[0])
        # HEAD reads nothing: it still works.
        r = fetch(self.server.host, self.server.port, "/BADSECTOR.bin", method="HEAD")
        self.assertEqual(r.status, 200)

    def test_eio_after_the_head_closes(self):
        before = len(self.server.stderr_lines)
        with self.server.connect() as c:
            c.request("GET", "/BADSECTOR.bin")
            length = parse_len(c.read_head())
            self.assertEqual(length, len(self.BAD_DATA))
            body = read_until_closed(c, length)
        # Good bytes only, then the close: no padding, no more. (The chunk
        # that met the bad sector is dropped with the connection.)
        self.assertLessEqual(len(body), self.GOOD)
        self.assertGreater(len(body), self.GOOD - 65536)
        self.assertTrue(body == self.BAD_DATA[:len(body)])
        lines = self.eio_lines(before)
        self.assertEqual(len(lines), 1, self.server.stderr_lines[before:])
        self.assertTrue(lines[0].startswith("coserve: warn: "), lines[0])

    def test_other_clients_unaffected(self):
        results = {}

        def download():
            try:
                with self.server.connect() as c:
                    c.request("GET", "/other.bin", {"Connection": "close"})
                    results["other"] = c.read_response().body == self.OTHER
            except Exception as e:  # noqa: BLE001 -- reported below
                results["other"] = e

        t = threading.Thread(target=download)
        t.start()
        for _ in range(10):
            try:
                with self.server.connect() as c:
                    c.request("GET", "/BADSECTOR.bin", {"Connection": "close"})
                    read_until_closed(c, 1 << 30)
            except OSError:
                pass
        t.join(60)
        self.assertIs(results.get("other"), True)
        # A good range of the bad file is still served.
        with self.server.connect() as c:
            c.request("GET", "/BADSECTOR.bin", {"Range": "bytes=0-999"})
            r = c.read_response()
            self.assertEqual((r.status, r.body), (206, self.BAD_DATA[:1000]))


@needs_slowfs
class StatErrorTest(ServerTestCase):
    """EIO while opening (fstat): a 500 and one warn line naming the file."""

    server_env = {
        "LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": "NEVER-SLOW-MARKER",
        "SLOWFS_EIO_MARKER": "BADMETA", "SLOWFS_EIO_STAT": "1",
    }
    server_config = {"index": "BADMETA.html"}

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "BADMETA.txt"), b"unreadable\n")
        write_file(os.path.join(root, "dir", "BADMETA.html"), b"unreadable\n")
        write_file(os.path.join(root, "good.txt"), b"good\n")

    def test_eio_on_open_is_500_and_logged(self):
        for target, name in (("/BADMETA.txt", "BADMETA.txt"),
                             ("/dir/", "dir/BADMETA.html")):
            with self.subTest(target=target):
                before = len(self.server.stderr_lines)
                r = fetch(self.server.host, self.server.port, target)
                self.assertEqual(r.status, 500)
                self.server.wait_for_log("Input/output error", since=before)
                lines = [l for l in self.server.stderr_lines[before:]
                         if "Input/output error" in l]
                self.assertEqual(len(lines), 1, self.server.stderr_lines[before:])
                self.assertTrue(lines[0].startswith("coserve: warn: /%s: cannot open: " % name),
                                lines[0])
        r = fetch(self.server.host, self.server.port, "/good.txt")
        self.assertEqual((r.status, r.body), (200, b"good\n"))


if __name__ == "__main__":
    main()
