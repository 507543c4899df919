#!/usr/bin/env python3
"""Slow-storage load: N_SLOW connections each fetch one slow file (made slow
by slowfs in the server) over and over, while FAST_CONNS connections fetch
ordinary files in a closed loop. For DURATION_S seconds; then prints one
JSON line with the fast requests' latencies. A fast request still waiting
when time is up counts with the time it has waited so far (a lower bound),
so a server that stalls for the whole run shows a max of the whole run,
not an empty histogram.

Usage: slowload.py PORT FAST_LIST SLOW_LIST N_SLOW FAST_CONNS DURATION_S"""

import gc
import json
import selectors
import socket
import sys
import time


class Conn:
    def __init__(self, paths, fast):
        self.paths, self.fast, self.next = paths, fast, 0
        self.sock = None
        self.start_ns = None
        self.buf = b""
        self.need = None


def main():
    port = int(sys.argv[1])
    fast_paths = open(sys.argv[2]).read().split()
    slow_paths = open(sys.argv[3]).read().split()
    n_slow, fast_conns, duration_s = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    gc.disable()  # no collector pauses inside the latencies we measure
    sel = selectors.DefaultSelector()
    lat_us, slow_done, errors, reconnects = [], 0, 0, 0

    def send(c):
        path = c.paths[c.next % len(c.paths)]
        c.next += 1
        c.buf, c.need = b"", None
        c.start_ns = time.monotonic_ns()
        c.sock.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode())

    def connect(c):
        c.sock = socket.create_connection(("127.0.0.1", port))
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(c.sock, selectors.EVENT_READ, c)

    conns = [Conn([slow_paths[i]], False) for i in range(n_slow)]
    conns += [Conn(fast_paths[i::fast_conns], True) for i in range(fast_conns)]
    for c in conns:
        connect(c)
    for c in conns:
        send(c)
    end_ns = time.monotonic_ns() + int(duration_s * 1e9)
    while True:
        now = time.monotonic_ns()
        if now >= end_ns:
            break
        for key, _ in sel.select((end_ns - now) / 1e9):
            c = key.data
            try:
                data = c.sock.recv(262144)
            except OSError:
                data = b""
            if not data:
                errors += 1
                sel.unregister(c.sock)
                c.sock.close()
                connect(c)
                reconnects += 1
                send(c)
                continue
            c.buf += data
            if c.need is None and b"\r\n\r\n" in c.buf:
                head = c.buf.split(b"\r\n\r\n", 1)[0]
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                c.need = len(head) + 4 + length
            if c.need is not None and len(c.buf) >= c.need:
                done_ns = time.monotonic_ns()
                if c.fast:
                    lat_us.append((done_ns - c.start_ns) / 1000)
                else:
                    slow_done += 1
                send(c)
    now = time.monotonic_ns()
    waiting = [(now - c.start_ns) / 1000 for c in conns if c.fast]
    # Every fast connection has one request outstanding at the end; those
    # that waited longer than any completed request did are a stall cut short.
    longest_done = max(lat_us) if lat_us else 0
    censored = [w for w in waiting if w > longest_done]
    completed = len(lat_us)
    lat_us += censored
    lat_us.sort()

    def pct(p):
        return lat_us[min(len(lat_us) - 1, int(p / 100.0 * len(lat_us)))] if lat_us else 0
    print(json.dumps({
        "fast_requests": completed, "fast_p50_us": pct(50), "fast_p99_us": pct(99),
        "fast_max_us": lat_us[-1] if lat_us else 0, "fast_cut_short": len(censored),
        "fast_max_is_lower_bound": bool(censored),
        "slow_completed": slow_done, "errors": errors, "duration_s": duration_s,
    }), flush=True)
    for c in conns:
        c.sock.close()


if __name__ == "__main__":
    main()
