"""Several reactors (`reactors = 2`): connections land on each, and what
is global stays exact across them: max_connections, the per-client cap, a
reload with requests in flight on both, and the drain on SIGTERM. Ready
is logged only once every reactor listens."""

import os
import platform
import re
import select
import signal
import socket
import time
import unittest

from coserve_test import (COSERVE, SLOWDOWN, WRAPPED, DaemonError, HTTPConnection, Server,
                          ServerTestCase, build_request, fetch, main, sha256, wait_for,
                          write_file)

SLOWFS = os.environ.get("SLOWFS", "")
# clock_nanosleep, which slowfs sleeps in, by machine.
SLEEP_SYSCALL = {"x86_64": 230, "aarch64": 115}.get(platform.machine())

REACTORS = 2
BIG = 4 * 1024 * 1024
BIG_DATA = bytes(range(256)) * (BIG // 256)
GAUGE_RE = re.compile(r'^coserve_reactor_connections_open\{reactor="(\d+)"\} (\d+)$', re.M)
OTHER = "127.0.0.2"  # loopback answers all of 127/8


def reactor_connections(srv):
    """{reactor: open connections}, read on the metrics listener (whose own
    connection counts too, on one of them)."""
    r = fetch(srv.host, srv.listeners[1][1], "/metrics")
    assert r.status == 200, r
    return {int(k): int(v) for k, v in GAUGE_RE.findall(r.body.decode())}


class Landing:
    """Which reactor a new connection landed on: coserve_reactor_connections_open
    scraped on a keep-alive connection of its own to the metrics listener,
    which stays counted on one reactor, so a reactor's count going up is
    the new connection's."""

    def __init__(self, srv, metrics_port):
        self.conn = HTTPConnection(srv.host, metrics_port)
        self.total = 1  # the scraping connection
        self.per = self.counts()

    def counts(self):
        """{reactor: open connections} once they add up to total (a reactor
        may count a connection it accepted after another rendered)."""
        per = {}

        def scrape():
            self.conn.request("GET", "/metrics")
            r = self.conn.read_response()
            assert r.status == 200, r
            per.clear()
            per.update((int(k), int(v)) for k, v in GAUGE_RE.findall(r.body.decode()))
            return sum(per.values()) == self.total

        wait_for(scrape, what="%d connections counted" % self.total)
        return per

    def opened(self):
        """The reactor of one more connection, accepted by now."""
        self.total += 1
        per = self.counts()
        [reactor] = [i for i in per if per[i] > self.per.get(i, 0)]
        self.per = per
        return reactor

    def close(self):
        self.conn.close()


def read_head(sock):
    """Reads up to the end of a response head; returns (status, rest)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, rest


def get_on(sock, target="/a.txt"):
    """One keep-alive GET on sock; its status."""
    sock.sendall(build_request("GET", target))
    status, head, body = read_head(sock)
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return status


def connect(host, port, source=None, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10 * SLOWDOWN)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def answered(socks, want, timeout):
    """Waits until want of socks have a response head, or every one has
    one or is closed (or timeout): the set of those answered and of those
    the daemon closed."""
    ok, closed = set(), set()
    deadline = time.monotonic() + timeout
    while len(ok) < want and len(ok) + len(closed) < len(socks) and \
            time.monotonic() < deadline:
        ready, _, _ = select.select([s for s in socks if s not in ok and s not in closed],
                                    [], [], max(0.0, deadline - time.monotonic()))
        for s in ready:
            try:
                data = s.recv(65536, socket.MSG_PEEK)
            except ConnectionResetError:
                data = b""
            if not data:
                closed.add(s)
            elif b"\r\n\r\n" in data:
                ok.add(s)
    return ok, closed


class Reactors(ServerTestCase):
    shared_server = False

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "a.txt"), b"a\n")
        write_file(os.path.join(root, "big.bin"), BIG_DATA)

    def start(self, **config):
        settings = {"reactors": REACTORS, "metrics_listen": "127.0.0.1:0"}
        settings.update(config)
        return self.start_server(config=settings)

    def test_connections_land_on_every_reactor(self):
        srv = self.start()
        srv.wait_for_log("coserve: info: %d reactors, " % REACTORS)
        socks = [connect(srv.host, srv.port) for _ in range(24)]
        try:
            for s in socks:
                self.assertEqual(get_on(s), 200)
            per = reactor_connections(srv)
            self.assertEqual(sorted(per), list(range(REACTORS)), per)
            # Each reactor holds some of them, and together all (the
            # metrics request's own connection too).
            self.assertTrue(all(n > 0 for n in per.values()), per)
            self.assertEqual(sum(per.values()), len(socks) + 1, per)
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: sum(reactor_connections(srv).values()) == 1, what="connections closed")

    def test_second_daemon_on_the_port_fails(self):
        # Each reactor's socket is in a SO_REUSEPORT group: a second daemon
        # on the port must not join the first's group and take a share of
        # its connections.
        srv = self.start()
        other = Server(root=self.root, config={"reactors": REACTORS,
                                               "listen": ["127.0.0.1:%d" % srv.port]},
                       start=False)
        try:
            with self.assertRaises(DaemonError):
                other.start()
            self.assertNotEqual(other.wait(), 0, other.stderr)
            self.assertIn("listen 127.0.0.1:%d: Address already in use" % srv.port,
                          other.stderr)
        finally:
            other.cleanup()
        for _ in range(8):
            self.assertEqual(fetch(srv.host, srv.port, "/a.txt").status, 200)

    def test_max_connections_is_exact(self):
        cap = 6
        srv = self.start(max_connections=cap)
        socks = [connect(srv.host, srv.port) for _ in range(16)]
        try:
            for s in socks:
                s.sendall(build_request("GET", "/a.txt"))
            ok, closed = answered(socks, cap, 10 * SLOWDOWN)
            self.assertEqual((len(ok), len(closed)), (cap, 0))
            # No reactor takes one more: the others wait in the queue.
            more, closed = answered([s for s in socks if s not in ok], 1, 1.0)
            self.assertEqual((len(more), len(closed)), (0, 0),
                             "a connection past max_connections was served")
            # Two close: exactly two more are served, whichever reactor
            # they wait on.
            for s in list(ok)[:2]:
                socks.remove(s)
                s.close()
            waiting = [s for s in socks if s not in ok]
            more, closed = answered(waiting, 2, 10 * SLOWDOWN)
            self.assertEqual((len(more), len(closed)), (2, 0))
            extra, _ = answered([s for s in waiting if s not in more], 1, 1.0)
            self.assertEqual(len(extra), 0, "a connection past max_connections was served")
        finally:
            for s in socks:
                s.close()

    def test_per_client_cap_is_exact(self):
        try:
            connect(OTHER, 9).close()
        except ConnectionRefusedError:
            pass
        except OSError as e:
            raise unittest.SkipTest("cannot use %s as a source: %s" % (OTHER, e))
        cap = 3
        srv = self.start(max_connections_per_client=cap)
        socks = [connect(srv.host, srv.port, source=OTHER) for _ in range(10)]
        try:
            for s in socks:
                try:
                    s.sendall(build_request("GET", "/a.txt"))
                except (ConnectionResetError, BrokenPipeError):
                    pass
            # Every one is either served or closed at once: no waiting.
            ok, closed = answered(socks, len(socks), 10 * SLOWDOWN)
            while len(ok) + len(closed) < len(socks):
                more_ok, more_closed = answered(
                    [s for s in socks if s not in ok and s not in closed],
                    len(socks), 10 * SLOWDOWN)
                if not more_ok and not more_closed:
                    break
                ok |= more_ok
                closed |= more_closed
            self.assertEqual((len(ok), len(closed)), (cap, len(socks) - cap))
            per = reactor_connections(srv)
            self.assertEqual(sum(per.values()), cap + 1, per)
        finally:
            for s in socks:
                s.close()

    def big_downloads(self, srv, n=12, most=64):
        """At least n connections, each with a GET of big.bin under way
        (head read, body not), and more until they sit on every reactor
        (up to most: the kernel hashes them to one, 2 ** -most of the
        time)."""
        socks, on = [], set()
        landing = Landing(srv, srv.listeners[1][1])
        try:
            while len(socks) < n or (len(on) < REACTORS and len(socks) < most):
                s = connect(srv.host, srv.port, rcvbuf=4096)
                s.sendall(build_request("GET", "/big.bin", {"Connection": "close"}))
                status, _, rest = read_head(s)
                self.assertEqual(status, 200)
                socks.append((s, rest))
                on.add(landing.opened())
        except BaseException:
            for s, _ in socks:
                s.close()
            raise
        finally:
            landing.close()
        self.assertEqual(len(on), REACTORS, "%d connections on one reactor" % len(socks))
        return socks

    def finish(self, socks):
        """Reads every body to its end, all at once (one at a time, the
        last would wait past send_timeout_ms), and checks each."""
        bodies = {s: bytearray(rest) for s, rest in socks}
        open_ = set(bodies)
        deadline = time.monotonic() + 120 * SLOWDOWN
        while open_ and time.monotonic() < deadline:
            ready, _, _ = select.select(list(open_), [], [], 1.0)
            for s in ready:
                chunk = s.recv(1 << 20)
                if chunk:
                    bodies[s] += chunk
                else:
                    open_.discard(s)
        for s, body in bodies.items():
            s.close()
            self.assertEqual(len(body), BIG)
            self.assertEqual(sha256(bytes(body)), sha256(BIG_DATA))

    def test_reload_with_requests_on_every_reactor(self):
        srv = self.start()
        socks = self.big_downloads(srv)
        try:
            srv.send_signal(signal.SIGHUP)
            srv.wait_for_log("configuration reloaded")
            # New connections, on whichever reactor, get the new generation.
            for _ in range(8):
                self.assertEqual(fetch(srv.host, srv.port, "/a.txt").status, 200)
            self.finish(socks)
        finally:
            for s, _ in socks:
                s.close()
        self.assertEqual(srv.stderr.count("configuration reloaded"), 1)

    def test_sigterm_drains_every_reactor(self):
        srv = self.start()
        socks = self.big_downloads(srv)
        try:
            mark = len(srv.stderr_lines)
            srv.send_signal(signal.SIGTERM)
            # The scraping connection may not be closed yet.
            srv.wait_for_log(re.compile(r"SIGTERM: shutting down, (%d|%d) connections open"
                                        % (len(socks), len(socks) + 1)), since=mark)
            self.finish(socks)
        finally:
            for s, _ in socks:
                s.close()
        self.assertEqual(srv.wait(), 0)
        # One line per event, not one per reactor.
        self.assertEqual(srv.stderr.count("shutting down"), 1, srv.stderr)
        self.assertEqual(srv.stderr.count("coserve: info: stopped"), 1, srv.stderr)


def has_systemd():
    """Whether the daemon links libsystemd (sd_notify)."""
    with open(COSERVE, "rb") as f:
        return b"libsystemd.so" in f.read()


def sleeping_thread(pid):
    """The name of the daemon's thread asleep in clock_nanosleep (where
    slowfs stalls a storage call), or None."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                call = f.read().split()[0]
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
        except (OSError, IndexError):
            continue
        if call.isdigit() and int(call) == SLEEP_SYSCALL:
            return comm
    return None


class ReadyOrder(ServerTestCase):
    """"listening on", which the harness (like an operator) takes as ready,
    comes once every reactor holds its own copies of the listeners, so what
    is counted from then on is the daemon's steady state. slowfs makes
    reactor 1 late to take them (its dup sleeps): before the fix, a
    descriptor count taken at ready grew by one per listener a second later,
    and test_faults once failed on it."""

    shared_server = False

    def test_ready_once_every_reactor_holds_its_listeners(self):
        if not SLOWFS or WRAPPED:
            self.skipTest("needs slowfs.so, and a daemon not under valgrind")
        srv = self.start_server(
            config={"reactors": REACTORS, "metrics_listen": "127.0.0.1:0"},
            env={"LD_PRELOAD": SLOWFS, "SLOWFS_DUP_THREAD": "coserve-r1",
                 "SLOWFS_DELAY_MS": "1000"})
        ready = os.listdir("/proc/%d/fd" % srv.pid)
        # Reactor 1 is accepting: one connection lands there.
        landing = Landing(srv, srv.listeners[1][1])
        socks = []
        try:
            for _ in range(64):
                socks.append(connect(srv.host, srv.port))
                # A 404: no file stays open in the cache.
                self.assertEqual(get_on(socks[-1], "/missing"), 404)
                if landing.opened() == 1:
                    break
            else:
                self.fail("the kernel never gave reactor 1 a connection")
        finally:
            for sock in socks:
                sock.close()
            landing.close()
        wait_for(lambda: sum(reactor_connections(srv).values()) == 1,
                 what="connections closed")
        fds = "/proc/%d/fd" % srv.pid
        if not wait_for(lambda: len(os.listdir(fds)) == len(ready), timeout=5 * SLOWDOWN):
            self.fail("descriptors at ready: %s; now: %s"
                      % (sorted(ready, key=int), sorted(os.listdir(fds), key=int)))


class WatchdogOneReactor(ServerTestCase):
    """WATCHDOG=1 stops while one reactor alone is stuck, reactor 0 (which
    sends it) still turning; it comes back when that reactor does. The
    stall: io_threads = 0 runs a storage call on the reactor itself, and
    slowfs makes it sleep. NOTIFY_SOCKET and WATCHDOG_USEC stand in for
    the service manager (test_systemd SIGSTOPs the whole process)."""

    shared_server = False
    DELAY_MS = 1500  # per storage call: open, stat and read stall 4.5 s
    WATCHDOG_MS = 600  # pings every 300 ms; a reactor silent 300 ms stops them

    @classmethod
    def make_root(cls, root):
        write_file(os.path.join(root, "a.txt"), b"a\n")
        write_file(os.path.join(root, "SLOW.bin"), b"s" * 100)

    def setUp(self):
        if not has_systemd():
            self.skipTest("coserve was built without systemd support")
        if not SLOWFS or WRAPPED:
            self.skipTest("needs slowfs.so, and a daemon not under valgrind")
        if SLEEP_SYSCALL is None:
            self.skipTest("no clock_nanosleep number for %s" % platform.machine())
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.notify.close)
        self.notify_path = os.path.join(self.tmp, "notify-%d" % os.getpid())
        self.notify.bind(self.notify_path)
        self.addCleanup(os.unlink, self.notify_path)

    def pings(self, seconds):
        """WATCHDOG=1 datagrams that arrive within seconds."""
        n = 0
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.notify], [], [], left)
            if ready and b"WATCHDOG=1" in self.notify.recv(4096).split(b"\n"):
                n += 1
        return n

    def test_one_stuck_reactor_stops_the_pings(self):
        srv = self.start_server(
            config={"reactors": REACTORS, "io_threads": 0, "metrics_listen": "127.0.0.1:0"},
            env={"LD_PRELOAD": SLOWFS, "SLOWFS_MARKER": "SLOW",
                 "SLOWFS_DELAY_MS": str(self.DELAY_MS), "NOTIFY_SOCKET": self.notify_path,
                 "WATCHDOG_USEC": str(self.WATCHDOG_MS * 1000)})
        self.assertGreater(self.pings(2.0 * SLOWDOWN), 0, "no WATCHDOG=1 at all")
        # The slow request goes on a connection reactor 1 took (reactor 0
        # stalled stops the pings trivially): connections are opened until
        # one lands there (up to 64: all on reactor 0 2 ** -64 of the time).
        landing = Landing(srv, srv.listeners[1][1])
        self.addCleanup(landing.close)
        for _ in range(64):
            sock = connect(srv.host, srv.port)
            self.addCleanup(sock.close)
            self.assertEqual(get_on(sock, "/a.txt"), 200)
            if landing.opened() == 1:
                break
        else:
            self.fail("the kernel never gave reactor 1 a connection")
        sock.sendall(build_request("GET", "/SLOW.bin", {"Connection": "close"}))
        wait_for(lambda: sleeping_thread(srv.pid) is not None, what="the stall")
        self.assertEqual(sleeping_thread(srv.pid), "coserve-r1", "stalled the wrong reactor")
        # One ping may still be under way; then none while it is stuck.
        self.pings(2 * self.WATCHDOG_MS / 2000)
        self.assertEqual(self.pings(1.0), 0, "pinged with reactor 1 stuck")
        self.assertEqual(sleeping_thread(srv.pid), "coserve-r1", "the stall ended early")
        # It comes back: the pings too.
        self.assertEqual(read_head(sock)[0], 200)
        self.assertGreater(self.pings(2.0 * SLOWDOWN), 0, "no WATCHDOG=1 after the stall")


if __name__ == "__main__":
    main()
