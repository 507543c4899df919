"""The servers under test: how each is configured (from bench/conf/*.in),
started in the foreground on 127.0.0.1 pinned to CPU 0 (or, with two
workers, free to use CPUs 0 and 1), found again in /proc (CPU time and
RSS of the whole process tree, threads included) and stopped. Every
process started here is in a session of its own, so stop() can end the
server and anything it forked, and nothing else.

A TLS server (tls=TLS(...)) serves the same tree over HTTPS with the bench's
certificate; with tickets=False it resumes no session, so each new
connection is a full handshake."""

import collections
import os
import signal
import socket
import ssl
import subprocess
import time

CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")
SERVER_CPU = "0"
CLIENT_CPU = "1"
SHARED_CPUS = "0,1"  # the two-core row: server and load share both
CLK_TCK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 60.0  # valgrind starts slowly
STOP_TIMEOUT_S = 3.0

# Order of columns and bars everywhere; coserve first, the reference.
NAMES = ["coserve", "nginx", "nginx-aio", "lighttpd", "h2o"]

_live = {}  # pid -> Server, for the exit trap

# cert and key: PEM paths; tickets: resumption as the server defaults, or
# none; h2: HTTP/2 by ALPN on (each server's own way), else as it defaults
TLS = collections.namedtuple("TLS", "cert key tickets h2", defaults=(False,))
METRICS_PATH = "/.bench-metrics"  # coserve's, on its TLS listener


def client_context(tls):
    """A client context that trusts the bench's certificate."""
    ctx = ssl.create_default_context(cafile=tls.cert)
    ctx.check_hostname = False  # the certificate names IP:127.0.0.1; no SNI needed
    return ctx


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _render(template, out, subst):
    text = open(os.path.join(CONF_DIR, template)).read()
    for key, value in subst.items():
        text = text.replace("@%s@" % key, value)
    with open(out, "w") as f:
        f.write(text)


def _children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _tree(pid):
    """pid and every descendant (nginx's master and worker)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


class Server:
    def __init__(self, name, workdir, root, coserve_bin, workers=1, tls=None):
        """workers: 1, pinned to CPU 0 as every row but one; more, on CPUs
        0 and 1 with that many reactors, worker processes or threads.
        tls: a TLS, or None for plain HTTP."""
        self.name = name
        self.root = root
        self.coserve_bin = coserve_bin
        self.workdir = workdir
        self.workers = workers
        self.cpus = SERVER_CPU if workers == 1 else SHARED_CPUS
        self.tls = tls
        run = name if workers == 1 else "%s-%dw" % (name, workers)
        if tls:
            run += "-tls" if tls.tickets else "-tls-full"
            run += "-h2" if tls.h2 else ""
        self.rundir = os.path.join(workdir, "run", run)
        self.proc = None
        self.port = None

    def _command(self, conf):
        subst = {"PORT": str(self.port), "ROOT": self.root, "RUN": self.rundir,
                 "NOFILE": os.environ.get("BENCH_NOFILE", "20000"),
                 "IO_THREADS": "0" if self.name == "coserve-serial" else "4",
                 "WORKERS": str(self.workers),
                 # lighttpd: 0 is one process; N > 0 is a master and N workers
                 "MAX_WORKER": "0" if self.workers == 1 else str(self.workers),
                 # coserve: one reactor is the default, so the one-worker
                 # rows need no option a binary without reactors would reject
                 "REACTORS": "" if self.workers == 1 else "reactors = %d;" % self.workers}
        subst.update(self._tls_subst())
        if self.name in ("coserve", "coserve-serial"):
            _render("coserve.conf.in", conf, subst)
            return [self.coserve_bin, "-c", conf]
        if self.name.startswith("nginx"):
            subst["AIO"] = "aio threads;" if self.name == "nginx-aio" else ""
            _render("nginx.conf.in", conf, subst)
            return ["nginx", "-p", self.rundir, "-e", "stderr", "-c", conf]
        if self.name == "lighttpd":
            _render("lighttpd.conf.in", conf, subst)
            return ["lighttpd", "-D", "-f", conf]
        if self.name == "threads":  # bench/threadconns, built by bench/conncost
            return [os.path.join(self.workdir, "threadconns"), str(self.port), self.root]
        if self.name == "h2o":
            _render("h2o.conf.in", conf, subst)
            return ["h2o", "-c", conf]
        raise ValueError(self.name)

    def _tls_subst(self):
        """@TLS_LISTEN@ (on the listener) and @TLS@ (beside the root) for
        this server's template; both empty for plain HTTP."""
        t = self.tls
        if not t:
            return {"TLS_LISTEN": "", "TLS": ""}
        if self.name.startswith("coserve"):
            return {"TLS_LISTEN": " tls", "TLS": "\n".join([
                'tls_certificate = "%s";' % t.cert, 'tls_certificate_key = "%s";' % t.key,
                'metrics_path = "%s";' % METRICS_PATH] +
                ([] if t.tickets else ["tls_session_tickets = false;"]) +
                (["h2 = true;"] if t.h2 else []))}
        if self.name.startswith("nginx"):
            # nginx 1.22 offers TLS 1.3 only when told; its default session
            # cache is "none": tickets are its only resumption
            return {"TLS_LISTEN": " ssl http2" if t.h2 else " ssl", "TLS": "ssl_protocols TLSv1.2 TLSv1.3; "
                    "ssl_certificate %s; ssl_certificate_key %s;%s" % (
                t.cert, t.key, "" if t.tickets else " ssl_session_tickets off; ssl_session_cache off;")}
        if self.name == "lighttpd":
            conf = ['ssl.engine = "enable"', 'ssl.pemfile = "%s"' % t.cert, 'ssl.privkey = "%s"' % t.key]
            if not t.tickets:
                conf.append('ssl.openssl.ssl-conf-cmd = ( "Options" => "-SessionTicket" )')
            if t.h2:
                conf.append('server.feature-flags = ( "server.h2proto" => "enable" )')
            return {"TLS_LISTEN": ', "mod_openssl"', "TLS": "\n".join(conf)}
        if self.name == "h2o":
            return {"TLS_LISTEN": "  ssl:\n    certificate-file: %s\n    key-file: %s" % (t.cert, t.key),
                    "TLS": "" if t.tickets else "ssl-session-resumption:\n  mode: off"}
        raise ValueError("%s: no TLS configuration" % self.name)

    def start(self, env_extra=None, wrapper=None):
        """Starts the server (under wrapper, e.g. strace, when given) and
        returns once it answers a request."""
        os.makedirs(self.rundir, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            conf = os.path.join(self.rundir, "server.conf")
            cmd = ["taskset", "-c", self.cpus] + (wrapper or []) + self._command(conf)
            env = dict(os.environ)
            env.update(env_extra or {})
            self.log = open(os.path.join(self.rundir, "stderr.log"), "ab")
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=self.log,
                                         start_new_session=True)
            _live[self.proc.pid] = self
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError("%s did not start; see %s/stderr.log" % (self.name, self.rundir))

    def config_error(self):
        """None when coserve accepts this configuration (`coserve -t`),
        else its message, e.g. an option this binary does not know. Peers
        are not asked, but lighttpd over TLS (`lighttpd -tt`: mod_openssl is
        a package of its own): a peer that rejects its configuration fails
        start()."""
        if not self.name.startswith("coserve") and not (self.tls and self.name == "lighttpd"):
            return None
        os.makedirs(self.rundir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.rundir, "server.conf")
        cmd = self._command(conf)
        flag = "-t" if self.name.startswith("coserve") else "-tt"
        p = subprocess.run(cmd[:1] + [flag] + cmd[1:], capture_output=True, text=True)
        if p.returncode == 0:
            return None
        out = (p.stderr + p.stdout).strip().replace(conf, os.path.basename(conf))
        return out.splitlines()[-1] if out else "exit status %d" % p.returncode

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                try:
                    if self.tls:
                        s = client_context(self.tls).wrap_socket(s)
                    s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    if s.recv(12).startswith(b"HTTP/1.1 200"):
                        return True
                finally:
                    s.close()
            except OSError:  # ssl.SSLError included
                pass
            time.sleep(0.02)
        return False

    def stop(self, kill=False):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; kill=True goes
        straight to SIGKILL (a server stuck behind slowfs delays)."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        steps = ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0))
        for sig, wait_s in steps[1:] if kill else steps:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        _live.pop(self.proc.pid, None)
        self.proc = None
        self.log.close()

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.port, path)

    def coserve_tls_counts(self):
        """coserve's (handshakes, resumed sessions) so far, from its metrics."""
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                           context=client_context(self.tls))
        conn.request("GET", METRICS_PATH)
        text = conn.getresponse().read().decode()
        conn.close()
        counts = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("coserve_tls_handshakes_total",
                                                "coserve_tls_sessions_resumed_total"):
                counts[parts[0]] = int(float(parts[1]))
        return counts["coserve_tls_handshakes_total"], counts["coserve_tls_sessions_resumed_total"]

    def pids(self):
        return _tree(self.proc.pid)

    def cpu_split(self):
        """(utime, stime) in seconds of every process of the server, all
        threads (a process's /proc/PID/stat sums its threads)."""
        user = system = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            user += int(fields[11])  # utime, field 14
            system += int(fields[12])  # stime, field 15
        return user / CLK_TCK, system / CLK_TCK

    def cpu_seconds(self):
        """utime + stime of every process of the server, all threads."""
        return sum(self.cpu_split())

    def memory_kib(self):
        """(VmRSS, VmHWM) summed over the server's processes, in KiB."""
        rss = hwm = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1])
                        elif line.startswith("VmHWM:"):
                            hwm += int(line.split()[1])
            except OSError:
                continue
        return rss, hwm


def stop_all():
    """The exit trap: stops every server still running."""
    for server in list(_live.values()):
        try:
            server.stop()
        except Exception:
            pass
