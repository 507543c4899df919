#!/usr/bin/env python3
"""Opens N keep-alive connections to 127.0.0.1:PORT, sends one GET PATH on
each and reads the whole response, then keeps them all open and idle.
Prints "ready OK FAILED" once every connection is idle (or failed), then
holds them until a line (or EOF) arrives on stdin, and closes them.

With --tls CAFILE each connection first completes a TLS handshake
(trusting CAFILE), then makes its request over TLS and stays idle. With
--h2 as well, the handshake offers only h2 by ALPN and the request is an
HTTP/2 stream (raw frames: the preface, SETTINGS and its ACK, one HEADERS
with static HPACK; no library needed).

Usage: idleconns.py [--tls CAFILE [--h2]] PORT N PATH [TIMEOUT_S]"""

import errno
import selectors
import socket
import ssl
import sys
import time

BATCH = 256  # connections in progress at once (listen backlogs are 511)


def frame(ftype, flags, sid, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def h2_request(path):
    """The preface, empty SETTINGS and GET path on stream 1: :method GET,
    :scheme https (static table), :path and :authority literal."""
    p, a = path.encode(), b"bench"
    block = b"\x82\x87" + b"\x44" + bytes([len(p)]) + p + b"\x41" + bytes([len(a)]) + a
    return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)
            + frame(1, 0x5, 1, block))  # END_STREAM | END_HEADERS


def h2_done(s, st):
    """Reads st["buf"]'s whole frames: ACKs the server's SETTINGS; True
    once stream 1 has ended."""
    buf = st["buf"]
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
        length, ftype, flags = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
        sid = int.from_bytes(buf[5:9], "big") & 0x7fffffff
        buf = buf[9 + length:]
        if ftype == 4 and not flags & 1:
            s.send(frame(4, 1, 0))
        elif ftype == 7:
            raise OSError("GOAWAY")
        elif sid == 1 and ftype in (0, 1) and flags & 1:
            st["buf"] = buf
            return True
    st["buf"] = buf
    return False


def main():
    argv = sys.argv[1:]
    ctx = None
    h2 = False
    if argv[:1] == ["--tls"]:
        ctx = ssl.create_default_context(cafile=argv[1])
        ctx.check_hostname = False
        argv = argv[2:]
    if argv[:1] == ["--h2"]:
        h2 = True
        ctx.set_alpn_protocols(["h2"])
        argv = argv[1:]
    port, total, path = int(argv[0]), int(argv[1]), argv[2]
    timeout_s = float(argv[3]) if len(argv) > 3 else 120.0
    request = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode()
    if h2:
        request = h2_request(path)
    sel = selectors.DefaultSelector()
    idle, failed, started, busy = [], 0, 0, 0
    deadline = time.monotonic() + timeout_s

    def begin():
        nonlocal started, busy
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            return False
        sel.register(s, selectors.EVENT_WRITE, {"buf": b"", "need": None, "hs": False})
        started += 1
        busy += 1
        return True

    while (started < total or busy) and time.monotonic() < deadline:
        while started < total and busy < BATCH:
            if not begin():
                failed += 1
                started += 1
        for key, events in sel.select(1.0):
            s, st = key.fileobj, key.data
            try:
                if events & selectors.EVENT_WRITE and not st["hs"]:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        raise OSError("connect failed")
                    if ctx:
                        sel.unregister(s)
                        s = ctx.wrap_socket(s, do_handshake_on_connect=False)
                        sel.register(s, selectors.EVENT_WRITE, st)
                    st["hs"] = True
                if ctx and st["hs"] is True:
                    try:
                        s.do_handshake()
                    except ssl.SSLWantReadError:
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    except ssl.SSLWantWriteError:
                        sel.modify(s, selectors.EVENT_WRITE, st)
                        continue
                if st["hs"] is True:
                    st["hs"] = "done"
                    if h2 and s.selected_alpn_protocol() != "h2":
                        raise OSError("no h2 by ALPN")
                    s.send(request)  # a few bytes into an empty socket buffer
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
                try:
                    data = s.recv(65536)
                except ssl.SSLWantReadError:  # a record without data (a session ticket)
                    continue
                if not data:
                    raise OSError("closed")
                st["buf"] += data
                if h2:
                    if h2_done(s, st):
                        sel.unregister(s)
                        idle.append(s)
                        busy -= 1
                    continue
                if st["need"] is None and b"\r\n\r\n" in st["buf"]:
                    head, _ = st["buf"].split(b"\r\n\r\n", 1)
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    st["need"] = len(head) + 4 + length
                if st["need"] is not None and len(st["buf"]) >= st["need"]:
                    sel.unregister(s)
                    idle.append(s)
                    busy -= 1
            except OSError:
                sel.unregister(s)
                s.close()
                failed += 1
                busy -= 1
    failed += busy
    print("ready %d %d" % (len(idle), failed), flush=True)
    sys.stdin.readline()
    for s in idle:
        s.close()


if __name__ == "__main__":
    main()
