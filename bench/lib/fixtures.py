"""Deterministic fixtures for the benchmark: every byte comes from a seeded
generator, so two machines (or two runs) serve the same tree. Written once
into the work directory and reused while its stamp matches; fsync'd so the
cold-cache run can evict the pages with posix_fadvise(DONTNEED), and the
truly cold run can drop them with the dentries and inodes."""

import hashlib
import os
import random

SEED = 20261125
VERSION = "2"  # bump when the layout below changes
LARGE_BYTES = 256 * 1024 * 1024
SMALL_COUNT = 10000
SMALL_MIN_BYTES, SMALL_MAX_BYTES = 512, 8192
SLOW_COUNT = 100
SLOW_MARKER = "SLOW_"  # slowfs delays any path (or fd) containing this
NO_MARKER = "SLOWFS_MATCHES_NO_FIXTURE"  # for slowfs's marker when only lookups are slow
FAST_COUNT = 100  # files fetched while the slow ones stall

FIXED = {"1k.bin": 1024, "16k.bin": 16 * 1024, "64k.bin": 64 * 1024}


def _small_path(i):
    return "small/%02d/f%05d.bin" % (i % 100, i)


def _write(root, rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        os.fsync(f.fileno())


def small_paths():
    return [_small_path(i) for i in range(SMALL_COUNT)]


def slow_paths():
    return ["slow/%s%03d.bin" % (SLOW_MARKER, i) for i in range(SLOW_COUNT)]


def fast_paths():
    return ["fast/f%03d.bin" % i for i in range(FAST_COUNT)]


def all_files():
    """Every fixture file, relative to the root."""
    return (list(FIXED) + ["large.bin"] + small_paths() + slow_paths() +
            fast_paths())


def ensure(workdir):
    """Creates (or reuses) the fixture tree; returns its root."""
    root = os.path.join(workdir, "fixtures")
    stamp = os.path.join(root, ".stamp")
    want = "%s %d" % (VERSION, SEED)
    lists = {"small.list": small_paths(), "slow.list": slow_paths(),
             "fast.list": fast_paths()}
    for name, paths in lists.items():
        with open(os.path.join(workdir, name), "w") as f:
            f.write("".join("/" + p + "\n" for p in paths))
    if os.path.exists(stamp) and open(stamp).read() == want:
        return root
    rng = random.Random(SEED)
    for name, size in FIXED.items():
        _write(root, name, rng.randbytes(size))
    path = os.path.join(root, "large.bin")
    with open(path, "wb") as f:
        for _ in range(LARGE_BYTES // (1 << 20)):
            f.write(rng.randbytes(1 << 20))
        os.fsync(f.fileno())
    for rel in small_paths():
        _write(root, rel, rng.randbytes(rng.randint(SMALL_MIN_BYTES, SMALL_MAX_BYTES)))
    for rel in slow_paths() + fast_paths():
        _write(root, rel, rng.randbytes(4096))
    os.sync()
    with open(stamp, "w") as f:
        f.write(want)
    return root


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sample():
    """The files whose bodies every server must return byte-exact."""
    rng = random.Random(SEED + 1)
    return (list(FIXED) + ["large.bin"] + rng.sample(small_paths(), 20) +
            rng.sample(slow_paths(), 2) + rng.sample(fast_paths(), 2))


def evict(root):
    """Drops every fixture file's pages from the page cache (the files were
    fsync'd, so DONTNEED really evicts). Returns how many files."""
    n = 0
    for rel in all_files():
        fd = os.open(os.path.join(root, rel), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        n += 1
    return n


DROP_CACHES = "/proc/sys/vm/drop_caches"


def drop_caches_unavailable():
    """None when drop_caches() can work here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    try:
        open(DROP_CACHES, "w").close()  # opening drops nothing: only a write does
    except OSError as e:
        return "cannot write %s: %s" % (DROP_CACHES, e.strerror)
    return None


def drop_caches():
    """Drops every clean page, dentry and inode the kernel caches, the whole
    machine's (what posix_fadvise cannot: the lookups go to storage too);
    the sync first makes every dirty page clean."""
    os.sync()
    with open(DROP_CACHES, "w") as f:
        f.write("3")


def tls_certificate(workdir):
    """The one certificate every server presents over TLS: ECDSA P-256,
    self-signed for IP 127.0.0.1, made once with the openssl CLI into
    WORKDIR/tls, beside the served tree (not in it). Returns (certificate,
    key) paths."""
    import subprocess
    d = os.path.join(workdir, "tls")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    if os.path.exists(cert) and os.path.exists(key):
        return cert, key
    os.makedirs(d, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key + ".new", "-out", cert, "-days", "3650",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(key + ".new", 0o600)  # coserve warns about a key others can read
    os.rename(key + ".new", key)
    return cert, key
