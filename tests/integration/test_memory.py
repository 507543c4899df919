"""Memory per request is bounded whatever the file size: many clients that
stop reading a multi-gigabyte file hold a chunk buffer each, not the file.
The limit is gross (a broken server that reads ahead without backpressure
grows by gigabytes here); figures are printed, not asserted tightly."""

import os
import socket

from coserve_test import RSS_FACTOR, RSS_POOL, Server, ServerTestCase, main

GiB = 1 << 30
CLIENTS = 300
CHUNK = 65536
# Per stalled response: one chunk, the connection buffer, a touched stack,
# socket bookkeeping; 1 MiB each is far above that and far below a leak.
GROWTH_LIMIT = CLIENTS * (1 << 20) * RSS_FACTOR


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


class SlowClients(ServerTestCase):
    server_config = {"chunk_bytes": CHUNK, "max_connections": CLIENTS + 16,
                     "send_timeout_ms": 60000, **RSS_POOL}

    @classmethod
    def make_root(cls, root):
        with open(os.path.join(root, "huge.bin"), "wb") as f:
            f.truncate(10 * GiB)
        with open(os.path.join(root, "small.txt"), "wb") as f:
            f.write(b"small\n")

    def test_stalled_clients_hold_bounded_memory(self):
        pid = self.server.pid
        # Warm up so the baseline includes the pools and first allocations.
        self.assertEqual(self.get("/small.txt").status, 200)
        before = rss_bytes(pid)
        socks = []
        try:
            for _ in range(CLIENTS):
                s = socket.create_connection((self.server.host, self.server.port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                socks.append(s)
            # Every client gets the head and some of the body, then stops
            # reading: the server must stop at full socket buffers.
            for s in socks:
                s.settimeout(30)
                self.assertTrue(s.recv(1024).startswith(b"HTTP/1.1 200 "))
            # Still serving others while 300 responses are stuck.
            self.assertEqual(self.get("/small.txt").body, b"small\n")
            after = rss_bytes(pid)
        finally:
            for s in socks:
                s.close()
        growth = after - before
        print("memory: %d stalled clients on a 10 GiB file: rss %.1f -> %.1f MiB "
              "(+%.1f KiB per client, chunk_bytes=%d)"
              % (CLIENTS, before / 2**20, after / 2**20, growth / 1024 / CLIENTS, CHUNK))
        self.assertLess(growth, GROWTH_LIMIT)
        # And the daemon recovers: a fresh request still works.
        self.assertEqual(self.get("/small.txt").status, 200)


if __name__ == "__main__":
    main()
