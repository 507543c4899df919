"""README.md's "A session" is true: the commands of its console block run
against a fresh daemon and print what the block shows.

The block is parsed, not copied here: "$ " lines are commands, the lines
after each are what it prints. The daemon line (`./src/coserve ... &`) starts
$COSERVE in a temporary directory holding a copy of www/, on a free port
that replaces the block's in every later command and expected line; its
expected lines are the daemon's start-up log. `kill %1` sends it SIGTERM and
expects the rest of its log. Any other command runs in sh and its stdout is
compared. Only what varies from run to run is masked, on both sides: HTTP
dates, ETag values and absolute paths. A changed header, field order or log
line fails the test until the README shows it.
"""

import os
import re
import shlex
import shutil
import subprocess
import time
import unittest

from coserve_test import AS_ROOT, IO_TIMEOUT_S, READY_TIMEOUT_S, Server, main

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
README = os.path.join(SRCDIR, "README.md")
WWW = os.path.join(SRCDIR, "www")

SECTION = "## A session"
POLL_S = 0.05  # between looks at the daemon's log

MASKS = [
    (re.compile(r"\b[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\b"), "<date>"),
    (re.compile(r'"[0-9a-f]+-[0-9a-f]+"'), '"<etag>"'),
    # Not a URL's path, a media type or HTTP/1.1: a slash after a space.
    (re.compile(r"(?<![^\s])/\S*"), "<path>"),
    # Worked out from this machine's descriptor limit.
    (re.compile(r"(max_connections auto: )\d+"), r"\1<n>"),
    (re.compile(r"(open_file_cache_max auto: )\d+"), r"\1<n>"),
    # One reactor per CPU this machine lets it run on.
    (re.compile(r"\d+ reactors? \(auto\)"), "<n> reactors (auto)"),
]


# Lines the daemon prints only where it runs: without openat2 or cachestat
# (an old kernel, a seccomp sandbox, valgrind) it says which fallback it takes.
CIRCUMSTANTIAL = re.compile(r"^coserve: info: (openat2|cachestat) is unavailable")


def log_lines(srv):
    """The daemon's log lines that README's session can show."""
    return [line for line in srv.stderr_lines if not CIRCUMSTANTIAL.match(line)]


def mask(line):
    for regex, placeholder in MASKS:
        line = regex.sub(placeholder, line)
    return line


def open_connections(port):
    """The daemon's side of connections to port not yet closed by it
    (ESTABLISHED, SYN_RECV, CLOSE_WAIT), from /proc/net/tcp and tcp6."""
    found = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state in ("01", "03", "08"):
                found += 1
    return found


def session():
    """The "A session" console block as [(command, [expected lines])]."""
    with open(README) as f:
        text = f.read()
    start = text.index("\n" + SECTION + "\n")
    block = re.search(r"^```console\n(.*?)^```$", text[start:], re.M | re.S)
    steps = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


class Session(unittest.TestCase):

    def test_session(self):
        steps = session()
        self.assertGreater(len(steps), 2, "no session in README.md")
        for command, _ in steps[1:]:
            prog = shlex.split(command)[0]
            if prog != "kill" and shutil.which(prog) is None:
                self.skipTest("%s is not installed" % prog)
        srv, startup = None, 0
        for command, expected in steps:
            argv = shlex.split(command)
            if argv[0] == "./src/coserve":
                self.assertEqual(argv[-1], "&", command)
                address = argv[argv.index("-l") + 1]
                srv = self.start(argv[1:-1], address)
                swap = (address, "%s:%d" % (srv.host, srv.port))
                expected = [line.replace(*swap) for line in expected]
                if not AS_ROOT:
                    # Nobody to become, and nothing said about it.
                    expected = [line for line in expected
                                if not line.startswith("coserve: info: running as ")]
                startup = len(expected)
                actual = self.wait_lines(srv, startup)
            elif srv is None:
                self.fail("README.md: $ %s before the daemon starts" % command)
            elif command == "kill %1":
                expected = [line.replace(*swap) for line in expected]
                self.wait_closed(srv.port)
                srv.check_clean_exit()
                actual = log_lines(srv)[startup:]
            else:
                expected = [line.replace(*swap) for line in expected]
                command = command.replace(*swap)
                actual = self.run_shell(command, srv.tmp)
            self.assertEqual([mask(line) for line in actual],
                             [mask(line) for line in expected],
                             "README.md, output of: $ " + command)

    def start(self, args, address):
        """The daemon with args in a directory holding a copy of www/,
        on a free port in address's place."""
        host = address.rsplit(":", 1)[0]
        args = [host + ":0" if a == address else a for a in args]
        srv = Server(args=args, expect_listeners=args.count("-l"), start=False)
        self.addCleanup(srv.cleanup)
        shutil.copytree(WWW, os.path.join(srv.tmp, "www"))
        return srv.start()

    def wait_lines(self, srv, count):
        """The daemon's first count log lines, once there are that many
        (or all there are after READY_TIMEOUT_S)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(log_lines(srv)) < count and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return log_lines(srv)[:count]

    def wait_closed(self, port):
        """Waits until the daemon has closed every connection to port, as
        it has by the time a person types the next command: a client's
        close can still be on its way when the last command returns."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while open_connections(port) and time.monotonic() < deadline:
            time.sleep(POLL_S)

    def run_shell(self, command, cwd):
        p = subprocess.run(["sh", "-c", command], cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=IO_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, "$ %s\n%s" % (command, p.stderr.decode()))
        return p.stdout.decode("utf-8", "replace").replace("\r\n", "\n").splitlines()


if __name__ == "__main__":
    main()
