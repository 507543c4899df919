#!/usr/bin/env python3
"""HTTP/2 slow storage on one connection: first a warm-up connection
fetches the FAST_LIST files once (the page cache and the server's own
caches hold them, as they would for a busy site); then, over TLS (ALPN
h2), one stream asks for a slow file (made slow by slowfs in the server); once it is sent,
the FAST_LIST files are asked for on other streams of the same connection,
as many at once as the server's SETTINGS_MAX_CONCURRENT_STREAMS leaves
room for. For at most DURATION_S seconds; then prints one JSON line with
the fast streams' latencies: from when the client wanted each, which for
those sent with the server's first SETTINGS is when the slow stream went
out (a server that reads that stream's request and waits on its file
before it sends its SETTINGS holds them as surely as one that reads them
too), and for the others their own request. A fast stream
still open when time is up counts with the time it has waited (a lower
bound), so a server whose streams all wait behind the slow one shows the
whole run. Raw frames (static HPACK for the requests; responses are only
framed, never decoded): no library needed.

Usage: h2slow.py PORT CAFILE FAST_LIST SLOW_PATH DURATION_S"""

import json
import select
import socket
import ssl
import sys
import time

WINDOW = 2 ** 31 - 1


def frame(ftype, flags, sid, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def get(sid, path):
    p, a = path.encode(), b"bench"
    # :method GET, :scheme https; :path and :authority literal, not indexed
    block = b"\x82\x87\x04" + bytes([len(p)]) + p + b"\x01" + bytes([len(a)]) + a
    return frame(1, 0x5, sid, block)  # END_STREAM | END_HEADERS


def run(port, ctx, fast, slow_path, duration_s):
    """The fast files on one connection, after slow_path's stream if it is
    not None: the results' dict."""
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if sock.selected_alpn_protocol() != "h2":
        sys.exit("no h2 by ALPN")
    # Windows that never close: nothing waits on flow control.
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                 + frame(4, 0, 0, (4).to_bytes(2, "big") + WINDOW.to_bytes(4, "big"))
                 + frame(8, 0, 0, (WINDOW - 65535).to_bytes(4, "big")))
    buf, max_streams, started = b"", None, {}
    slow_sid, next_sid, next_fast = 1, 3, 0
    lat_us, errors, slow_done, goaway = [], 0, slow_path is None, False
    wanted = time.monotonic()
    if slow_path is not None:
        sock.sendall(get(slow_sid, slow_path))
    end = time.monotonic() + duration_s
    while time.monotonic() < end and not goaway and (next_fast < len(fast) or len(started) > 0):
        if max_streams is not None:
            room = max_streams - len(started) - (0 if slow_done else 1)
            out = b""
            while room > 0 and next_fast < len(fast):
                out += get(next_sid, fast[next_fast])
                started[next_sid] = wanted if wanted is not None else time.monotonic()
                next_sid += 2
                next_fast += 1
                room -= 1
            if out:
                sock.sendall(out)
            wanted = None  # from now on, each stream's own request
        if not sock.pending():
            r, _, _ = select.select([sock], [], [], max(0.0, end - time.monotonic()))
            if not r:
                break
        try:
            data = sock.recv(65536)
        except ssl.SSLWantReadError:
            continue
        if not data:
            break
        buf += data
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            length, ftype, flags = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
            sid = int.from_bytes(buf[5:9], "big") & 0x7fffffff
            payload, buf = buf[9:9 + length], buf[9 + length:]
            if ftype == 4 and not flags & 1:
                settings = {int.from_bytes(payload[i:i + 2], "big"): int.from_bytes(payload[i + 2:i + 6], "big")
                            for i in range(0, len(payload), 6)}
                if max_streams is None:
                    max_streams = min(settings.get(3, 100), 100)
                sock.sendall(frame(4, 1, 0))
            elif ftype == 6 and not flags & 1:
                sock.sendall(frame(6, 1, 0, payload))
            elif ftype == 7:
                goaway = True
            elif ftype == 3 and sid in started:
                errors += 1
                del started[sid]
            elif ftype in (0, 1) and flags & 1:
                if sid == slow_sid:
                    slow_done = True
                elif sid in started:
                    lat_us.append((time.monotonic() - started.pop(sid)) * 1e6)
    now = time.monotonic()
    completed = len(lat_us)
    censored = [(now - t) * 1e6 for t in started.values()]
    never = len(fast) - next_fast  # not even sent: waited the whole run
    lat_us += censored + [duration_s * 1e6] * never
    lat_us.sort()

    def pct(p):
        return lat_us[min(len(lat_us) - 1, int(p / 100.0 * len(lat_us)))] if lat_us else 0
    sock.close()
    return {
        "fast_requests": completed, "fast_p50_us": pct(50), "fast_p99_us": pct(99),
        "fast_max_us": lat_us[-1] if lat_us else 0, "fast_cut_short": len(censored) + never,
        "fast_max_is_lower_bound": bool(censored or never), "slow_completed": int(slow_done),
        "errors": errors, "duration_s": duration_s, "max_streams": max_streams,
    }


def main():
    port, cafile, fast_list, slow_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    duration_s = float(sys.argv[5])
    fast = open(fast_list).read().split()
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    ctx.set_alpn_protocols(["h2"])
    warm = run(port, ctx, fast, None, 30.0)
    if warm["fast_requests"] != len(fast):
        sys.exit("the warm-up fetched %d of %d files" % (warm["fast_requests"], len(fast)))
    print(json.dumps(run(port, ctx, fast, slow_path, duration_s)), flush=True)


if __name__ == "__main__":
    main()
