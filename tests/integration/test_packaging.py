"""Packaging: the systemd units pass `systemd-analyze verify` and rate "OK"
(2.0 or lower) in `systemd-analyze security`; the man pages render without
warnings; the logrotate snippet parses; the Debian package builds, puts
every file where it belongs and passes lintian without errors; the RPM
builds and passes rpmlint (with packaging/rpm/coserve.rpmlintrc) without
errors. Both say ISC, carry the text of LICENSE and name one maintainer.

The packages are built from a distribution tree (`make distdir` into a
temporary directory, the tree `make dist` would pack), never in the source
or build tree, and without their own tests (nocheck) to keep this short.
Each test whose tool is missing is skipped and names the Debian package
that has it (./bootstrap installs them all). Inside a package build
(COSERVE_SKIP_PACKAGING_TESTS set by debian/rules and the spec) all of it
is skipped: the package's own `make check` must not build packages.
"""

import glob
import gzip
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from coserve_test import COSERVE, WRAPPED, main

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.path.dirname(os.path.dirname(COSERVE)) if COSERVE else ""
UNITS = os.path.join(SRCDIR, "packaging", "systemd")
SERVICE = os.path.join(UNITS, "coserve.service")
SOCKET = os.path.join(UNITS, "coserve.socket")
MAN_PAGES = [os.path.join(SRCDIR, "docs", "coserve.8"),
             os.path.join(SRCDIR, "docs", "coserve.conf.5")]
LOGROTATE = os.path.join(SRCDIR, "packaging", "logrotate", "coserve")
LICENSE = os.path.join(SRCDIR, "LICENSE")
RPMLINTRC = os.path.join(SRCDIR, "packaging", "rpm", "coserve.rpmlintrc")

MAINTAINER = "coserve maintainers <coserve-maintainers@example.org>"

SECURITY_MAX = 2.0  # "OK" in systemd-analyze security
# Bounds on a hang only: on a loaded 2-core machine lintian took over
# 120 s and a package build over 430 s.
TOOL_TIMEOUT_S = 600  # systemd-analyze, lintian, groff
BUILD_TIMEOUT_S = 1800  # one package build

# program -> the Debian package that provides it.
PACKAGES = {
    "systemd-analyze": "systemd",
    "groff": "groff-base",
    "logrotate": "logrotate",
    "dpkg-buildpackage": "dpkg-dev",
    "dh": "debhelper",
    "lintian": "lintian",
    "rpmbuild": "rpm",
    "rpmlint": "rpmlint",
    "make": "make",
}

# Where the Debian package must put things (paths inside the package).
DEB_FILES = [
    "usr/sbin/coserve",
    "etc/coserve/coserve.conf",
    "etc/logrotate.d/coserve",
    "lib/systemd/system/coserve.service",
    "lib/systemd/system/coserve.socket",
    "usr/lib/sysusers.d/coserve.conf",
    "usr/share/man/man8/coserve.8.gz",
    "usr/share/man/man5/coserve.conf.5.gz",
    "usr/share/coserve/www/index.html",
    "usr/share/doc/coserve/copyright",
    "usr/share/doc/coserve/configuration.md.gz",
]
DEB_CONFFILES = ["/etc/coserve/coserve.conf", "/etc/logrotate.d/coserve"]

RPM_FILES = [
    "/usr/sbin/coserve",
    "/etc/coserve/coserve.conf",
    "/etc/logrotate.d/coserve",
    "/usr/lib/systemd/system/coserve.service",
    "/usr/lib/systemd/system/coserve.socket",
    "/usr/lib/sysusers.d/coserve.conf",
    "/usr/share/man/man8/coserve.8",
    "/usr/share/man/man5/coserve.conf.5",
    "/usr/share/coserve/www/index.html",
]
RPM_CONFFILES = ["/etc/coserve/coserve.conf", "/etc/logrotate.d/coserve"]


def licence():
    """LICENSE as (its copyright line, the words of the permission notice)."""
    with open(LICENSE) as f:
        first, _, notice = f.read().partition("\n")
    return first, notice.split()


def deb822(text):
    """The paragraphs of a Debian control-style file as [{field: value}];
    a continued value keeps its lines, each stripped of one leading space."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields, name = {}, None
        for line in block.splitlines():
            if line.startswith((" ", "\t")):
                fields[name] += "\n" + line[1:]
            else:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
        paragraphs.append(fields)
    return paragraphs


def need(testcase, *programs):
    """Skips the test, naming the Debian package, unless every program is
    installed."""
    for prog in programs:
        if shutil.which(prog) is None:
            testcase.skipTest("%s is not installed (Debian package %s)"
                              % (prog, PACKAGES.get(prog, prog)))


def tool_env():
    """Our environment without the calling make's jobserver and the
    sanitizer settings meant for the daemon under test."""
    env = dict(os.environ)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
                 "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                 "CK_DEFAULT_TIMEOUT", "DEB_BUILD_OPTIONS"):
        env.pop(name, None)
    env["LC_ALL"] = "C.UTF-8"
    env["COSERVE_SKIP_PACKAGING_TESTS"] = "1"
    return env


def run(argv, timeout=TOOL_TIMEOUT_S, env=None, **kw):
    """Runs argv and returns (exit status, stdout + stderr as text)."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=timeout,
                       env=env or tool_env(), **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


def unprivileged():
    """A preexec_fn that becomes nobody when we are root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        return None

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def unit_directives(path):
    """The unit file's Key=value lines as (section, key) -> [values]."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


class Units(unittest.TestCase):
    """The unit files as systemd sees them."""

    def test_verify(self):
        """systemd-analyze verify: both units load, the commands they name
        exist and, when man is installed, so do their Documentation= man
        pages (ours, from a MANPATH of the sources)."""
        need(self, "systemd-analyze")
        tmp = tempfile.mkdtemp(prefix="coserve-units-")
        self.addCleanup(shutil.rmtree, tmp)
        # The packaged binary is /usr/sbin/coserve; verify needs it to exist,
        # so the copies name the one just built.
        for src in (SERVICE, SOCKET):
            with open(src) as f:
                text = f.read().replace("/usr/sbin/coserve", COSERVE)
            with open(os.path.join(tmp, os.path.basename(src)), "w") as f:
                f.write(text)
        env = tool_env()
        man = "--man=no"
        if shutil.which("man"):
            for page in MAN_PAGES:
                section = page.rsplit(".", 1)[1]
                os.makedirs(os.path.join(tmp, "man", "man" + section), exist_ok=True)
                shutil.copy(page, os.path.join(tmp, "man", "man" + section))
            env["MANPATH"] = os.path.join(tmp, "man")
            man = "--man=yes"
        else:
            print("man is not installed (Debian package man-db): "
                  "Documentation= not checked")
        rc, out = run(["systemd-analyze", "verify", man,
                       os.path.join(tmp, "coserve.service"),
                       os.path.join(tmp, "coserve.socket")], env=env)
        print(out, end="")
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.strip(), "", "systemd-analyze verify has complaints")

    def test_security(self):
        """systemd-analyze security rates coserve.service 2.0 or lower."""
        need(self, "systemd-analyze")
        rc, out = run(["systemd-analyze", "security", "--offline=yes", SERVICE])
        m = re.search(r"Overall exposure level for coserve\.service: ([0-9.]+) (\S+)", out)
        self.assertIsNotNone(m, "no exposure level in:\n" + tail(out))
        score = float(m.group(1))
        print("systemd-analyze security: coserve.service exposure %.1f %s"
              % (score, m.group(2)))
        # What still counts against it, for the log.
        for line in out.splitlines():
            if line.startswith("\u2717"):
                print("  " + " ".join(line.split()))
        self.assertLessEqual(score, SECURITY_MAX, tail(out))

    def test_directives(self):
        """The service is what the daemon is written for: notify, a config
        check before start, SIGHUP to reload, the watchdog, a sandbox."""
        d = unit_directives(SERVICE)
        s = lambda key: d.get(("Service", key), [])
        self.assertEqual(s("Type"), ["notify"])
        self.assertTrue(any(" -t " in v for v in s("ExecStartPre")), s("ExecStartPre"))
        self.assertTrue(any("-HUP $MAINPID" in v for v in s("ExecReload")), s("ExecReload"))
        self.assertEqual(s("Restart"), ["on-failure"])
        self.assertTrue(s("WatchdogSec"))
        self.assertEqual(s("ProtectSystem"), ["strict"])
        self.assertEqual(s("LogsDirectory"), ["coserve"])
        sock = unit_directives(SOCKET)
        self.assertTrue(sock.get(("Socket", "ListenStream")))
        self.assertEqual(sock.get(("Install", "WantedBy")), ["sockets.target"])


class Docs(unittest.TestCase):
    """The man pages and the logrotate snippet."""

    def test_man_pages(self):
        """groff renders both man pages without a warning."""
        need(self, "groff")
        for page in MAN_PAGES:
            rc, out = run(["groff", "-man", "-Tutf8", "-ww", "-z", page])
            self.assertEqual((rc, out), (0, ""), page)
        if shutil.which("mandoc"):
            rc, out = run(["mandoc", "-Tlint", "-Wwarning"] + MAN_PAGES)
            self.assertEqual((rc, out), (0, ""))

    def test_every_key_documented(self):
        """Every key config.c accepts has an entry in coserve.conf.5 (a
        .TP paragraph; names is in VIRTUAL HOSTS) and a row in
        docs/configuration.md's tables."""
        with open(os.path.join(SRCDIR, "src", "config.c")) as f:
            source = f.read()
        table = source[source.index("static const struct key keys[] = {"):]
        keys = re.findall(r'\{ "([a-z_0-9]+)",', table[:table.index("\n};")])
        self.assertIn("redirect_https", keys)
        with open(MAN_PAGES[1]) as f:
            man = f.read()
        entries = set(re.findall(r"^\.TP\n\.B (\S+)$", man, re.M)) | {"names"}
        self.assertEqual([k for k in keys if k not in entries], [], MAN_PAGES[1])
        with open(os.path.join(SRCDIR, "docs", "configuration.md")) as f:
            md = f.read()
        self.assertEqual([k for k in keys if "| `%s` |" % k not in md], [],
                         "docs/configuration.md")

    def test_logrotate(self):
        """logrotate parses the snippet (in debug mode: nothing rotated)."""
        need(self, "logrotate")
        tmp = tempfile.mkdtemp(prefix="coserve-logrotate-")
        self.addCleanup(shutil.rmtree, tmp)
        rc, out = run(["logrotate", "-d", "-s", os.path.join(tmp, "state"), LOGROTATE])
        self.assertEqual(rc, 0, out)
        self.assertNotIn("error", out.lower(), out)


def make_distdir(testcase, parent):
    """The distribution tree (what `make dist` packs) made in parent by the
    build tree's `make distdir`; returns its path."""
    need(testcase, "make")
    values = {}
    with open(os.path.join(BUILDDIR, "Makefile")) as f:
        for line in f:
            m = re.match(r"^(PACKAGE_TARNAME|VERSION) = (\S+)$", line)
            if m:
                values[m.group(1)] = m.group(2)
    distdir = os.path.join(parent, "%s-%s" % (values["PACKAGE_TARNAME"], values["VERSION"]))
    rc, out = run(["make", "-s", "-C", BUILDDIR, "distdir=" + distdir, "distdir"],
                  timeout=BUILD_TIMEOUT_S)
    testcase.assertEqual(rc, 0, "make distdir:\n" + tail(out))
    return distdir


class DebianPackage(unittest.TestCase):
    """packaging/debian/build.sh builds the .deb from a distribution tree;
    it is unpacked with dpkg -x into a scratch root and checked there."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="coserve-deb-")
        os.chmod(cls.tmp, 0o755)  # the daemon checks its config as nobody
        cls.build_error = None
        cls.deb = None

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def build(self):
        """Builds once for the class; later tests reuse the result (or the
        failure)."""
        need(self, "dpkg-buildpackage", "dh", "make")
        cls = type(self)
        if cls.deb is None and cls.build_error is None:
            try:
                cls.deb = self._build()
            except AssertionError as e:
                cls.build_error = str(e)
        if cls.build_error:
            self.fail(cls.build_error)

    def _build(self):
        cls = type(self)
        distdir = make_distdir(self, cls.tmp)
        env = tool_env()
        env["DEB_BUILD_OPTIONS"] = "nocheck parallel=2"
        env["TMPDIR"] = cls.tmp
        out_dir = os.path.join(cls.tmp, "out")
        start = time.monotonic()
        rc, out = run(["sh", os.path.join(distdir, "packaging", "debian", "build.sh"),
                       "-o", out_dir], timeout=BUILD_TIMEOUT_S, env=env)
        print("build.sh (dpkg-buildpackage): %.1f s" % (time.monotonic() - start))
        shutil.rmtree(distdir, ignore_errors=True)
        debs = glob.glob(os.path.join(out_dir, "coserve_*.deb"))
        self.assertTrue(rc == 0 and len(debs) == 1,
                        "build.sh exited %d:\n%s" % (rc, tail(out, 80)))
        cls.changes = glob.glob(os.path.join(out_dir, "*.changes"))[0]
        cls.root = os.path.join(cls.tmp, "root")
        rc, out = run(["dpkg-deb", "-x", debs[0], cls.root])
        self.assertEqual(rc, 0, "dpkg-deb -x: " + out)
        return debs[0]

    def test_files(self):
        """Every file lands where Debian wants it."""
        self.build()
        missing = [p for p in DEB_FILES if not os.path.isfile(os.path.join(self.root, p))]
        self.assertEqual(missing, [])
        self.assertTrue(os.access(os.path.join(self.root, "usr/sbin/coserve"), os.X_OK))
        # The packaged units are the sources: built for /usr and /etc.
        for name in ("coserve.service", "coserve.socket"):
            with open(os.path.join(self.root, "lib/systemd/system", name)) as got, \
                    open(os.path.join(UNITS, name)) as want:
                self.assertEqual(got.read(), want.read(), name)
        with open(os.path.join(self.root, "etc/coserve/coserve.conf")) as f:
            self.assertIn('root = "/usr/share/coserve/www";', f.read())

    def test_control(self):
        """Conffiles, the user, and a service enabled but not started."""
        self.build()
        ctl = os.path.join(self.tmp, "control")
        rc, out = run(["dpkg-deb", "-e", self.deb, ctl])
        self.assertEqual(rc, 0, out)
        with open(os.path.join(ctl, "conffiles")) as f:
            self.assertEqual(sorted(f.read().split()), sorted(DEB_CONFFILES))
        with open(os.path.join(ctl, "postinst")) as f:
            postinst = f.read()
        self.assertIn("systemd-sysusers", postinst)
        self.assertIn("deb-systemd-helper enable 'coserve.service'", postinst)
        self.assertNotIn("deb-systemd-helper enable 'coserve.socket'",
                         postinst.split("was-enabled 'coserve.socket'")[0])
        # Started never; restarted on upgrade only if running (try-restart).
        self.assertNotRegex(postinst, r"deb-systemd-invoke (start|restart) ")
        self.assertNotIn("_dh_action=restart", postinst)
        rc, depends = run(["dpkg-deb", "-f", self.deb, "Depends"])
        self.assertIn("procps", depends)  # /bin/kill for ExecReload

    def test_licence(self):
        """The maintainer is the same everywhere; the machine-readable
        copyright file says ISC, names LICENSE's holder and carries its
        text."""
        self.build()
        rc, out = run(["dpkg-deb", "-f", self.deb, "Maintainer"])
        self.assertEqual((rc, out.strip()), (0, MAINTAINER))
        with gzip.open(os.path.join(self.root, "usr/share/doc/coserve/"
                                    "changelog.Debian.gz"), "rt") as f:
            trailers = re.findall(r"^ -- (.*?)  ", f.read(), re.M)
        self.assertEqual(set(trailers), {MAINTAINER})
        with open(os.path.join(self.root, "usr/share/doc/coserve/copyright")) as f:
            header, *paragraphs = deb822(f.read())
        self.assertEqual(header["Format"],
                         "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/")
        self.assertEqual(header["Upstream-Contact"], MAINTAINER)
        files = [p for p in paragraphs if "Files" in p]
        self.assertEqual([(p["Files"], p["License"]) for p in files], [("*", "ISC")])
        holder, notice = licence()
        self.assertEqual("Copyright (c) " + files[0]["Copyright"], holder)
        text = [p["License"] for p in paragraphs if "Files" not in p]
        self.assertEqual(len(text), 1, paragraphs)
        name, _, body = text[0].partition("\n")
        self.assertEqual(name, "ISC")
        self.assertEqual([w for w in body.split() if w != "."], notice)

    def test_binary_runs(self):
        """The packaged daemon runs and checks the packaged configuration,
        with its root moved into the scratch tree."""
        self.build()
        binary = os.path.join(self.root, "usr/sbin/coserve")
        rc, out = run([binary, "-V"])
        self.assertEqual(rc, 0, out)
        self.assertTrue(out.startswith("coserve "), out)
        with open(os.path.join(self.root, "etc/coserve/coserve.conf")) as f:
            conf = f.read().replace('"/usr/share/coserve/www"',
                                    '"%s/usr/share/coserve/www"' % self.root)
        path = os.path.join(self.tmp, "check.conf")
        with open(path, "w") as f:
            f.write(conf)
        # As the unit runs it: as an unprivileged user (root without a
        # `user` is refused).
        rc, out = run([binary, "-t", "-c", path], preexec_fn=unprivileged())
        self.assertEqual(rc, 0, out)
        self.assertIn("configuration ok", out)

    def test_lintian(self):
        """lintian reports no errors (warnings and notes are printed)."""
        self.build()
        need(self, "lintian")
        start = time.monotonic()
        rc, out = run(["lintian", "--info", "--display-info", self.changes],
                      timeout=TOOL_TIMEOUT_S)
        print("lintian: %.1f s" % (time.monotonic() - start))
        tags = [line for line in out.splitlines() if re.match(r"^[EWIXPO]: ", line)]
        for line in tags:
            print("  " + line)
        errors = [line for line in tags if line.startswith("E: ")]
        self.assertEqual(errors, [], out)


class RpmPackage(unittest.TestCase):
    """packaging/rpm/coserve.spec builds with rpmbuild from a `make dist`
    tarball."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="coserve-rpm-")
        cls.build_error = None
        cls.rpm = None

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def build(self):
        """Builds once for the class, as DebianPackage does."""
        need(self, "rpmbuild", "make")
        cls = type(self)
        if cls.rpm is None and cls.build_error is None:
            try:
                cls.rpm = self._build()
            except AssertionError as e:
                cls.build_error = str(e)
        if cls.build_error:
            self.fail(cls.build_error)

    def _build(self):
        topdir = os.path.join(self.tmp, "rpm")
        os.makedirs(os.path.join(topdir, "SOURCES"))
        distdir = make_distdir(self, self.tmp)
        tarball = os.path.join(topdir, "SOURCES", os.path.basename(distdir) + ".tar.gz")
        rc, out = run(["tar", "-C", self.tmp, "-czf", tarball, os.path.basename(distdir)])
        self.assertEqual(rc, 0, out)
        spec = os.path.join(distdir, "packaging", "rpm", "coserve.spec")
        start = time.monotonic()
        # --nodeps: Debian's rpm database knows none of the BuildRequires.
        rc, out = run(["rpmbuild", "--nodeps", "--without", "check",
                       "--define", "_topdir " + topdir,
                       "--define", "_smp_mflags -j2", "-bb", spec],
                      timeout=BUILD_TIMEOUT_S)
        print("rpmbuild: %.1f s" % (time.monotonic() - start))
        shutil.rmtree(distdir, ignore_errors=True)
        self.assertEqual(rc, 0, tail(out, 80))
        rpms = glob.glob(os.path.join(topdir, "RPMS", "*", "coserve-[0-9]*.rpm"))
        self.assertEqual(len(rpms), 1, rpms)
        return rpms[0]

    def test_files(self):
        self.build()
        rc, files = run(["rpm", "-qlp", self.rpm])
        self.assertEqual(rc, 0, files)
        missing = [p for p in RPM_FILES if p not in files.split()]
        self.assertEqual(missing, [])
        rc, conf = run(["rpm", "-qcp", self.rpm])
        self.assertEqual(sorted(conf.split()), sorted(RPM_CONFFILES))

    def test_licence(self):
        """License: ISC, LICENSE installed as the licence file, and the
        maintainer in the changelog."""
        self.build()
        rc, out = run(["rpm", "-qp", "--queryformat",
                       "%{LICENSE}\\n%{CHANGELOGNAME}\\n", self.rpm])
        self.assertEqual(rc, 0, out)
        lic, changelog = out.splitlines()
        self.assertEqual(lic, "ISC")
        self.assertRegex(changelog, "^" + re.escape(MAINTAINER) + r" - \S+$")
        rc, out = run(["rpm", "-qLp", self.rpm])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"^/usr/share/licenses/coserve[^/]*/LICENSE$")

    def test_rpmlint(self):
        """rpmlint reports no errors past the filters of coserve.rpmlintrc,
        each of which says why (warnings are printed)."""
        self.build()
        need(self, "rpmlint")
        rc, out = run(["rpmlint", "-r", RPMLINTRC, self.rpm])
        tags = [line for line in out.splitlines() if re.match(r"^coserve\S*: [EW]: ", line)]
        for line in tags:
            print("  " + line)
        errors = [line for line in tags if ": E: " in line]
        self.assertEqual(errors, [], out)
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    if os.environ.get("COSERVE_SKIP_PACKAGING_TESTS"):
        print("inside a package build (COSERVE_SKIP_PACKAGING_TESTS): skipping")
        sys.exit(77)
    if WRAPPED:
        print("no daemon here runs under $COSERVE_WRAPPER (make check-valgrind): skipping")
        sys.exit(77)
    main()
