"""The shipped units under a real systemd: a systemd booted as PID 1 in
private namespaces on an overlay of / (tests/support/boot-systemd.sh), with
what `make install DESTDIR=...` installs copied into it: the binary, the
sample configuration and site, and coserve.service and coserve.socket as
built for this prefix. The units are the real ones; the only test drop-in
shortens the watchdog (and gives a sanitizer build its options). Checked: a Type=notify start, socket activation,
reload, the watchdog restarting a stopped reactor, a clean stop, serving
under the sandbox, and `systemd-analyze security` on the running unit.

Everything runs in the inner system's own network namespace, so port 8080
of the sample configuration is free there and clients go in with nsenter.
The test needs root, util-linux (unshare, nsenter, setpriv), script
(bsdutils), the systemd package, and a cgroup2 hierarchy at /sys/fs/cgroup/unified (a
hybrid cgroup host); elsewhere it is skipped with the reason printed.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from coserve_test import COSERVE, SANITIZER_MARKERS, WRAPPED, WRAPPER, main, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.path.dirname(os.path.dirname(COSERVE)) if COSERVE else ""
BOOT_SCRIPT = os.path.join(SRCDIR, "tests", "support", "boot-systemd.sh")
HELLO = os.path.join(SRCDIR, "www", "hello.txt")
SYSUSERS = os.path.join(SRCDIR, "packaging", "debian", "coserve.sysusers")

SYSTEMD = "/lib/systemd/systemd"
CGROUP2 = "/sys/fs/cgroup/unified"  # where a hybrid host mounts cgroup2
TARGET = "coserve-test.target"
URL = "http://127.0.0.1:8080/hello.txt"  # the sample configuration's
DYNAMIC_UIDS = range(61184, 65520)  # systemd's DynamicUser= range
SECURITY_MAX = 2.0  # "OK" in systemd-analyze security
WATCHDOG_SEC = 4  # the drop-in's; the shipped 30 s would make a slow test

INSTALL_TIMEOUT_S = 300  # make install
BOOT_TIMEOUT_S = 60  # from unshare to a running system
COMMAND_TIMEOUT_S = 60  # any one command inside (a start, a stop)
STATE_TIMEOUT_S = 60  # a unit reaching a state (a watchdog restart)
POWEROFF_TIMEOUT_S = 30  # from poweroff to PID 1 gone
POLL_S = 0.1

# Directories systemd loads system units from (the ones `make install` may
# use; others are linked into /etc/systemd/system).
UNIT_DIRS = ("etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system")


def cannot_boot():
    """Why this machine cannot boot a systemd for us, or None."""
    if WRAPPED:
        return ("the daemon is to run under %s (COSERVE_WRAPPER), but the units "
                "start the installed binary alone" % os.path.basename(WRAPPER[0]))
    if os.environ.get("COSERVE_SKIP_PACKAGING_TESTS"):
        return "inside a package build"
    if os.geteuid() != 0:
        return "not root: namespaces, mounts and a cgroup need it"
    for prog, package in (("unshare", "util-linux"), ("nsenter", "util-linux"),
                          ("setpriv", "util-linux"), ("script", "bsdutils"),
                          ("make", "make")):
        if shutil.which(prog) is None:
            return "%s is not installed (Debian package %s)" % (prog, package)
    if not os.access(SYSTEMD, os.X_OK) or shutil.which("systemd-analyze") is None:
        return "systemd is not installed (Debian package systemd)"
    if not os.path.isfile(os.path.join(CGROUP2, "cgroup.procs")):
        return "no cgroup2 hierarchy at %s (not a hybrid cgroup host)" % CGROUP2
    with open(COSERVE, "rb") as f:
        if b"libsystemd.so" not in f.read():
            return "coserve is built without systemd support"
    return None


def sanitized_binary():
    """Whether the daemon carries a sanitizer runtime."""
    with open(COSERVE, "rb") as f:
        data = f.read()
    return any(m in data for m in (b"__asan_init", b"__ubsan_handle", b"__tsan_init"))


def quiet_env():
    """Our environment without the calling make's jobserver."""
    env = dict(os.environ)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(name, None)
    env["LC_ALL"] = "C.UTF-8"
    return env


def wait_until(what, predicate, timeout=STATE_TIMEOUT_S):
    """predicate's first true value; fails the test with `what` after
    timeout seconds."""
    return wait_for(predicate, timeout, what, POLL_S)


class System:
    """A systemd booted as PID 1 in namespaces of its own, from a tree of
    files laid over the host's /."""

    def __init__(self):
        self.scratch = tempfile.mkdtemp(prefix="coserve-systemd-")
        self.cgroup = os.path.join(CGROUP2, "coserve-test-%d" % os.getpid())
        self.console = os.path.join(self.scratch, "console")
        self.launcher = None
        self.pid1 = None

    def boot(self, tree):
        """Starts it and waits until it is up (`shutdown` cleans up after
        a failure here as well)."""
        os.mkdir(self.cgroup)
        mnt = os.path.join(self.scratch, "ns")
        os.mkdir(mnt)
        cgroup_procs = os.path.join(self.cgroup, "cgroup.procs")

        def into_cgroup():
            # The inner systemd's cgroup namespace, and so its whole
            # hierarchy, is this directory.
            with open(cgroup_procs, "w") as f:
                f.write("0")

        inner = ("unshare --pid --fork --mount --propagation private --uts "
                 "--ipc --net --cgroup bash %s %s %s %s"
                 % (BOOT_SCRIPT, mnt, tree, TARGET))
        # script(1) gives it a terminal for /dev/console, logged to a file.
        self.launcher = subprocess.Popen(
            ["script", "-qfec", inner, self.console], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=into_cgroup, env=quiet_env())
        try:
            self.pid1 = wait_until("systemd to start", self._find_pid1, BOOT_TIMEOUT_S)
        except AssertionError as e:
            raise AssertionError("%s; the console:\n%s" % (e, self.console_tail())) from None
        wait_until("systemd's private bus socket",
                   lambda: os.path.exists("/proc/%d/root/run/systemd/private" % self.pid1),
                   BOOT_TIMEOUT_S)
        state = self.run("systemctl", "is-system-running", "--wait",
                         timeout=BOOT_TIMEOUT_S).stdout.strip()
        if state != "running":
            raise AssertionError("the system is %s; failed units:\n%s" % (
                state, self.run("systemctl", "--failed", "--no-legend").stdout))

    def _find_pid1(self):
        """The inner systemd's host pid: unshare's child, once it runs
        systemd. How deep that is depends on $SHELL, which script(1) runs
        the command with: bash execs unshare, dash forks it."""
        if self.launcher.poll() is not None:
            raise AssertionError("the launcher exited %d:\n%s"
                                 % (self.launcher.returncode, self.console_tail()))
        pids = self._children(self.launcher.pid)
        while pids:
            pid = pids.pop(0)
            try:
                if os.path.realpath("/proc/%d/exe" % pid) == os.path.realpath(SYSTEMD):
                    return pid
            except OSError:
                pass
            pids.extend(self._children(pid))
        return None

    @staticmethod
    def _children(pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def console_tail(self, lines=30):
        try:
            with open(self.console, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def run(self, *argv, timeout=COMMAND_TIMEOUT_S, check=False):
        """Runs argv inside: its mounts, pids, network, as its root."""
        p = subprocess.run(
            ["nsenter", "-t", str(self.pid1), "-a", "-r", "-w",
             "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_COLORS=0",
             "SYSTEMD_PAGER=", "LC_ALL=C.UTF-8"] + list(argv),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=timeout, universal_newlines=True, errors="replace")
        if check and p.returncode != 0:
            raise AssertionError("%s exited %d: %s%s" % (" ".join(argv), p.returncode,
                                                          p.stdout, p.stderr))
        return p

    def fetch(self, url=URL):
        """GET url from inside the network namespace: (status, body)."""
        client = ("import sys, urllib.request, urllib.error\n"
                  "try:\n"
                  "    r = urllib.request.urlopen(sys.argv[1], timeout=20)\n"
                  "except urllib.error.HTTPError as e:\n"
                  "    r = e\n"
                  "sys.stdout.buffer.write(b'%d\\n' % r.status + r.read())\n")
        p = subprocess.run(
            ["nsenter", "--net=/proc/%d/ns/net" % self.pid1, sys.executable, "-c", client, url],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=COMMAND_TIMEOUT_S)
        if p.returncode != 0:
            raise AssertionError("GET %s: %s" % (url, p.stderr.decode("utf-8", "replace")))
        status, _, body = p.stdout.partition(b"\n")
        return int(status), body

    def show(self, unit, *props):
        """systemctl show's properties of unit, as a dict of strings."""
        out = self.run("systemctl", "show", unit, *["-p" + p for p in props],
                       check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def cursor(self):
        """Where the journal ends now."""
        out = self.run("journalctl", "-n", "0", "--show-cursor", check=True).stdout
        return re.search(r"^-- cursor: (.+)$", out, re.M).group(1)

    def journal(self, unit, after=None):
        """unit's messages, its own and systemd's about it, after a cursor."""
        argv = ["journalctl", "-u", unit, "-o", "cat", "--no-pager"]
        if after is not None:
            argv.append("--after-cursor=" + after)
        return self.run(*argv).stdout

    def shutdown(self):
        """Powers off, kills PID 1 if that hangs, removes the cgroup.
        Never raises: it runs when a test has already failed."""
        if self.launcher is None:
            self._remove_cgroup()
            shutil.rmtree(self.scratch, ignore_errors=True)
            return
        if self.pid1 is not None and self.launcher.poll() is None:
            try:
                self.run("systemctl", "poweroff", "--no-block", timeout=POWEROFF_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.launcher.wait(POWEROFF_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print("systemd did not power off in %d s: killed" % POWEROFF_TIMEOUT_S)
            try:
                # Everything in our cgroup: the launcher, PID 1 and its
                # namespace, or what there is of them in a boot cut short.
                with open(os.path.join(self.cgroup, "cgroup.kill"), "w") as f:
                    f.write("1")
            except OSError:  # before Linux 5.14
                if self.pid1 is not None:
                    try:
                        os.kill(self.pid1, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.launcher.kill()
            self.launcher.wait(POWEROFF_TIMEOUT_S)
        self._remove_cgroup()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _remove_cgroup(self):
        # The kernel empties the cgroups once the namespace's last process
        # is reaped; remove them deepest first.
        deadline = time.monotonic() + POWEROFF_TIMEOUT_S
        while os.path.exists(self.cgroup):
            for top, dirs, _ in os.walk(self.cgroup, topdown=False):
                try:
                    os.rmdir(top)
                except OSError:
                    pass
            if time.monotonic() > deadline:
                print("could not remove %s" % self.cgroup)
                break
            if os.path.exists(self.cgroup):
                time.sleep(POLL_S)


def sysusers_lines():
    """The packages' sysusers.d lines (--inline takes one per argument)."""
    with open(SYSUSERS) as f:
        return [line for line in f.read().splitlines() if line and not line.startswith("#")]


def install_tree(tree):
    """`make install DESTDIR=tree`, plus the test's target and drop-in;
    skips the test when the units cannot run what it installed."""
    p = subprocess.run(["make", "-s", "-C", BUILDDIR, "install", "DESTDIR=" + tree],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, env=quiet_env())
    if p.returncode != 0:
        raise AssertionError("make install exited %d:\n%s"
                             % (p.returncode, p.stdout.decode("utf-8", "replace")))
    found = {}
    for top, _, files in os.walk(tree):
        for name in ("coserve.service", "coserve.socket"):
            if name in files:
                found[name] = os.path.join(top, name)
    if len(found) != 2:
        raise unittest.SkipTest("make install installs no systemd units "
                                "(configured --with-systemdsystemunitdir=no?)")
    with open(found["coserve.service"]) as f:
        binary = re.search(r"^ExecStart=(\S+)", f.read(), re.M).group(1)
    if re.match(r"/(home|root|run/user|tmp|var/tmp)/", binary):
        raise unittest.SkipTest("the unit's ProtectHome= or PrivateTmp= hide "
                                "this build's %s" % binary)
    etc_units = os.path.join(tree, "etc", "systemd", "system")
    os.makedirs(os.path.join(etc_units, "coserve.service.d"), exist_ok=True)
    # A prefix systemd does not search (distcheck's): the units are linked
    # into /etc/systemd/system, as `systemctl link` would.
    for name, path in found.items():
        if os.path.relpath(os.path.dirname(path), tree) not in UNIT_DIRS:
            os.symlink("/" + os.path.relpath(path, tree), os.path.join(etc_units, name))
    # The target refers to coserve.service (an ordering only, which
    # starts nothing) so that the stopped service stays loaded: systemd
    # unloads an inactive unit nothing refers to, and forgets how it ended.
    with open(os.path.join(etc_units, TARGET), "w") as f:
        f.write("[Unit]\nDescription=coserve test\nRequires=basic.target\n"
                "After=basic.target coserve.service\n")
    dropin = "[Service]\nWatchdogSec=%ds\n" % WATCHDOG_SEC
    if sanitized_binary():
        # LeakSanitizer stops the threads with ptrace, which the unit's
        # system call filter refuses; the rest of the suite checks leaks.
        # A sanitizer report fails the daemon, and so the test.
        dropin += ("Environment=ASAN_OPTIONS=detect_leaks=0\n"
                   "Environment=UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1\n")
    with open(os.path.join(etc_units, "coserve.service.d", "test.conf"), "w") as f:
        f.write(dropin)


class Units(unittest.TestCase):
    """coserve.service and coserve.socket as `make install` installs them,
    under systemd."""

    @classmethod
    def setUpClass(cls):
        why = cannot_boot()
        if why:
            print("skipped: " + why)
            raise unittest.SkipTest(why)
        cls.tmp = tempfile.mkdtemp(prefix="coserve-systemd-tree-")
        cls.system = None
        try:
            tree = os.path.join(cls.tmp, "tree")
            os.mkdir(tree, 0o755)
            start = time.monotonic()
            install_tree(tree)
            print("make install: %.1f s" % (time.monotonic() - start))
            start = time.monotonic()
            cls.system = System()
            cls.system.boot(tree)
            print("boot: %.1f s" % (time.monotonic() - start))
            # The user the unit runs as, as its comment says to create it
            # after make install (the packages' sysusers.d file).
            cls.system.run("systemd-sysusers", "--inline", *sysusers_lines(), check=True)
        except BaseException as e:
            if isinstance(e, unittest.SkipTest):
                print("skipped: %s" % e)
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.system is not None:
            cls.system.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        with open(HELLO, "rb") as f:
            self.hello = f.read()
        self.cursor = self.system.cursor()

    def journal(self):
        """coserve.service's journal since this test began."""
        return self.system.journal("coserve.service", after=self.cursor)

    def wait_journal(self, pattern):
        """Waits for a line matching pattern in this test's journal (the
        daemon's lines reach journald through a stream, a little late)."""
        return wait_until("/%s/ in the journal" % pattern,
                          lambda: re.search(pattern, self.journal(), re.M))

    def tearDown(self):
        # Every test starts from both units stopped, and from a fresh start
        # rate counter: the tests start the service more often than
        # StartLimitBurst allows in StartLimitIntervalSec.
        sd = self.system
        sd.run("systemctl", "stop", "coserve.socket", "coserve.service")
        sd.run("systemctl", "reset-failed", "coserve.service", "coserve.socket")
        log = self.journal()
        for marker in SANITIZER_MARKERS:
            self.assertNotIn(marker, log)

    def start(self):
        """Starts coserve.service (which returns once it sent READY=1) and
        returns its main pid."""
        sd = self.system
        p = sd.run("systemctl", "start", "coserve.service")
        self.assertEqual(p.returncode, 0, "systemctl start: %s\n%s"
                         % (p.stderr, self.journal()))
        st = sd.show("coserve.service", "ActiveState", "SubState", "MainPID")
        self.assertEqual((st["ActiveState"], st["SubState"]), ("active", "running"))
        return int(st["MainPID"])

    def assert_serves(self):
        status, body = self.system.fetch()
        self.assertEqual((status, body), (200, self.hello))

    def proc_status(self, pid):
        """The main process's /proc/PID/status, read inside."""
        out = self.system.run("cat", "/proc/%d/status" % pid, check=True).stdout
        return dict(re.findall(r"^(\w+):\s*(.*)$", out, re.M))

    def test_notify_start(self):
        """`systemctl start` returns once coserve sent READY=1, and it
        serves the installed site."""
        sd = self.system
        pid = self.start()
        st = sd.show("coserve.service", "Type", "NotifyAccess", "WatchdogUSec")
        self.assertEqual((st["Type"], st["NotifyAccess"]), ("notify", "main"))
        self.assertEqual(st["WatchdogUSec"], "%ds" % WATCHDOG_SEC)
        self.assertGreater(pid, 1)
        # At once, with no retry: the job ended on READY=1, not on the fork.
        self.assert_serves()

    def test_sandbox(self):
        """The shipped sandbox is in force on the serving process: another
        user, no new privileges, a seccomp filter, only
        CAP_NET_BIND_SERVICE, a read-only file system; and openat2."""
        sd = self.system
        pid = self.start()
        self.assert_serves()
        st = self.proc_status(pid)
        uids = set(st["Uid"].split())
        self.assertEqual(len(uids), 1, st["Uid"])
        uid = int(uids.pop())
        self.assertNotEqual(uid, 0, "runs as root")
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")  # a filter
        self.assertEqual(int(st["CapBnd"], 16), 1 << 10)  # CAP_NET_BIND_SERVICE
        user = sd.show("coserve.service", "User")["User"]
        self.assertEqual(user, "coserve")
        # The seccomp filter lets openat2 through (RestrictSUIDSGID=, or
        # DynamicUser=, would refuse it): no fallback line, which comes
        # before the root's "serving" line.
        self.wait_journal(r"serving ")
        self.assertNotRegex(self.journal(), r"openat2 is unavailable|lacks RESOLVE_CACHED")
        # ProtectSystem=strict: in its mount namespace even root finds
        # /usr/local and /etc read-only.
        for path in ("/usr/local/coserve-probe", "/etc/coserve-probe"):
            p = sd.run("nsenter", "-t", str(pid), "-m", "--", "touch", path)
            self.assertIn("Read-only file system", p.stderr, path)

    def test_packaged_user(self):
        """With the user the packages create (their sysusers.d file), it
        runs as that user."""
        sd = self.system
        sysusers = sysusers_lines()
        saved = "/run/coserve-test-passwd"
        files = "/etc/passwd /etc/group /etc/shadow /etc/gshadow"
        sd.run("sh", "-c", "mkdir %s && cp -p %s %s" % (saved, files, saved), check=True)
        self.addCleanup(sd.run, "sh", "-c", "cp -p %s/* /etc && rm -r %s" % (saved, saved),
                        check=True)
        sd.run("systemd-sysusers", "--inline", *sysusers, check=True)
        user = sd.run("getent", "passwd", "coserve", check=True).stdout.split(":")
        pid = self.start()
        self.assert_serves()
        st = self.proc_status(pid)
        self.assertEqual(st["Uid"].split(), [user[2]] * 4)
        self.assertEqual(st["Gid"].split(), [user[3]] * 4)
        self.assertNotIn(int(user[2]), DYNAMIC_UIDS)

    def test_socket_activation(self):
        """With coserve.socket listening and coserve.service stopped, the
        first connection starts the service, which answers it."""
        sd = self.system
        sd.run("systemctl", "start", "coserve.socket", check=True)
        self.assertEqual(sd.show("coserve.service", "ActiveState")["ActiveState"], "inactive")
        self.assert_serves()
        st = sd.show("coserve.service", "ActiveState", "MainPID")
        self.assertEqual(st["ActiveState"], "active")
        # It serves on the socket systemd passed, binding none of its own.
        self.wait_journal(r"^listening on 127\.0\.0\.1:8080 \(socket activation\)$")
        log = self.journal()
        self.assertEqual(len(re.findall(r"(?m)^listening on ", log)), 1, log)

    def test_reload(self):
        """`systemctl reload` re-reads the configuration in the same
        process, which serves on."""
        sd = self.system
        pid = self.start()
        sd.run("systemctl", "reload", "coserve.service", check=True)
        self.wait_journal(r"^configuration reloaded$")
        st = sd.show("coserve.service", "ActiveState", "MainPID")
        self.assertEqual((st["ActiveState"], int(st["MainPID"])), ("active", pid))
        self.assert_serves()

    def test_watchdog(self):
        """A reactor that stops (SIGSTOP) stops pinging the watchdog:
        systemd kills the service and starts a new one, which serves."""
        sd = self.system
        pid = self.start()
        sd.run("kill", "-STOP", str(pid), check=True)
        start = time.monotonic()

        def restarted():
            st = sd.show("coserve.service", "ActiveState", "SubState", "MainPID", "NRestarts")
            return (st["ActiveState"], st["SubState"]) == ("active", "running") and \
                int(st["MainPID"]) not in (0, pid) and st
        st = wait_until("a new main process", restarted)
        print("watchdog restart: %.1f s after SIGSTOP" % (time.monotonic() - start))
        self.assertEqual(st["NRestarts"], "1")
        self.wait_journal(r"Watchdog timeout")
        self.wait_journal(r"Failed with result 'watchdog'")
        self.assert_serves()

    def test_stop(self):
        """`systemctl stop` ends it cleanly: exit status 0, result success."""
        sd = self.system
        pid = self.start()
        self.assert_serves()
        sd.run("systemctl", "stop", "coserve.service", check=True)
        st = sd.show("coserve.service", "ActiveState", "Result", "ExecMainPID",
                     "ExecMainCode", "ExecMainStatus")
        self.assertEqual(st, {"ActiveState": "inactive", "Result": "success",
                              "ExecMainPID": str(pid), "ExecMainCode": "1",
                              "ExecMainStatus": "0"},
                         self.journal())  # 1: CLD_EXITED
        self.wait_journal(r"^stopped$")  # its last words

    def test_security(self):
        """systemd-analyze security rates the running unit 2.0 or lower."""
        sd = self.system
        self.start()
        out = sd.run("systemd-analyze", "security", "coserve.service").stdout
        m = re.search(r"Overall exposure level for coserve\.service: ([0-9.]+) (\S+)", out)
        self.assertIsNotNone(m, "no exposure level in:\n" + out)
        print("systemd-analyze security (running): coserve.service exposure %s %s"
              % (m.group(1), m.group(2)))
        self.assertLessEqual(float(m.group(1)), SECURITY_MAX, out)


if __name__ == "__main__":
    main()
