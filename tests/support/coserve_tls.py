"""TLS for the integration tests: certificates made with the openssl CLI
(an ECDSA P-256 CA and leaves signed by it), a raw HTTP/1.1 client over
TLS, a real ClientHello to send part of, and curl over HTTPS."""

import os
import re
import ssl
import subprocess

from coserve_test import IO_TIMEOUT_S, SLOWDOWN, HTTPConnection


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=60)


class Certs:
    """A CA and leaf certificates signed by it, in directory d."""

    def __init__(self, d, days=30):
        self.dir = d
        self.days = str(days)
        os.makedirs(d, exist_ok=True)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", self.days,
                "-subj", "/CN=coserve test CA", cwd=d)
        os.chmod(os.path.join(d, "ca.key"), 0o600)
        self.ca = os.path.join(d, "ca.pem")

    def leaf(self, name, sans, key_type="ec", ext=""):
        """(chain path, key path) for a leaf named name, valid for sans
        ("DNS:x" or "IP:1.2.3.4"), with an ECDSA P-256 key or (key_type
        "rsa") an RSA 2048 one, and ext's extension lines too; the chain
        is the leaf, then the CA."""
        d = self.dir
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "authorityKeyIdentifier=keyid\n%s" % (",".join(sans), ext))
        newkey = ["rsa:2048"] if key_type == "rsa" else \
            ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        openssl("req", "-newkey", *newkey, "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", self.days, "-extfile", name + ".ext",
                "-out", name + ".crt", cwd=d)
        key = os.path.join(d, name + ".key")
        os.chmod(key, 0o600)
        chain = os.path.join(d, name + ".pem")
        with open(chain, "wb") as out:
            for part in (name + ".crt", "ca.pem"):
                with open(os.path.join(d, part), "rb") as f:
                    out.write(f.read())
        return chain, key


def not_after(chain):
    """The earliest notAfter of the certificates in PEM file chain, from
    openssl x509 -enddate, as a Unix time."""
    with open(chain) as f:
        pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                          f.read(), re.S)
    times = []
    for pem in pems:
        p = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=pem,
                           capture_output=True, text=True, check=True, timeout=60)
        times.append(ssl.cert_time_to_seconds(p.stdout.strip().split("=", 1)[1]))
    return min(times)


def client_context(cafile, alpn=True):
    ctx = ssl.create_default_context(cafile=cafile)
    if alpn:
        ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class TLSConnection(HTTPConnection):
    """HTTPConnection over TLS: the same raw HTTP/1.1 client."""

    def __init__(self, host, port, ctx, server_hostname=None, timeout=IO_TIMEOUT_S,
                 sock=None, session=None):
        if sock is None:
            super().__init__(host, port, timeout=timeout)
        else:  # connected earlier
            sock.settimeout(timeout)
            self.sock, self.host, self.port = sock, host, port
            self.buf, self.eof = bytearray(), False
        try:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname,
                                        session=session)
        except BaseException:
            self.close()
            raise

    def common_name(self):
        cert = self.sock.getpeercert()
        return dict(x[0] for x in cert["subject"])["commonName"]

    def closed_by_peer(self, timeout=5.0):
        # What OpenSSL buffered is read before the socket is looked at.
        if self.sock.pending():
            self.fill()
        return super().closed_by_peer(timeout)


def client_hello(server_hostname="default.test"):
    """The bytes of a real ClientHello, for tests that send part of one."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def curl_https(url, out, cafile, resolve=None, extra=()):
    args = ["curl", "--silent", "--show-error", "--noproxy", "*", "--max-time",
            str(60 * SLOWDOWN), "--cacert", cafile, "-o", out,
            "-w", "%{http_code} %{http_version}"]
    if resolve:
        args += ["--resolve", resolve]
    p = subprocess.run(args + list(extra) + [url], capture_output=True, text=True,
                       timeout=90 * SLOWDOWN)
    return p
