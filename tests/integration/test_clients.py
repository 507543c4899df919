"""Real clients against the real daemon: curl (ranges, conditionals,
--compressed), wget --mirror of the sample site, an aria2c segmented download,
Python's http.client on one keep-alive connection, and a headless Chromium
that loads the sample media page and seeks its video; the sample site
again over HTTPS, for wget and Chromium.

Each class runs one daemon with an access log in a temp dir; tests give their
client a unique User-Agent and read back the lines it left there, so what the
client says can be checked against what the server did. A test whose client
is not installed is skipped and says which Debian package to install
(./bootstrap installs them all)."""

import base64
import email.utils
import gzip
import hashlib
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from coserve_test import WAIT_S, ServerTestCase, file_sha256, main, write_file

MiB = 1 << 20

HERE = os.path.dirname(os.path.abspath(__file__))
WWW = os.path.normpath(os.path.join(HERE, "..", "..", "www"))

CLIENT_TIMEOUT_S = 60  # any one client run
LOG_TIMEOUT_S = WAIT_S  # the access log is flushed at least once a second
CHROMIUM_TIMEOUT_S = 45  # from exec to the page's report

# Sidecars are for the server's eyes: no page links them, so a mirror
# cannot find them.
SIDECAR_SUFFIXES = (".gz", ".br", ".zst")

# program -> the Debian package that provides it.
PACKAGES = {
    "curl": "curl",
    "wget": "wget",
    "aria2c": "aria2",
    "chromium": "chromium",
    "openssl": "openssl",
}

# The media page's requests from Chromium: (target, allowed statuses, the
# www/ file whose size the logged body must have). The video is checked
# apart: its responses may be cut short by the browser.
CHROMIUM_PAGE_FILES = [
    ("/media.html?selftest", {200}, "media.html"),
    ("/style.css", {200}, "style.css"),
    ("/media.js", {200}, "media.js"),
    ("/banner.png", {200}, "banner.png"),
]
# What the page's script must report (media.js, selftest mode).
CHROMIUM_REPORT_OK = ("js", "css", "img", "range", "seek")

# Files of the download root: name -> bytes.
RANGE_DATA = os.urandom(10000)
SMALL_FILES = {
    "page.html": b"<!doctype html><title>page</title><p>a page\n",
    "data.json": b'{"coserve": true, "n": 42}\n',
    "notes.txt": b"some notes\n" * 50,
    "range.bin": RANGE_DATA,
}
COMPRESSIBLE = b"".join(b"line %05d: coserve serves static files\n" % i for i in range(2000))
BIG_NAME = "big.bin"
BIG_SIZE = 48 * MiB
OLD_MTIME = 1577836800  # 2020-01-01: Last-Modified safely in the past

# curl --range value -> the slice of RANGE_DATA it must return with a 206.
CURL_RANGES = [
    ("0-99", slice(0, 100)),
    ("100-199", slice(100, 200)),
    ("9990-", slice(9990, 10000)),
    ("-25", slice(9975, 10000)),
    ("0-0", slice(0, 1)),
    ("5000-99999", slice(5000, 10000)),
]

# http.client, all on one connection: (method, target, request headers,
# status, body (None: none may come), response fields that must be present).
# "{etag}" and "{lm}" are filled in from a first GET of page.html.
PYTHON_REQUESTS = [
    ("GET", "/page.html", {}, 200, SMALL_FILES["page.html"], {}),
    ("GET", "/data.json", {}, 200, SMALL_FILES["data.json"], {}),
    ("HEAD", "/notes.txt", {}, 200, None, {}),
    ("GET", "/notes.txt", {}, 200, SMALL_FILES["notes.txt"], {}),
    ("GET", "/page.html", {"If-None-Match": "{etag}"}, 304, None, {"ETag": "{etag}"}),
    ("GET", "/page.html", {"If-Modified-Since": "{lm}"}, 304, None, {"ETag": "{etag}"}),
    ("GET", "/range.bin", {"Range": "bytes=10-19"}, 206, RANGE_DATA[10:20],
     {"Content-Range": "bytes 10-19/10000"}),
    ("GET", "/range.bin", {"Range": "bytes=-5"}, 206, RANGE_DATA[-5:],
     {"Content-Range": "bytes 9995-9999/10000"}),
    ("HEAD", "/range.bin", {}, 200, None, {"Accept-Ranges": "bytes"}),
    ("GET", "/missing.txt", {}, 404, None, {}),
    ("GET", "/range.bin", {}, 200, RANGE_DATA, {"Accept-Ranges": "bytes"}),
]
# Fields a HEAD must answer exactly as the GET of the same file.
HEAD_FIELDS = ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges")


def need(program):
    """Skips the calling test unless program is on PATH; returns its path."""
    path = shutil.which(program)
    if path is None:
        raise unittest.SkipTest("%s is not installed (Debian package %s; ./bootstrap "
                                "installs it)" % (program, PACKAGES.get(program, program)))
    return path


def unique_agent(name):
    return "coserve-test-%s-%s" % (name, os.urandom(4).hex())


def client_env():
    """Our environment without proxies: every client talks to 127.0.0.1."""
    env = dict(os.environ)
    for k in list(env):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"):
            del env[k]
    return env


def run_client(args, timeout=CLIENT_TIMEOUT_S):
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, env=client_env())


def tail(data, n=3000):
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data[-n:]


def tree_files(top, skip_suffixes=()):
    """Relative paths of the regular files beneath top, sorted."""
    found = []
    for dirpath, _, names in os.walk(top):
        for name in names:
            if name.endswith(skip_suffixes):
                continue
            found.append(os.path.relpath(os.path.join(dirpath, name), top))
    return sorted(found)


def parse_headers_dump(path):
    """The last response's fields in a curl -D file: lower-case name -> value."""
    with open(path, "rb") as f:
        text = f.read().decode("latin-1")
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    fields = {}
    for line in blocks[-1].split("\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    return fields


# --- the access log ---------------------------------------------------------

LOG_RE = re.compile(
    r'^(?P<peer>\S+) - - \[[^\]]*\] "(?P<method>\S+) (?P<target>\S+) '
    r'HTTP/(?P<version>1\.\d|2\.0)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$')


class LogEntry:
    def __init__(self, m):
        self.method = m.group("method")
        self.target = m.group("target")
        self.status = int(m.group("status"))
        self.bytes = int(m.group("bytes"))
        self.agent = m.group("agent")
        self.version = m.group("version")

    @property
    def path(self):
        return self.target.split("?", 1)[0]

    def __repr__(self):
        return "<%s %s %d %dB>" % (self.method, self.target, self.status, self.bytes)


class AccessLog:
    """The daemon's combined-format access log, read back by the tests."""

    def __init__(self, path):
        self.path = path

    def entries(self, agent=None):
        try:
            with open(self.path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            m = LOG_RE.match(line)
            if m is None:
                raise AssertionError("access log line not in the combined format: %r" % line)
            entry = LogEntry(m)
            if agent is None or entry.agent == agent:
                out.append(entry)
        return out

    def wait_for(self, agent, done, timeout=LOG_TIMEOUT_S, abort=None):
        """Polls the log until done(entries of agent) holds and returns them.
        The writer thread flushes on its own schedule (at least once a
        second), so there is nothing to wait on but the file itself. abort()
        returning a message ends the wait early with that failure."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.entries(agent)
            if done(entries):
                return entries
            if abort is not None:
                why = abort()
                if why:
                    raise AssertionError("%s; access log so far: %r" % (why, entries))
            if time.monotonic() > deadline:
                raise AssertionError("access log did not show the expected requests within "
                                     "%.0f s; got %r" % (timeout, entries))
            time.sleep(0.05)

    def wait_count(self, agent, n, timeout=LOG_TIMEOUT_S):
        return self.wait_for(agent, lambda es: len(es) >= n, timeout)


class ClientTestCase(ServerTestCase):
    """A ServerTestCase whose daemon writes an access log the tests read."""

    @classmethod
    def server_options(cls):
        cls.access_log = AccessLog(os.path.join(cls.tmp, "access.log"))
        options = super().server_options()
        options["config"]["access_log"] = cls.access_log.path
        return options

    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="coserve-out-")
        self.addCleanup(shutil.rmtree, self.scratch, True)


# --- the sample site: wget --mirror and Chromium ------------------------------


class SampleSiteTest(ClientTestCase):
    """Serves a copy of the bundled www/."""

    def site_url(self, path):
        return self.server.url(path)

    # Extra arguments that make each client trust the server: none here.
    wget_trust = ()
    chromium_trust = ()
    # The protocol Chromium speaks to it: HTTP/2 needs TLS (ALPN h2).
    chromium_version = "1.1"

    @classmethod
    def make_root(cls, root):
        # File by file, not copytree: www/ may be read-only (make distcheck)
        # and the copy must stay removable.
        for rel in tree_files(WWW):
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            shutil.copyfile(os.path.join(WWW, rel), os.path.join(root, rel))

    def test_wget_mirror(self):
        need("wget")
        agent = unique_agent("wget")
        p = run_client(["wget", "--mirror", "--no-parent", "--no-host-directories",
                        "-e", "robots=off", "--no-proxy", "--tries=1", "--timeout=20",
                        "--user-agent", agent, "--directory-prefix", self.scratch]
                       + list(self.wget_trust) + [self.site_url("/")])
        # Non-zero also means a broken link somewhere in the sample site.
        self.assertEqual(p.returncode, 0, "wget failed:\n" + tail(p.stderr))
        expected = tree_files(WWW, SIDECAR_SUFFIXES)
        self.assertEqual(tree_files(self.scratch), expected,
                         "the mirror should hold every file of www/ (is a new file "
                         "linked from a page?)")
        for name in expected:
            with self.subTest(name):
                self.assertEqual(file_sha256(os.path.join(self.scratch, name)),
                                 file_sha256(os.path.join(WWW, name)))
        entries = self.access_log.wait_count(agent, len(expected))
        self.assertEqual([e for e in entries if e.status != 200], [])

    def test_chromium_media_page(self):
        browser = need("chromium")
        agent = unique_agent("chromium")
        profile = os.path.join(self.scratch, "profile")
        os.mkdir(profile)
        err_path = os.path.join(self.scratch, "chromium.err")
        args = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--mute-audio",
                "--no-proxy-server", "--user-data-dir=" + profile, "--user-agent=" + agent]
        args += list(self.chromium_trust) + [self.site_url("/media.html?selftest")]
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    env=client_env(), start_new_session=True)
        try:
            def exited():
                if proc.poll() is not None:
                    with open(err_path, "rb") as f:
                        return "chromium exited %d early:\n%s" % (proc.returncode,
                                                                   tail(f.read()))
                return None
            self.access_log.wait_for(
                agent, lambda es: any(e.path == "/report" for e in es),
                timeout=CHROMIUM_TIMEOUT_S, abort=exited)
        finally:
            kill_browser(proc, profile)
        # A response is logged when it ends: a video response the browser
        # was still holding open ends when the browser goes.
        wanted = [t for t, _, _ in CHROMIUM_PAGE_FILES] + ["/clip.webm",
                                                           "/clip.webm?range-probe"]
        entries = self.access_log.wait_for(
            agent, lambda es: set(wanted) <= {e.target for e in es})

        report = next(e for e in entries if e.path == "/report")
        result = dict(urllib.parse.parse_qsl(report.target.split("?", 1)[1]))
        self.assertNotIn("timeout", result, "the page's self-test timed out: %r" % result)
        for key in CHROMIUM_REPORT_OK:
            self.assertEqual(result.get(key), "ok", "%s: %r" % (key, result))
        # Only a server that honours Range lets the whole clip be seekable.
        start, end = (float(x) for x in result["seekable"].split(","))
        self.assertEqual(start, 0.0, result)
        self.assertGreater(end, 7.5, result)

        for target, statuses, name in CHROMIUM_PAGE_FILES:
            with self.subTest(target):
                hits = [e for e in entries if e.target == target]
                self.assertTrue(hits, "%s never requested: %r" % (target, entries))
                for e in hits:
                    self.assertIn(e.status, statuses, e)
                    self.assertEqual(e.bytes, os.path.getsize(os.path.join(WWW, name)), e)
        video = [e for e in entries if e.target == "/clip.webm"]
        self.assertTrue(video, "the video was never requested: %r" % entries)
        # 304: Chromium may revalidate the part it holds (If-None-Match with
        # its Range), as it did once under ThreadSanitizer.
        self.assertEqual([e for e in video if e.status not in (200, 206, 304)], [], video)
        # Chromium asks for media with Range: bytes=0-; a 206 is what tells
        # it seeking works (against a server without ranges the seek fails).
        self.assertTrue(any(e.status == 206 for e in video),
                        "no video request was answered 206: %r" % video)
        probe = [e for e in entries if e.target == "/clip.webm?range-probe"]
        self.assertEqual([(e.status, e.bytes) for e in probe], [(206, 1000)], probe)
        self.assertEqual({e.version for e in entries}, {self.chromium_version}, entries)


class SampleSiteTLSTest(SampleSiteTest):
    """The same over HTTPS: a TLS listener with a certificate made here for
    127.0.0.1, which wget trusts as its CA and Chromium by the hash of its
    key (--ignore-certificate-errors-spki-list), as the issue asks. Chromium
    gets HTTP/2 by ALPN, wget HTTP/1.1."""

    chromium_version = "2.0"

    @classmethod
    def server_options(cls):
        options = super().server_options()
        d = os.path.join(cls.tmp, "tls")
        os.mkdir(d)
        cls.cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cls.cert, "-days", "30",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
        os.chmod(key, 0o600)
        pub = openssl("x509", "-in", cls.cert, "-noout", "-pubkey")
        der = openssl("pkey", "-pubin", "-outform", "DER", stdin=pub)
        cls.spki = base64.b64encode(hashlib.sha256(der).digest()).decode()
        options["config"].update({"listen": ["127.0.0.1:0 tls"], "h2": True,
                                  "tls_certificate": cls.cert,
                                  "tls_certificate_key": key})
        return options

    def site_url(self, path):
        return self.server.url(path).replace("http://", "https://", 1)

    @property
    def wget_trust(self):
        return ("--ca-certificate=" + self.cert,)

    @property
    def chromium_trust(self):
        return ("--ignore-certificate-errors-spki-list=" + self.spki,)


def openssl(*args, stdin=None):
    """openssl's standard output; raises if it fails."""
    need("openssl")
    return subprocess.run(["openssl"] + list(args), input=stdin, capture_output=True,
                          check=True, timeout=CLIENT_TIMEOUT_S).stdout


def kill_browser(proc, profile):
    """Kills the browser we started: its process group, then any process of
    ours still running with our private profile directory (a zygote that
    left the group), each by its pid."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    marker = ("--user-data-dir=" + profile).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker in f.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


# --- downloads: aria2c, curl, http.client ---------------------------------------


class DownloadTest(ClientTestCase):
    big_sha256 = None

    @classmethod
    def make_root(cls, root):
        for name, data in SMALL_FILES.items():
            write_file(os.path.join(root, name), data)
            os.utime(os.path.join(root, name), (OLD_MTIME, OLD_MTIME))
        write_file(os.path.join(root, "comp.txt"), COMPRESSIBLE)
        write_file(os.path.join(root, "comp.txt.gz"), gzip.compress(COMPRESSIBLE, 9))
        write_file(os.path.join(root, "etag.txt"), b"first version\n")
        h = hashlib.sha256()
        with open(os.path.join(root, BIG_NAME), "wb") as f:
            for _ in range(BIG_SIZE // (4 * MiB)):
                chunk = os.urandom(4 * MiB)
                f.write(chunk)
                h.update(chunk)
        cls.big_sha256 = h.hexdigest()

    # aria2c

    def test_aria2c_segmented_download(self):
        need("aria2c")
        agent = unique_agent("aria2c")
        p = run_client(["aria2c", "--no-conf", "-x8", "-s8", "-k1M", "--dir", self.scratch,
                        "--out", BIG_NAME, "--allow-overwrite=true",
                        "--auto-file-renaming=false", "--file-allocation=none",
                        "--console-log-level=warn", "--summary-interval=0",
                        "--download-result=hide", "--max-tries=1", "--timeout=20",
                        "--connect-timeout=10", "--all-proxy=", "--user-agent", agent,
                        self.server.url("/" + BIG_NAME)])
        self.assertEqual(p.returncode, 0, "aria2c failed:\n" + tail(p.stdout + p.stderr))
        self.assertEqual(os.listdir(self.scratch), [BIG_NAME])  # no .aria2 control file
        out = os.path.join(self.scratch, BIG_NAME)
        self.assertEqual(os.path.getsize(out), BIG_SIZE)
        self.assertEqual(file_sha256(out), self.big_sha256)
        # aria2c cuts 8 segments and opens a connection for each: all but
        # the first ask for a range. Its connections may close before
        # their log lines are flushed, so wait for at least three 206s.
        entries = self.access_log.wait_for(
            agent, lambda es: sum(e.status == 206 for e in es) >= 3)
        self.assertEqual([e for e in entries if e.status not in (200, 206)], [])
        print("\naria2c: %d requests, %d answered 206" % (
            len(entries), sum(e.status == 206 for e in entries)))

    # curl

    def curl(self, target, *extra):
        """Runs curl on target; returns (status, body, response fields)."""
        need("curl")
        body_path = os.path.join(self.scratch, "body")
        head_path = os.path.join(self.scratch, "head")
        for path in (body_path, head_path):
            if os.path.exists(path):
                os.unlink(path)
        p = run_client(["curl", "--silent", "--show-error", "--noproxy", "*",
                        "--max-time", "30", "-o", body_path, "-D", head_path,
                        "-w", "%{http_code}"] + list(extra) + [self.server.url(target)])
        self.assertEqual(p.returncode, 0, "curl failed:\n" + tail(p.stderr))
        body = b""
        if os.path.exists(body_path):
            with open(body_path, "rb") as f:
                body = f.read()
        return int(p.stdout), body, parse_headers_dump(head_path)

    def test_curl_ranges(self):
        need("curl")  # here, not in a subtest: each would count as a skipped test
        for spec, part in CURL_RANGES:
            with self.subTest(spec):
                status, body, fields = self.curl("/range.bin", "--range", spec)
                self.assertEqual(status, 206)
                self.assertEqual(body, RANGE_DATA[part])
                first, last = part.start, part.stop - 1
                self.assertEqual(fields.get("content-range"),
                                 "bytes %d-%d/%d" % (first, last, len(RANGE_DATA)))

    def test_curl_etag_compare(self):
        etag_file = os.path.join(self.scratch, "etag")
        status, body, fields = self.curl("/etag.txt", "--etag-save", etag_file)
        self.assertEqual((status, body), (200, b"first version\n"))
        with open(etag_file) as f:
            self.assertEqual(f.read().strip(), fields["etag"])
        status, body, _ = self.curl("/etag.txt", "--etag-compare", etag_file)
        self.assertEqual((status, body), (304, b""))
        # A changed file has a new ETag: the saved one no longer matches.
        path = os.path.join(self.root, "etag.txt")
        write_file(path, b"second, longer version\n")
        later = os.stat(path).st_mtime + 5
        os.utime(path, (later, later))
        status, body, fields2 = self.curl("/etag.txt", "--etag-compare", etag_file)
        self.assertEqual((status, body), (200, b"second, longer version\n"))
        self.assertNotEqual(fields2["etag"], fields["etag"])

    def test_curl_time_condition(self):
        status, body, fields = self.curl("/page.html")
        self.assertEqual(status, 200)
        last_modified = fields["last-modified"]
        self.assertEqual(email.utils.parsedate_to_datetime(last_modified).timestamp(),
                         OLD_MTIME)
        # -z DATE sends If-Modified-Since: DATE.
        status, body, _ = self.curl("/page.html", "-z", last_modified)
        self.assertEqual((status, body), (304, b""))
        status, body, _ = self.curl("/page.html", "-z", "Sat, 01 Jan 2000 00:00:00 GMT")
        self.assertEqual((status, body), (200, SMALL_FILES["page.html"]))

    def test_curl_identity_without_compressed(self):
        # comp.txt.gz exists, but a client that asks for no encoding gets none.
        status, body, fields = self.curl("/comp.txt")
        self.assertEqual(status, 200)
        self.assertNotIn("content-encoding", fields)
        self.assertEqual(body, COMPRESSIBLE)

    def test_curl_compressed(self):
        status, body, fields = self.curl("/comp.txt", "--compressed")
        self.assertEqual(status, 200)
        if body != COMPRESSIBLE and body[:2] == b"\x1f\x8b":
            self.fail("gzip bytes sent without a Content-Encoding the client can "
                      "decode: %r" % fields)
        self.assertEqual(body, COMPRESSIBLE, "curl --compressed got a wrong body: %r" % fields)
        # comp.txt.gz is beside comp.txt and sidecars are on by default.
        encoding = fields.get("content-encoding")
        self.assertEqual(encoding, "gzip", fields)
        self.assertEqual(int(fields["content-length"]),
                         os.path.getsize(os.path.join(self.root, "comp.txt.gz")))
        vary = [t.strip().lower() for t in fields.get("vary", "").split(",")]
        self.assertIn("accept-encoding", vary, fields)
        _, _, identity = self.curl("/comp.txt")
        self.assertNotEqual(fields.get("etag"), identity.get("etag"))

    # Python's http.client

    def test_python_http_client_keepalive(self):
        agent = unique_agent("python")
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
        self.addCleanup(conn.close)
        conn.request("GET", "/page.html", headers={"User-Agent": agent})
        first = conn.getresponse()
        self.assertEqual(first.read(), SMALL_FILES["page.html"])
        sock = conn.sock
        self.assertIsNotNone(sock, "the server closed after the first response")
        fill = {"etag": first.getheader("ETag"), "lm": first.getheader("Last-Modified")}
        heads, gets = {}, {}  # target -> HEAD_FIELDS of its 200 answer
        for method, target, headers, status, body, expect in PYTHON_REQUESTS:
            with self.subTest("%s %s %r" % (method, target, headers)):
                hdrs = {k: v.format(**fill) for k, v in headers.items()}
                hdrs["User-Agent"] = agent
                conn.request(method, target, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
                self.assertEqual(r.status, status)
                self.assertIs(conn.sock, sock, "not the same connection: keep-alive broke")
                self.assertFalse(r.will_close, "the server announced a close")
                if body is not None:
                    self.assertEqual(data, body)
                    self.assertEqual(int(r.getheader("Content-Length")), len(body))
                elif method == "HEAD" or status == 304:
                    self.assertEqual(data, b"")
                for name, value in expect.items():
                    self.assertEqual(r.getheader(name), value.format(**fill), name)
                if status == 200:
                    fields = {k: r.getheader(k) for k in HEAD_FIELDS}
                    (heads if method == "HEAD" else gets)[target] = fields
        both = sorted(set(heads) & set(gets))
        self.assertTrue(both, "no HEAD/GET pair to compare")
        for target in both:
            with self.subTest("HEAD matches GET " + target):
                self.assertEqual(heads[target], gets[target])
        entries = self.access_log.wait_count(agent, 1 + len(PYTHON_REQUESTS))
        self.assertEqual([(e.method, e.target, e.status) for e in entries],
                         [("GET", "/page.html", 200)] +
                         [(m, t, s) for m, t, _, s, _, _ in PYTHON_REQUESTS])


if __name__ == "__main__":
    main()
