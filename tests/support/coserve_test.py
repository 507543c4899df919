"""Shared harness for coserve's integration tests.

Starts the real daemon ($COSERVE) from a generated config on port 0, waits
for its "listening on" lines (no fixed sleeps), and stops it with SIGTERM,
failing the test if the daemon's stderr shows a sanitizer report. Also a
small raw HTTP/1.1 client that reads responses off a socket exactly as they
arrive, so tests can pipeline, watch for closes and send malformed bytes.

Python standard library only. Each test script calls main(), which maps the
unittest result onto automake's exit codes (0 pass, 1 fail, 77 skip).
"""

import atexit
import ctypes
import errno
import hashlib
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

COSERVE = os.environ.get("COSERVE", "")
SLOWFS = os.environ.get("SLOWFS", "")

# A command the daemon runs under, from $COSERVE_WRAPPER (make
# check-valgrind sets it to valgrind's memcheck). It makes the daemon many
# times slower, so the harness's own timeouts stretch by SLOWDOWN; tests
# whose assertions are timings or RSS figures skip just those under it.
WRAPPER = shlex.split(os.environ.get("COSERVE_WRAPPER", ""))
WRAPPED = bool(WRAPPER)


def _built_with(symbol):
    try:
        with open(COSERVE, "rb") as f:
            return symbol in f.read()
    except OSError:
        return False


# A ThreadSanitizer build (--enable-tsan) shadows every byte the daemon
# touches several times over, so bounds on its RSS stretch by RSS_FACTOR;
# and it is slower (3,000 parked connections closing at once kept both
# reactors busy for 48 s), so timeouts stretch by SLOWDOWN.
TSAN = bool(COSERVE) and _built_with(b"__tsan_init")
# AddressSanitizer keeps freed memory in quarantine, so RSS per connection
# says more about it than about the daemon.
ASAN = bool(COSERVE) and _built_with(b"__asan_init")
RSS_FACTOR = 4 if TSAN else 1
# valgrind fills a 1 MiB stack of its own for every thread, and its
# one-at-a-time threads make the I/O queue long enough for the pool to grow
# to hundreds (+756 MiB for 300 stalled clients in CI): a test measuring
# RSS merges RSS_POOL into its configuration so the figure is the daemon's.
RSS_POOL = {"io_threads_max": 4} if WRAPPED else {}
SLOWDOWN = 10 if WRAPPED else 5 if TSAN else 1
WRAPPED_SKIP = "the daemon runs under %s, which sets its pace" % (
    os.path.basename(WRAPPER[0]) if WRAPPED else "nothing")

READY_TIMEOUT_S = 15.0 * SLOWDOWN  # from exec to every "listening on" line
STOP_TIMEOUT_S = 20.0 * SLOWDOWN  # from SIGTERM to exit
IO_TIMEOUT_S = 30.0  # any single socket operation in a test
# How long a test waits for the daemon to do something on its own time (a
# log line, a counter, a closed descriptor): generous, as it only bounds a
# failure and a loaded 2-core machine can be seconds late.
WAIT_S = 30.0 * SLOWDOWN

SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ThreadSanitizer")
LISTENING_RE = re.compile(
    r"^coserve: info: listening on (?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>\d+)"
    r"(?: \((?P<kind>metrics|tls)\))?\s*$"
)
LOG_LINE_RE = re.compile(r"^coserve: (error|warn|info|debug): ")


# Leaks that are not coserve's, hidden from LeakSanitizer in the daemons we
# start. Keep each one narrow and say why.
LSAN_SUPPRESSIONS = """\
# libconfig 1.5's grammar has no %destructor: a string token followed by a
# syntax error (e.g. 'index "x";') is never freed. The daemon exits at once.
leak:strbuf_append
"""
_lsan_file = None


# Where valgrind writes its report on each daemon (one file per pid; the
# daemon's stderr stays its own, as the log tests expect).
_wrapper_dir = None
WRAPPER_ERROR_RE = re.compile(
    r"^==\d+== (ERROR SUMMARY: [1-9]|Invalid |Conditional jump|Use of uninitialised|"
    r"Syscall param|Mismatched free|Source and destination overlap|Process terminating)",
    re.M)
# --track-fds: a descriptor open at exit that the daemon did not inherit
WRAPPER_FD_RE = re.compile(r"^==\d+== Open .*\n==\d+==    (?!<inherited from parent>)", re.M)
# A daemon with a thread stuck in storage leaves everything to exit() on
# purpose (server_run): its descriptors are open at exit by design.
STUCK_EXIT_RE = re.compile(r"^coserve: warn: exiting with .* stuck in ", re.M)


def wrap_argv(argv):
    """argv with $COSERVE_WRAPPER put before the daemon, wherever it is in
    argv (a shell or systemd-socket-activate may run it)."""
    global _wrapper_dir
    if not WRAPPED or COSERVE not in argv:
        return list(argv)
    wrapper = [shutil.which(WRAPPER[0]) or WRAPPER[0]] + WRAPPER[1:]
    if os.path.basename(WRAPPER[0]) == "valgrind" and \
            not any(a.startswith("--log-") for a in wrapper):
        if _wrapper_dir is None:
            _wrapper_dir = tempfile.mkdtemp(prefix="coserve-valgrind-")
            atexit.register(shutil.rmtree, _wrapper_dir, True)
        wrapper.append("--log-file=%s/valgrind.%%p.log" % _wrapper_dir)
    i = argv.index(COSERVE)
    return list(argv[:i]) + wrapper + list(argv[i:])


def threads_state(pid):
    """Each thread of a daemon that did not stop: name, state, where it
    sleeps in the kernel, and its signals blocked and pending (so a lost
    or stuck SIGTERM shows which thread it went to)."""
    lines = []
    try:
        tids = sorted(os.listdir("/proc/%d/task" % pid), key=int)
    except OSError as e:
        return "(none readable: %s)" % e
    for tid in tids:
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "status") as f:
                fields = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            with open(base + "wchan") as f:
                wchan = f.read().strip()
        except OSError:
            continue
        lines.append("%s %s %s wchan=%s SigBlk=%s SigPnd=%s ShdPnd=%s" % (
            tid, fields.get("Name", "?"), fields.get("State", "?"), wchan,
            fields.get("SigBlk"), fields.get("SigPnd"), fields.get("ShdPnd")))
    return "\n".join(lines)


_reported = set()  # valgrind logs already shown in a failure
_fds_waived = set()  # logs of daemons that exited with a thread stuck


def wrapper_report(pid=None, fds=True):
    """The text of valgrind's reports that show an error, a definite or
    indirect leak or a leaked descriptor (for one daemon's pid, or all not
    yet shown), else None. fds=False: that daemon's descriptors at exit are
    not held against it, now or in the final sweep."""
    if _wrapper_dir is None:
        return None
    bad = []
    for name in sorted(os.listdir(_wrapper_dir)):
        if pid is not None and name != "valgrind.%d.log" % pid:
            continue
        if pid is None and name in _reported:
            continue
        if not fds:
            _fds_waived.add(name)
        with open(os.path.join(_wrapper_dir, name), errors="replace") as f:
            text = f.read()
        if WRAPPER_ERROR_RE.search(text) or (
                name not in _fds_waived and WRAPPER_FD_RE.search(text)):
            _reported.add(name)
            bad.append("--- %s ---\n%s" % (name, text))
    return "\n".join(bad) if bad else None


AS_ROOT = os.geteuid() == 0


def root_args(args):
    """args, plus "-u root" when we are root and args name no user: coserve
    refuses to run as root unless told to (the privilege test says otherwise)."""
    args = list(args)
    if AS_ROOT and "-u" not in args:
        args += ["-u", "root"]
    return args


def daemon_env(extra=None):
    """The environment for a daemon: ours, plus extra, plus the LSan
    suppressions (unless LSAN_OPTIONS already names a suppressions file)."""
    global _lsan_file
    env = dict(os.environ)
    env.update(extra or {})
    lsan = env.get("LSAN_OPTIONS", "")
    if "suppressions=" not in lsan:
        if _lsan_file is None:
            fd, _lsan_file = tempfile.mkstemp(prefix="coserve-lsan-", suffix=".supp")
            with os.fdopen(fd, "w") as f:
                f.write(LSAN_SUPPRESSIONS)
            atexit.register(os.unlink, _lsan_file)
        env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + \
            "suppressions=%s:print_suppressions=0" % _lsan_file
    if "LD_PRELOAD" in (extra or {}):
        # An ASan daemon refuses to start unless its runtime is first.
        opts = env.get("ASAN_OPTIONS", "")
        if "verify_asan_link_order" not in opts:
            env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "verify_asan_link_order=0"
    return env


def _daemon_socket(pid, client):
    """A descriptor for the daemon's end of client's connection, taken
    with pidfd_getfd (Linux 5.6; a parent may take a child's)."""
    cport, sport = client.getsockname()[1], client.getpeername()[1]
    want = ":%04X" % sport, ":%04X" % cport
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(want[0]) and fields[2].endswith(want[1]):
                inode = fields[9]
    assert inode is not None, "no socket from port %d to %d" % (sport, cport)
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except FileNotFoundError:
            continue
        if target == "socket:[%s]" % inode:
            break
    else:
        raise AssertionError("the daemon holds no socket:[%s]" % inode)
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(438, pidfd, int(name), 0)  # SYS_pidfd_getfd
    finally:
        os.close(pidfd)
    if fd < 0:
        if ctypes.get_errno() == errno.EPERM:
            raise unittest.SkipTest("pidfd_getfd refused (Yama ptrace_scope 2 or 3?)")
        raise OSError(ctypes.get_errno(), "pidfd_getfd")
    return fd


def daemon_nodelay(pid, client):
    """TCP_NODELAY on the daemon's end of client's connection."""
    fd = _daemon_socket(pid, client)
    try:
        s = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        raise
    try:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        s.close()


def wait_for(predicate, timeout=WAIT_S, what=None, step=0.02):
    """Polls predicate() until it returns a true value, and returns that
    value. On timeout: None, or when what names the awaited event, an
    AssertionError saying so. The way to wait for anything that happens
    on another process's or thread's time, instead of a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            if what is not None:
                raise AssertionError("%s: not within %.0f s" % (what, timeout))
            return None
        time.sleep(step)


def skip_unless_daemon():
    """Exits 77 (automake's skip) when there is no daemon to test."""
    if not COSERVE or not os.access(COSERVE, os.X_OK):
        print("COSERVE is not set to an executable daemon; skipping", file=sys.stderr)
        sys.exit(77)


def main():
    """Runs the calling module's tests; exit 0 pass, 1 fail, 77 all skipped."""
    skip_unless_daemon()
    prog = unittest.main(module="__main__", verbosity=2, exit=False)
    result = prog.result
    # Every daemon this script ran, including those no check_clean_exit saw.
    report = wrapper_report()
    if report is not None:
        print("valgrind reported errors:\n" + report, file=sys.stderr)
    if _wrapper_dir is not None:
        print("valgrind: %d daemon runs, %d with errors"
              % (len(os.listdir(_wrapper_dir)), len(_reported)), file=sys.stderr)
    if report is not None:
        sys.exit(1)
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped and len(result.skipped) >= result.testsRun:
        sys.exit(77)  # everything skipped (a class-level skip runs no test at all)
    sys.exit(0)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def ipv6_loopback_available():
    """Whether ::1 can be bound here (containers sometimes lack IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# --- config files --------------------------------------------------------


def config_value(value):
    """Renders a Python value in libconfig syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):  # a group
        return "{ " + " ".join("%s = %s;" % (k, config_value(v))
                               for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, dict) for v in value):  # a list of groups
            return "( " + ", ".join(config_value(v) for v in value) + " )"
        return "[ " + ", ".join(config_value(v) for v in value) + " ]"
    raise TypeError("no libconfig form for %r" % (value,))


def config_text(settings):
    """One "key = value;" line per setting; None values are left out."""
    return "".join(
        "%s = %s;\n" % (k, config_value(v)) for k, v in settings.items() if v is not None
    )


# --- the daemon ----------------------------------------------------------


class DaemonError(AssertionError):
    pass


_live_servers = set()


@atexit.register
def _kill_leftover_servers():
    """Whatever happens to the test run, no daemon outlives it."""
    for srv in list(_live_servers):
        srv.cleanup()


class Server:
    """The daemon under test, as a context manager.

    root: the document root (a fresh empty temp dir when None).
    config: dict of settings over the defaults below; None deletes one.
    args: when given, the command line after the binary instead of
      ["-c", <generated config>]; expect_listeners then says how many
      "listening on" lines mean ready (by default, from the config: each
      listen address and metrics_listen).
    env: extra environment (e.g. LD_PRELOAD); pass_fds: fds to inherit.
    expect_exit: the exit status leaving the with block requires (0, or 2
      for a daemon that stops with a storage call stuck).
    """

    DEFAULTS = {
        "listen": ["127.0.0.1:0"],
        # Tests run as root in CI: insist on it, or coserve refuses to start.
        "user": AS_ROOT and "root" or None,
        "log_level": "info",
        "access_log": "off",
        # A drain the daemon's pace stretches (valgrind, TSan) must not
        # run into the grace; the tests of the grace set their own.
        "shutdown_grace_ms": 10000 * SLOWDOWN,
        # The storage probe's deadline is the health tests' subject, and
        # they set their own. Elsewhere a probe made late by valgrind or a
        # loaded machine (611 ms of the default 500 under valgrind in CI)
        # must not turn a health answer the test expects into a 503.
        "health_probe_timeout_ms": 10000 * SLOWDOWN,
        # Unset: "auto", one reactor per CPU (two on CI's machine). CI's
        # single-reactor run sets it to 1.
        "reactors": int(os.environ["COSERVE_TEST_REACTORS"])
        if os.environ.get("COSERVE_TEST_REACTORS") else None,
    }

    def __init__(self, root=None, config=None, args=None, env=None, pass_fds=(),
                 expect_listeners=None, start=True):
        self.tmp = tempfile.mkdtemp(prefix="coserve-test-")
        self.root = root if root is not None else os.path.join(self.tmp, "root")
        os.makedirs(self.root, exist_ok=True)
        settings = dict(self.DEFAULTS)
        settings["root"] = self.root
        settings.update(config or {})
        self.settings = settings
        self.config_path = os.path.join(self.tmp, "coserve.conf")
        with open(self.config_path, "w") as f:
            f.write(config_text(settings))
        if args is None:
            args = ["-c", self.config_path]
            if expect_listeners is None:
                expect_listeners = len(settings.get("listen") or []) + \
                    bool(settings.get("metrics_listen"))
        self.args = [COSERVE] + root_args(args)
        self.expect_listeners = expect_listeners if expect_listeners is not None else 1
        self.env = daemon_env(env)
        self.pass_fds = tuple(pass_fds)
        self.proc = None
        self.listeners = []  # [(host, port)] in the order logged
        self.returncode = None
        self.expect_exit = 0
        self._timed_out = False
        self._stuck_threads = ""  # the daemon's threads, when it would not stop
        self._stderr_lines = []
        self._stdout = []
        self._lock = threading.Lock()
        self._stderr_changed = threading.Condition(self._lock)  # a line, or EOF
        self._stderr_eof = False
        self._ready = threading.Event()
        self._threads = []
        if start:
            try:
                self.start()
            except BaseException:
                self.cleanup()
                raise

    # lifecycle

    def start(self):
        self.proc = subprocess.Popen(
            wrap_argv(self.args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env, pass_fds=self.pass_fds,
            cwd=self.tmp)
        _live_servers.add(self)
        t_err = threading.Thread(target=self._read_stderr, daemon=True)
        t_out = threading.Thread(target=self._read_stdout, daemon=True)
        self._threads = [t_err, t_out]
        for t in self._threads:
            t.start()
        if not self._ready.wait(READY_TIMEOUT_S) or len(self.listeners) < self.expect_listeners:
            code = self.proc.poll()
            if code is None:
                self._kill()
            raise DaemonError("daemon not ready (exit %r; %d of %d listeners); stderr:\n%s"
                              % (code if code is not None else self.proc.returncode,
                                 len(self.listeners), self.expect_listeners, self.stderr))
        return self

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self._stderr_lines.append(line)
                m = LISTENING_RE.match(line)
                if m:
                    host = m.group("v6") or m.group("v4")
                    self.listeners.append((host, int(m.group("port"))))
                    if len(self.listeners) >= self.expect_listeners:
                        self._ready.set()
                self._stderr_changed.notify_all()
        with self._lock:
            self._stderr_eof = True
            self._stderr_changed.notify_all()
        self._ready.set()  # EOF: the daemon is gone; start() reports it

    def _read_stdout(self):
        for raw in self.proc.stdout:
            with self._lock:
                self._stdout.append(raw.decode("utf-8", "replace"))

    @property
    def stderr(self):
        with self._lock:
            return "\n".join(self._stderr_lines)

    @property
    def stderr_lines(self):
        with self._lock:
            return list(self._stderr_lines)

    def wait_for_log(self, pattern, since=0, count=1, timeout=WAIT_S):
        """Waits until count stderr lines from index since on match pattern
        (a str: contained in the line; a compiled regex: searched) and
        returns the last of them. The daemon writes a line before or after
        what a test can observe, and the harness reads it on a thread of
        its own: a line is never sure to be there, only to come. Raises
        DaemonError on timeout or when the daemon's stderr ends first."""
        if isinstance(pattern, str):
            def matches(line):
                return pattern in line
        else:
            matches = pattern.search
        deadline = time.monotonic() + timeout
        found = 0
        with self._stderr_changed:
            seen = since
            while True:
                for line in self._stderr_lines[seen:]:
                    if matches(line):
                        found += 1
                        if found == count:
                            return line
                seen = max(seen, len(self._stderr_lines))
                left = deadline - time.monotonic()
                if left <= 0 or self._stderr_eof:
                    break
                self._stderr_changed.wait(left)
            text = "\n".join(self._stderr_lines)
        raise DaemonError("%d of %d stderr lines matching %r within %.0f s (%s); stderr:\n%s"
                          % (found, count, getattr(pattern, "pattern", pattern), timeout,
                             "the daemon's stderr ended" if self._stderr_eof else "still running",
                             text))

    @property
    def stdout(self):
        with self._lock:
            return "".join(self._stdout)

    @property
    def pid(self):
        return self.proc.pid

    @property
    def host(self):
        return self.listeners[0][0]

    @property
    def port(self):
        return self.listeners[0][1]

    def url(self, path="/", listener=0):
        host, port = self.listeners[listener]
        if ":" in host:
            host = "[%s]" % host
        if not path.startswith("/"):
            path = "/" + path
        return "http://%s:%d%s" % (host, port, path)

    def connect(self, listener=0, timeout=IO_TIMEOUT_S, **kw):
        host, port = self.listeners[listener]
        return HTTPConnection(host, port, timeout=timeout, **kw)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, signum):
        if self.alive():
            self.proc.send_signal(signum)

    def wait(self, timeout=STOP_TIMEOUT_S):
        """Waits for exit; returns the status, or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._join_readers()
        return self.returncode

    def _kill(self):
        self.proc.kill()
        self.proc.wait()
        self._join_readers()

    def _join_readers(self):
        for t in self._threads:
            t.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def stop(self, signum=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
        """Signals the daemon and returns its exit status (killed: -9 after timeout)."""
        if self.proc is None:
            return None
        if self.returncode is None:
            self.send_signal(signum)
            if self.wait(timeout) is None:
                self._stuck_threads = threads_state(self.proc.pid)
                self._kill()
                self.returncode = self.proc.returncode
                self._timed_out = True
        return self.returncode

    def sanitizer_report(self):
        """The stderr text if a sanitizer spoke, or valgrind's report if it
        found errors, else None."""
        text = self.stderr
        if any(m in text for m in SANITIZER_MARKERS):
            return text
        if self.proc is not None:
            return wrapper_report(self.proc.pid, fds=not STUCK_EXIT_RE.search(text))
        return None

    def check_clean_exit(self, expect=0):
        """Stops the daemon; raises unless it exited with expect and no sanitizer spoke."""
        code = self.stop()
        report = self.sanitizer_report()
        if report is not None:
            raise DaemonError("sanitizer or valgrind report on the daemon:\n" + report)
        if self._timed_out:
            raise DaemonError("daemon did not exit within %.0f s of SIGTERM; "
                              "its threads then:\n%s\nstderr:\n%s"
                              % (STOP_TIMEOUT_S, self._stuck_threads, self.stderr))
        if code != expect:
            raise DaemonError("daemon exited %r, expected %r; stderr:\n%s"
                              % (code, expect, self.stderr))
        return code

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self._kill()
        _live_servers.discard(self)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.check_clean_exit(self.expect_exit)
            else:
                self.stop()
                sys.stderr.write("--- daemon stderr (test failed) ---\n%s\n---\n" % self.stderr)
        finally:
            self.cleanup()
        return False


def stop_checked(srv):
    """Stops srv, raising unless it exited cleanly; shows the end of its
    stderr either way, and removes what it left."""
    try:
        srv.check_clean_exit()
    finally:
        tail = srv.stderr_lines[-40:]
        sys.stderr.write("--- daemon stderr (last %d lines) ---\n%s\n---\n"
                         % (len(tail), "\n".join(tail)))
        srv.cleanup()


class ServerTestCase(unittest.TestCase):
    """A test class and its daemon. The class owns a temporary directory,
    cls.tmp, with the document root cls.root (tmp/www) in it: make_root()
    fills the root (and may put more beside it), server_config and
    server_env describe the daemon, or server_options() where they depend
    on the class. tearDownClass stops the daemon, fails the class unless it
    exited cleanly, and removes the directory. With shared_server False
    the class gets the directory but no daemon; its tests start their own
    with start_server(), which the same checks end."""

    server_config = {}
    server_env = None
    shared_server = True

    @classmethod
    def make_root(cls, root):
        pass

    @classmethod
    def server_options(cls):
        """Server's keyword arguments for the class's daemon (root aside)."""
        return {"config": dict(cls.server_config), "env": cls.server_env}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="coserve-test-")
        cls.root = os.path.join(cls.tmp, "www")
        cls.server = None
        try:
            os.makedirs(cls.root)
            cls.make_root(cls.root)
            if cls.shared_server:
                cls.server = Server(root=cls.root, **cls.server_options())
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.server is not None:
                stop_checked(cls.server)
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def start_server(self, **kw):
        """A daemon of this test's own (on cls.root unless root is given),
        stopped and checked like the class's when the test ends."""
        kw.setdefault("root", self.root)
        srv = Server(**kw)
        self.addCleanup(stop_checked, srv)
        return srv

    def conn(self, **kw):
        return self.server.connect(**kw)

    def get(self, target, headers=None, method="GET", **kw):
        return fetch(self.server.host, self.server.port, target, headers=headers,
                     method=method, **kw)


# --- a raw HTTP/1.1 client ------------------------------------------------


class Response:
    def __init__(self, version, status, reason, headers, header_list, body, head_bytes):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (repeats joined by ", ")
        self.header_list = header_list  # [(name, value)] as received
        self.body = body
        self.head_bytes = head_bytes

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def closes(self):
        """Whether the response announces Connection: close."""
        tokens = [t.strip().lower() for t in self.headers.get("connection", "").split(",")]
        return "close" in tokens

    def __repr__(self):
        return "<Response %d %s %r body=%d bytes>" % (
            self.status, self.reason, self.headers, len(self.body))


class ProtocolError(AssertionError):
    pass


class HTTPConnection:
    """One TCP connection; send raw bytes, read responses in order."""

    def __init__(self, host, port, timeout=IO_TIMEOUT_S, rcvbuf=None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect((host, port))
        except BaseException:
            self.sock.close()
            raise
        self.host = host
        self.port = port
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Closes with an RST (SO_LINGER 0), as an impatient client does."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def request(self, method, target, headers=None, version="HTTP/1.1", body=b"",
                host="test"):
        """Sends one request; Host is added for HTTP/1.1 unless headers has one."""
        self.send(build_request(method, target, headers, version, body, host))

    def fill(self):
        """Reads more bytes; False at EOF (a reset counts as EOF)."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(1 << 18)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_exactly(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise ProtocolError("connection closed with %d of %d bytes read"
                                    % (len(self.buf), n))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > 65536:
                raise ProtocolError("response head too long")
            if not self.fill():
                if self.buf:
                    raise ProtocolError("connection closed inside a response head: %r"
                                        % bytes(self.buf[:200]))
                raise ProtocolError("connection closed before a response")

    def read_response(self, method="GET", sink=None):
        """Reads one final response. With sink, body bytes go to sink(bytes)
        and Response.body is empty (for very large bodies)."""
        while True:
            head = self.read_head()
            resp = parse_head(head)
            if resp.status < 100 or resp.status >= 200 or resp.status == 101:
                break
        bodyless = method == "HEAD" or resp.status in (204, 304)
        if bodyless:
            return resp
        if "transfer-encoding" in resp.headers:
            raise ProtocolError("unexpected Transfer-Encoding in a response: %r" % resp)
        length = resp.headers.get("content-length")
        if length is not None:
            if not re.fullmatch(r"\d+", length.strip()):
                raise ProtocolError("bad Content-Length %r" % length)
            n = int(length)
            if sink is None:
                resp.body = self.read_exactly(n)
            else:
                left = n
                while left > 0:
                    if not self.buf and not self.fill():
                        raise ProtocolError("closed with %d body bytes missing" % left)
                    take = bytes(self.buf[:left])
                    del self.buf[:len(take)]
                    left -= len(take)
                    sink(take)
            return resp
        # No length: the body runs to the close.
        while self.fill():
            pass
        resp.body = bytes(self.buf)
        self.buf.clear()
        return resp

    def closed_by_peer(self, timeout=5.0):
        """True when the server closes (EOF or RST) within timeout with no
        further bytes; False on timeout; raises if unexpected bytes arrive."""
        if self.buf:
            raise ProtocolError("unexpected bytes after a response: %r" % bytes(self.buf[:200]))
        if self.eof:
            return True
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return False
            if not self.fill():
                return True
            raise ProtocolError("unexpected bytes after a response: %r" % bytes(self.buf[:200]))

    def silent_for(self, seconds):
        """True when nothing at all (no bytes, no close) arrives for seconds."""
        if self.buf or self.eof:
            return False
        r, _, _ = select.select([self.sock], [], [], seconds)
        return not r


def build_request(method, target, headers=None, version="HTTP/1.1", body=b"", host="test"):
    lines = ["%s %s %s" % (method, target, version)]
    hdrs = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
    if version == "HTTP/1.1" and host is not None and not any(
            k.lower() == "host" for k, _ in hdrs):
        hdrs.insert(0, ("Host", host))
    for k, v in hdrs:
        lines.append("%s: %s" % (k, v))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, str):
        body = body.encode("latin-1")
    return data + body


def parse_head(head):
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    m = re.fullmatch(r"(HTTP/\d\.\d) (\d{3}) ?(.*)", lines[0])
    if not m:
        raise ProtocolError("bad status line %r" % lines[0])
    headers, header_list = {}, []
    for line in lines[1:]:
        if not line:
            continue
        if ":" not in line or line[0] in " \t":
            raise ProtocolError("bad header line %r" % line)
        name, value = line.split(":", 1)
        if name != name.strip() or not name:
            raise ProtocolError("bad header name %r" % name)
        value = value.strip(" \t")
        header_list.append((name, value))
        key = name.lower()
        headers[key] = headers[key] + ", " + value if key in headers else value
    return Response(m.group(1), int(m.group(2)), m.group(3), headers, header_list, b"", head)


def fetch(host, port, target, headers=None, method="GET", version="HTTP/1.1",
          timeout=IO_TIMEOUT_S):
    """One request on a fresh connection; returns the Response."""
    hdrs = dict(headers or {})
    if version == "HTTP/1.1" and not any(k.lower() == "connection" for k in hdrs):
        hdrs["Connection"] = "close"
    with HTTPConnection(host, port, timeout=timeout) as c:
        c.request(method, target, hdrs, version=version)
        return c.read_response(method)


# --- real clients ----------------------------------------------------------


def curl(url, out_path, extra=(), timeout=120):
    """Runs curl; returns (http_code, completed process)."""
    p = subprocess.run(
        ["curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", str(timeout),
         "-o", out_path, "-w", "%{http_code}"] + list(extra) + [url],
        capture_output=True, text=True, timeout=timeout + 30)
    code = int(p.stdout.strip() or 0) if p.stdout.strip().isdigit() else 0
    return code, p


def wget(url, out_path, timeout=120):
    env = dict(os.environ)
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        env.pop(k, None)
    return subprocess.run(
        ["wget", "--quiet", "--no-proxy", "--tries=1", "--timeout=%d" % timeout,
         "-O", out_path, url],
        capture_output=True, text=True, timeout=timeout + 30, env=env)


def have_program(name):
    return shutil.which(name) is not None
