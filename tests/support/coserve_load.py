"""Load, abort and soak clients for coserve's load tests (test_load.py,
test_soak.py) and the long soak run (tests/soak/run).

Everything here is asyncio over 127.0.0.1, one thread: thousands of sockets
cost a file descriptor each and no thread. The daemon is watched from the
outside through /proc/PID (descriptor count, RSS) and its metrics path
(connections open), so a leak shows whatever its cause.

Python standard library only.
"""

import asyncio
import math
import os
import random
import re
import resource
import socket
import struct
import time

from coserve_test import SLOWDOWN

METRICS_PATH = "/metrics"
HOST = "127.0.0.1"

# The daemon is built with AddressSanitizer: its allocator keeps freed
# memory in a quarantine, so RSS after a burst says little about leaks
# (LeakSanitizer at exit says more). The quarantine is kept small for these
# tests so RSS stays comparable, and RSS margins are wider.
ASAN_QUARANTINE_MB = 16


def sanitized(binary):
    """Whether the daemon at binary is a sanitizer build (ASan or TSan),
    whose memory and time go by other rules."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def daemon_env(binary):
    """Extra environment for a load-tested daemon."""
    if not sanitized(binary):
        return None
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (opts + ":" if opts else "") +
            "quarantine_size_mb=%d" % ASAN_QUARANTINE_MB}


def raise_nofile(want):
    """Raises our soft RLIMIT_NOFILE to want (the hard limit too, when we
    may); returns the soft limit we have afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass  # not root: take what the hard limit allows
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def ephemeral_ports():
    """How many local ports connect() may pick from."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return hi - lo + 1
    except (OSError, ValueError):
        return 28232  # Linux's default range


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_targets(pid):
    """What the daemon's descriptors point at, with counts, for a failure
    message (sockets and pipes by kind)."""
    out = {}
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            target = re.sub(r":\[\d+\]$", "", os.readlink(os.path.join(d, name)))
        except OSError:
            continue
        out[target] = out.get(target, 0) + 1
    return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def make_files(root, sizes, seed):
    """Writes name -> random bytes of each size; returns name -> bytes."""
    rng = random.Random(seed)
    files = {}
    for name, size in sizes.items():
        data = rng.randbytes(size)
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
        files[name] = data
    return files


# --- one request, one response --------------------------------------------


class BadResponse(Exception):
    pass


def request_bytes(target, fields=(), method="GET", close=False):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: load"]
    lines += ["%s: %s" % kv for kv in fields]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(head):
    """(status, {lower-case name: value}) of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    m = re.fullmatch(r"HTTP/1\.[01] (\d{3}) .*", lines[0])
    if m is None:
        raise BadResponse("bad status line %r" % lines[0])
    fields = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    return int(m.group(1)), fields


async def read_response(reader, method="GET"):
    """(status, fields, body) of one response with a Content-Length."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        raise BadResponse("closed inside a head after %d bytes" % len(e.partial))
    except asyncio.LimitOverrunError:
        raise BadResponse("response head too long")
    status, fields = parse_head(head)
    if method == "HEAD" or status in (204, 304):
        return status, fields, b""
    if "content-length" not in fields:
        raise BadResponse("%d without Content-Length" % status)
    try:
        body = await reader.readexactly(int(fields["content-length"]))
    except asyncio.IncompleteReadError as e:
        raise BadResponse("closed after %d of %s body bytes"
                          % (len(e.partial), fields["content-length"]))
    return status, fields, body


def expect(files, name, rng_range=None):
    """(status, body, Content-Range) a GET of name with Range rng_range
    (first, last) inclusive, or None for the whole file, must give."""
    data = files[name]
    if rng_range is None:
        return 200, data, None
    first, last = rng_range
    last = min(last, len(data) - 1)
    return 206, data[first:last + 1], "bytes %d-%d/%d" % (first, last, len(data))


def check(files, name, rng_range, status, fields, body):
    want_status, want_body, want_cr = expect(files, name, rng_range)
    if status != want_status:
        raise BadResponse("/%s range %r: status %d, want %d" % (name, rng_range, status,
                                                                 want_status))
    if want_cr is not None and fields.get("content-range") != want_cr:
        raise BadResponse("/%s: Content-Range %r, want %r"
                          % (name, fields.get("content-range"), want_cr))
    if body != want_body:
        raise BadResponse("/%s range %r: %d body bytes differ from the file (%d)"
                          % (name, rng_range, len(body), len(want_body)))


def random_range(rng, size):
    """A Range for a file of size: None (whole), or (first, last) inclusive."""
    if size == 0 or rng.random() < 0.5:
        return None
    first = rng.randrange(size)
    return first, first + rng.randrange(size - first + 16)


def range_fields(rng_range):
    if rng_range is None:
        return ()
    return (("Range", "bytes=%d-%d" % rng_range),)


# --- sockets ----------------------------------------------------------------

LINGER_ZERO = struct.pack("ii", 1, 0)


async def connect(port, rcvbuf=None):
    """Opens a connection; a small rcvbuf makes the server wait on writes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
        return await asyncio.open_connection(sock=sock, limit=1 << 20)
    except BaseException:
        sock.close()
        raise


def reset(writer):
    """Closes with an RST, as a client that gives up does (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ZERO)
    except OSError:
        pass
    writer.transport.abort()


async def metrics(port):
    """The daemon's metrics as name (with labels) -> number."""
    reader, writer = await connect(port)
    try:
        writer.write(request_bytes(METRICS_PATH, close=True))
        status, _, body = await asyncio.wait_for(read_response(reader), 30)
    finally:
        writer.close()
    if status != 200:
        raise BadResponse("metrics: status %d" % status)
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def busy(port):
    """(connections open, coroutines alive), not counting the connection
    that asks and the coroutine answering it."""
    m = await metrics(port)
    return int(m["coserve_connections_open"]) - 1, int(m["coserve_coroutines"]) - 1


async def connections_open(port):
    return (await busy(port))[0]


async def settle(pid, port, want_fds=None, timeout=30.0 * SLOWDOWN):
    """Waits until no client connection is open and no coroutine alive
    and, when want_fds is given, the descriptor count is back to it;
    returns (connections, fds), or raises if a coroutine outlives every
    connection (stuck)."""
    deadline = time.monotonic() + timeout
    while True:
        # The daemon closes the metrics connection busy() used a moment
        # after answering (later still under valgrind): count descriptors
        # on both sides of a pause and trust only a count that held.
        before = fd_count(pid)
        conns, coros = await busy(port)
        await asyncio.sleep(0.1)
        fds = fd_count(pid)
        if (conns == 0 and coros == 0 and fds == before and
                (want_fds is None or fds == want_fds)):
            return conns, fds
        if time.monotonic() > deadline:
            if coros != 0:
                raise BadResponse("%d coroutines alive with %d connections open"
                                  % (coros, conns))
            return conns, fds
        await asyncio.sleep(0.1)


# --- aborted downloads --------------------------------------------------------


def abort_plan(rng, size):
    """One aborted download: how far it goes and how it ends."""
    kind = rng.choices(("mid_head", "unread", "body"), (15, 15, 70))[0]
    # A small receive buffer leaves the server waiting on a full socket
    # when the client goes; loopback TCP with it is slow, so it stops sooner.
    rcvbuf = 4096 if rng.random() < 0.25 else None
    return {
        "kind": kind,
        "range": random_range(rng, size) if rng.random() < 0.3 else None,
        # log-uniform: most stop early, some near the end
        "stop": int(math.exp(rng.uniform(0, math.log(
            (size if rcvbuf is None else min(size, 1 << 17)) + 400)))),
        "rst": rng.random() < 0.5,
        "rcvbuf": rcvbuf,
        "cut": rng.random(),
    }


async def aborted_download(port, files, name, plan):
    """Runs one plan; raises BadResponse if a byte read differs from the file."""
    reader, writer = await connect(port, plan["rcvbuf"])
    try:
        req = request_bytes("/" + name, range_fields(plan["range"]))
        if plan["kind"] == "mid_head":
            writer.write(req[:max(1, int(len(req) * plan["cut"]) - 1)])
            await writer.drain()
            return 0
        writer.write(req)
        await writer.drain()
        if plan["kind"] == "unread":
            return 0
        got = bytearray()
        stop, head_len = plan["stop"], None
        while len(got) < stop:
            chunk = await reader.read(min(65536, stop - len(got)))
            if not chunk:
                break
            got += chunk
            i = got.find(b"\r\n\r\n")
            if head_len is None and i >= 0:
                # Stop short of the end: an abort, not a whole response.
                head_len = i + 4
                _, fields = parse_head(bytes(got[:head_len]))
                stop = min(stop, head_len + int(fields.get("content-length", 1)) - 1)
        # Whatever arrived must be a correct prefix of the response.
        if head_len is not None:
            status, fields = parse_head(bytes(got[:head_len]))
            _, want, _ = expect(files, name, plan["range"])
            if status not in (200, 206) or bytes(got[head_len:]) != want[:len(got) - head_len]:
                raise BadResponse("aborted /%s: bytes read differ from the file" % name)
        elif not (b"HTTP/1.1 200 OK\r\n".startswith(bytes(got[:17])) or
                  b"HTTP/1.1 206 Partial Content\r\n".startswith(bytes(got[:30]))):
            raise BadResponse("aborted /%s: head starts %r" % (name, bytes(got[:40])))
        return len(got)
    finally:
        if plan["rst"]:
            reset(writer)
        else:
            writer.close()


async def aborted_downloads(port, files, name, count, concurrency, rng):
    """count aborted downloads of name, concurrency at a time; returns
    (bytes read, errors as strings)."""
    plans = [abort_plan(rng, len(files[name])) for _ in range(count)]
    errors, total = [], 0
    it = iter(plans)

    async def worker():
        nonlocal total
        for plan in it:
            try:
                n = await asyncio.wait_for(aborted_download(port, files, name, plan), 60)
                total += n
            except (BadResponse, OSError, asyncio.TimeoutError) as e:
                errors.append("%s: %r" % (plan["kind"], e))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total, errors


# --- the soak -------------------------------------------------------------------

SOAK_FILES = {"empty.txt": 0, "small.txt": 1000, "mid.bin": 100 * 1024,
              "big.bin": 2 * 1024 * 1024,
              # for stalled readers only: more than socket buffers hold
              "huge.bin": 32 * 1024 * 1024}

# Seconds for an idle daemon's RSS to settle after a load: two of the
# reactors' one-second stack trims, and some.
IDLE_TRIM_S = 5.0

# The daemon's settings for a soak: short head and send deadlines so that
# tricklers and stalled readers meet them within a short run.
SOAK_CONFIG = {"metrics_path": METRICS_PATH, "header_timeout_ms": 4000,
               "keepalive_timeout_ms": 15000, "send_timeout_ms": 6000}


def _head(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# Malformed requests and the statuses they may get (the connection closes
# after most; a new one is opened for each).
MALFORMED = [
    (_head("BREW /small.txt HTTP/1.1", "Host: t"), {501}),
    (_head("GET /small.txt HTTP/2.0", "Host: t"), {505}),
    (_head("GET /small.txt HTTP/1.1"), {400}),
    (_head("GET /small.txt HTTP/1.1", "Host: a", "Host: b"), {400}),
    (_head("GET /" + "a" * 9000 + " HTTP/1.1", "Host: t"), {414}),
    (_head("GET /small.txt HTTP/1.1", "Host: t",
           *["X-Big-%d: %s" % (i, "b" * 1000) for i in range(17)]), {431}),
    (_head("GET /small.txt HTTP/1.1", "Host: t", "X(y): z"), {400}),
    (_head("GET /small.txt HTTP/1.1", "Host: t", " folded"), {400}),
    (_head("GET /small.txt HTTP/1.1", "Host: t", "Content-Length: -1"), {400}),
    (_head("GET /small.txt HTTP/1.1", "Host: t", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
     {400, 501}),
    (_head("GET /../../etc/passwd HTTP/1.1", "Host: t"), {400, 403, 404}),
    (_head("GET /small.txt%00 HTTP/1.1", "Host: t"), {400, 404}),
    (_head("GET /small.txt HTTP/1.1", "Host: t", "Range: bytes=9999999-"), {416}),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)) + b"\r\n\r\n", {400}),
]


class Soak:
    """A mixed load against one daemon: normal keep-alive clients that
    check every byte (whole files and ranges, pipelined pairs, HEAD), slow
    readers (some stalled past send_timeout_ms), tricklers sending a head a
    byte at a time (some never finishing it: 408), aborting clients and
    malformed requests. Counts what happened; any wrong byte or failure a
    normal client sees is an error."""

    def __init__(self, port, files, seed, clients=None):
        self.port = port
        self.files = files
        self.rng = random.Random(seed)
        self.clients = clients or {"normal": 8, "slow_reader": 4, "trickler": 4,
                                   "aborter": 4, "malformed": 2}
        self.counts = {}
        self.errors = []
        self.end = 0.0

    def count(self, what, n=1):
        self.counts[what] = self.counts.get(what, 0) + n

    def error(self, what):
        self.count("errors")
        if len(self.errors) < 50:
            self.errors.append(what)

    def running(self):
        return time.monotonic() < self.end

    async def run(self, seconds):
        self.end = time.monotonic() + seconds
        tasks = [asyncio.ensure_future(getattr(self, kind)(random.Random(self.rng.random())))
                 for kind, n in self.clients.items() for _ in range(n)]
        # Every client's operations are bounded (deadlines of seconds);
        # past this something is stuck, which is itself an error.
        done, pending = await asyncio.wait(tasks, timeout=seconds + 30)
        for t in pending:
            self.error("a client still busy 30 s after the end")
            t.cancel()
        for t in done:
            if t.exception() is not None:
                self.error("client crashed: %r" % t.exception())

    async def normal(self, rng):
        names = sorted(n for n in self.files if n != "huge.bin")
        while self.running():
            try:
                reader, writer = await connect(self.port)
            except OSError as e:
                self.error("normal: connect: %r" % e)
                continue
            try:
                for _ in range(rng.randrange(1, 200)):
                    if not self.running():
                        break
                    batch = []
                    for _ in range(2 if rng.random() < 0.2 else 1):  # pipelined pairs
                        name = rng.choice(names)
                        method = "HEAD" if rng.random() < 0.1 else "GET"
                        # Range is defined for GET only (RFC 9110 14.2).
                        r = None if method == "HEAD" else \
                            random_range(rng, len(self.files[name]))
                        batch.append((name, method, r))
                        writer.write(request_bytes("/" + name, range_fields(r), method))
                    for name, method, r in batch:
                        status, fields, body = await asyncio.wait_for(
                            read_response(reader, method), 30)
                        if method == "HEAD":
                            want_status, want_body, _ = expect(self.files, name, r)
                            if status != want_status or \
                                    int(fields.get("content-length", -1)) != len(want_body):
                                raise BadResponse("HEAD /%s: %d %r" % (name, status, fields))
                        else:
                            check(self.files, name, r, status, fields, body)
                            self.count("normal_body_bytes", len(body))
                        self.count("normal_requests")
            except (BadResponse, OSError, asyncio.TimeoutError) as e:
                self.error("normal: %r" % e)
            finally:
                writer.close()

    async def slow_reader(self, rng):
        while self.running():
            stall = rng.random() < 0.15
            name = "huge.bin" if stall else rng.choice(("mid.bin", "big.bin"))
            r = None if stall else random_range(rng, len(self.files[name]))
            try:
                reader, writer = await connect(self.port, rcvbuf=4096)
            except OSError as e:
                self.error("slow reader: connect: %r" % e)
                continue
            try:
                writer.write(request_bytes("/" + name, range_fields(r)))
                status, fields = parse_head(await asyncio.wait_for(
                    reader.readuntil(b"\r\n\r\n"), 30))
                _, want, _ = expect(self.files, name, r)
                got = bytearray()
                if stall:
                    # Past send_timeout_ms: the server gives up on us (its
                    # descriptor and memory are checked at the end). What
                    # it had queued still arrives, slowly through a 4 KiB
                    # window: a little is read and checked.
                    await asyncio.sleep(SOAK_CONFIG["send_timeout_ms"] / 1000 + 2)
                    until = time.monotonic() + 1
                    while time.monotonic() < until and \
                            (chunk := await asyncio.wait_for(reader.read(65536), 30)):
                        got += chunk
                    if got != want[:len(got)]:
                        raise BadResponse("stalled reader: wrong bytes")
                    self.count("slow_stalled")
                    continue
                until = time.monotonic() + rng.uniform(0.3, 3)
                while len(got) < len(want) and time.monotonic() < until:
                    got += await asyncio.wait_for(reader.read(4096), 30)
                    await asyncio.sleep(rng.uniform(0.005, 0.03))
                if got != want[:len(got)] or status != (200 if r is None else 206):
                    raise BadResponse("slow reader /%s: wrong bytes" % name)
                self.count("slow_complete" if len(got) == len(want) else "slow_gave_up")
            except (BadResponse, OSError, asyncio.TimeoutError,
                    asyncio.IncompleteReadError) as e:
                self.error("slow reader: %r" % e)
            finally:
                reset(writer) if rng.random() < 0.5 else writer.close()

    async def trickler(self, rng):
        deadline_s = SOAK_CONFIG["header_timeout_ms"] / 1000
        while self.running():
            name = rng.choice(("small.txt", "mid.bin"))
            req = request_bytes("/" + name)
            forever = rng.random() < 0.25
            gap = (deadline_s * 0.5) / len(req)  # finishes within the deadline
            try:
                reader, writer = await connect(self.port)
            except OSError as e:
                self.error("trickler: connect: %r" % e)
                continue
            try:
                if forever:
                    # Never finishes: 408 when the head's deadline passes.
                    # Writing stops before it, so no byte meets a closed
                    # socket and turns the answer into a reset.
                    quiet = time.monotonic() + deadline_s - 0.5
                    for b in req[:-2]:
                        if time.monotonic() > quiet:
                            break
                        writer.write(bytes([b]))
                        await asyncio.sleep(deadline_s * 2 / len(req))
                    status, _, _ = await asyncio.wait_for(read_response(reader), 30)
                    if status != 408:
                        raise BadResponse("trickler: %d, want 408" % status)
                    self.count("trickler_408")
                else:
                    # On a schedule, so a busy event loop cannot stretch it.
                    t0 = time.monotonic()
                    for i, b in enumerate(req):
                        writer.write(bytes([b]))
                        await asyncio.sleep(max(0, t0 + (i + 1) * gap - time.monotonic()))
                    check(self.files, name, None,
                          *await asyncio.wait_for(read_response(reader), 30))
                    self.count("trickler_served")
            except (BadResponse, OSError, asyncio.TimeoutError) as e:
                self.error("trickler: %r" % e)
            finally:
                writer.close()

    async def aborter(self, rng):
        while self.running():
            plan = abort_plan(rng, len(self.files["big.bin"]))
            try:
                await asyncio.wait_for(aborted_download(self.port, self.files, "big.bin",
                                                        plan), 30)
                self.count("aborted")
            except (BadResponse, OSError, asyncio.TimeoutError) as e:
                self.error("aborter: %r" % e)

    async def malformed(self, rng):
        while self.running():
            if rng.random() < 0.3:
                raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
                raw = raw.replace(b"\r\n\r\n", b"") + b"\r\n\r\n"
                statuses = set(range(400, 600))
            else:
                raw, statuses = rng.choice(MALFORMED)
            try:
                reader, writer = await connect(self.port)
            except OSError as e:
                self.error("malformed: connect: %r" % e)
                continue
            try:
                writer.write(raw)
                status, _, _ = await asyncio.wait_for(read_response(reader), 30)
                if status not in statuses:
                    raise BadResponse("malformed %r: %d" % (raw[:40], status))
                self.count("malformed_answered")
            except (BadResponse, OSError, asyncio.TimeoutError) as e:
                self.error("malformed %r: %r" % (raw[:40], e))
            finally:
                writer.close()
            await asyncio.sleep(0.01)


async def sample(pid, port):
    return {"t": time.monotonic(), "rss_kib": rss_kib(pid), "fds": fd_count(pid),
            "connections": await connections_open(port)}


async def soak(pid, port, files, seconds, seed, rss_margin_kib, out=print):
    """Warm-up, then seconds of mixed load, sampled every second. Start and
    end are taken idle (no client connected), after the warm-up and after
    the load. Flat means: the same descriptor count at the end as at the
    start, and RSS at most rss_margin_kib above it. Returns the report."""
    warm = max(2.0, min(10.0, seconds / 10))
    w = Soak(port, files, seed ^ 1)
    await w.run(warm)
    if w.errors:
        for e in w.errors[:20]:
            out("soak: warm-up error: " + e)
        out("soak: FAIL")
        return {"ok": False, "errors": w.errors, "counts": w.counts, "phase": "warm-up"}
    # Every file on 32 connections, so that every reactor's open-file
    # cache (the kernel spreads connections over them; all but surely some
    # land on each) holds each at the start as it will at the end.
    names = sorted(files)
    for _ in range(32):
        reader, writer = await connect(port)
        for i, name in enumerate(names):
            writer.write(request_bytes("/" + name, (("Range", "bytes=0-0"),),
                                       close=i == len(names) - 1))
            await asyncio.wait_for(read_response(reader), 30)
        writer.close()
    await settle(pid, port)
    start = await sample(pid, port)
    start_fds = fd_targets(pid)
    out("soak: start (idle, after %.0f s warm-up): rss %.1f MiB, %d fds"
        % (warm, start["rss_kib"] / 1024, start["fds"]))
    s = Soak(port, files, seed)
    samples = []

    async def sampler():
        t0 = time.monotonic()
        while s.running():
            await asyncio.sleep(1)
            smp = await sample(pid, port)
            samples.append(smp)
            if out is not None and len(samples) % 30 == 0:
                out("soak: %4.0f s: rss %.1f MiB, %d fds, %d connections, %d requests"
                    % (smp["t"] - t0, smp["rss_kib"] / 1024, smp["fds"],
                       smp["connections"], s.counts.get("normal_requests", 0)))

    t0 = time.monotonic()
    await asyncio.gather(s.run(seconds), sampler())
    elapsed = time.monotonic() - t0
    conns, fds = await settle(pid, port, start["fds"])
    end = await sample(pid, port)
    # The load's coroutine stacks stay pooled with the pages they touched
    # until a second passes without their being lent (coro_pool_trim, every
    # second): idle RSS is what is left a few seconds after the load.
    deadline = time.monotonic() + IDLE_TRIM_S * SLOWDOWN
    while (end["rss_kib"] - start["rss_kib"] > rss_margin_kib and
           time.monotonic() < deadline):
        await asyncio.sleep(0.25)
        end = await sample(pid, port)
    report = {
        "seconds": elapsed, "counts": s.counts, "errors": s.errors, "start": start,
        "end": end, "rss_max_kib": max([x["rss_kib"] for x in samples] or [0]),
        "fds_max": max([x["fds"] for x in samples] or [0]),
        "connections_max": max([x["connections"] for x in samples] or [0]),
        "rss_margin_kib": rss_margin_kib,
    }
    report["ok"] = (not s.errors and s.counts.get("normal_requests", 0) > 0 and
                    conns == 0 and end["fds"] == start["fds"] and
                    end["rss_kib"] - start["rss_kib"] <= rss_margin_kib)
    out("soak: %.0f s of load; end (idle): rss %.1f MiB (%+d KiB, margin %d), %d fds "
        "(start %d); during: rss max %.1f MiB, fds max %d, connections max %d"
        % (elapsed, end["rss_kib"] / 1024, end["rss_kib"] - start["rss_kib"], rss_margin_kib,
           end["fds"], start["fds"], report["rss_max_kib"] / 1024, report["fds_max"],
           report["connections_max"]))
    out("soak: counts: " + ", ".join("%s %d" % kv for kv in sorted(s.counts.items())))
    if end["fds"] != start["fds"]:
        out("soak: descriptors at the start: %r" % start_fds)
        out("soak: descriptors at the end: %r" % fd_targets(pid))
    for e in s.errors[:20]:
        out("soak: error: " + e)
    out("soak: %s" % ("PASS" if report["ok"] else "FAIL"))
    return report
