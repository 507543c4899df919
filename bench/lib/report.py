"""Turns the raw results of bench/run into the table (Markdown, printed and
written into docs/benchmarks.md between markers), the targets of issues 13
and 14 (ratio, met or not, or why not measured), and the PNG chart drawn by
gnuplot."""

import os
import statistics
import subprocess

from servers import NAMES

# workload key -> (title, primary metric, unit, higher is better)
WORKLOADS = [
    ("1k", "1 KiB file, 64 keep-alive connections", "rps", "req/s", True),
    ("64k", "64 KiB file, 64 keep-alive connections", "rps", "req/s", True),
    ("large", "256 MiB file streamed (curl, one connection)", "mbps", "MB/s", True),
    ("c1000", "16 KiB file, 1,000 keep-alive connections", "rps", "req/s", True),
    ("files-warm", "10,000 files (512 B–8 KiB) in random order, warm page cache, 64 connections", "rps", "req/s", True),
    ("files-cold", "10,000 files, each once in random order, cold page cache, 64 connections", "rps", "req/s", True),
    ("files-truecold", "10,000 files, each once in random order, truly cold (pages, dentries and inodes dropped), "
     "64 connections", "rps", "req/s", True),
    ("2cores", "1 KiB file, 64 keep-alive connections, two cores: servers with 2 reactors, workers or threads "
     "and wrk with 2 threads share both CPUs", "rps", "req/s", True),
    ("idle", "10,000 idle keep-alive connections", "kib_per_conn", "KiB/conn", False),
    ("slow-1", "slow storage: 1 slow file (1 s per call) while 8 connections fetch other files", "max_ms", "max ms", False),
    ("slow-10", "slow storage: 10 slow files while 8 connections fetch other files", "max_ms", "max ms", False),
    ("slow-100", "slow storage: 100 slow files while 8 connections fetch other files", "max_ms", "max ms", False),
    ("slow-lookup", "slow storage: 100 files whose open and stat are slow (1 s per call; reads are not) "
     "while 8 connections fetch other files", "max_ms", "max ms", False),
    ("tls-1k", "TLS: 1 KiB file, 64 keep-alive HTTPS connections", "rps", "req/s", True),
    ("tls-64k", "TLS: 64 KiB file, 64 keep-alive HTTPS connections", "rps", "req/s", True),
    ("tls-handshakes", "TLS: new connections, a full handshake (ECDSA P-256, TLS 1.3) and one 1 KiB "
     "request each, 64 at a time; CPU µs/req is CPU per handshake", "rps", "handshakes/s", True),
    ("tls-large", "TLS: 256 MiB file streamed over HTTPS (curl, one connection)", "mbps", "MB/s", True),
    ("tls-idle", "TLS: 10,000 idle keep-alive HTTPS connections", "kib_per_conn", "KiB/conn", False),
    ("h2-files", "HTTP/2: 10,000 files (512 B–8 KiB) in random order, warm, 16 connections × 32 streams "
     "(h2load)", "rps", "req/s", True),
    ("h2-page", "HTTP/2: a page's assets (40: 1 KiB, 16 KiB and 64 KiB files), 16 connections × 32 streams "
     "(h2load)", "rps", "req/s", True),
    ("h2-idle", "HTTP/2: 10,000 idle HTTPS connections, each after one stream", "kib_per_conn", "KiB/conn",
     False),
    ("h2-slow", "HTTP/2 slow storage: on one connection, a slow file (1 s per call) on one stream while the "
     "others fetch 100 other files", "max_ms", "max ms", False),
]
THROUGHPUT = ["1k", "64k", "large", "c1000", "files-warm", "files-cold", "files-truecold", "2cores",
              "tls-1k", "tls-64k", "tls-handshakes", "tls-large", "h2-files", "h2-page"]
SLOW = ["slow-1", "slow-10", "slow-100", "slow-lookup", "h2-slow"]
SHORT = {"1k": "1 KiB", "64k": "64 KiB", "large": "256 MiB", "c1000": "1000 conns",
         "files-warm": "files warm", "files-cold": "files cold", "files-truecold": "truly cold",
         "2cores": "2 cores", "slow-1": "1 slow", "slow-10": "10 slow", "slow-100": "100 slow",
         "slow-lookup": "slow lookups", "tls-1k": "TLS 1 KiB", "tls-64k": "TLS 64 KiB",
         "tls-handshakes": "TLS handshakes", "tls-large": "TLS 256 MiB", "idle": "HTTP", "tls-idle": "HTTPS",
         "h2-files": "h2 files", "h2-page": "h2 page", "h2-idle": "HTTP/2", "h2-slow": "h2 slow"}


def med(values):
    return statistics.median(values) if values else float("nan")


def summary(reps, key):
    vals = [r[key] for r in reps if r.get(key) is not None]
    if not vals:
        return None
    return {"median": med(vals), "min": min(vals), "max": max(vals)}


def _num(v, digits=None):
    if v is None or v != v:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
    return "{:,.{}f}".format(v, digits)


def _lat(us):
    if us is None or us != us:
        return "–"
    if us >= 1e6:
        return "%.2f s" % (us / 1e6)
    if us >= 1e3:
        return "%.1f ms" % (us / 1e3) if us < 1e5 else "%.0f ms" % (us / 1e3)
    return "%.0f µs" % us


def aggregate(results):
    """results[workload][server] = [rep dicts] -> medians and spreads."""
    agg = {}
    for key, _, metric, _, _ in WORKLOADS:
        if key not in results:
            continue
        agg[key] = {}
        for name in NAMES:
            reps = results[key].get(name, [])
            if not reps:
                continue
            row = {m: summary(reps, m) for m in
                   ("rps", "mbps", "p50_us", "p99_us", "max_us", "cpu_us_per_req",
                    "cpu_s_per_gb", "rss_kib", "hwm_kib", "kib_per_conn", "rss_idle_kib",
                    "rss_with_kib", "rss_early_kib", "max_ms", "p99_ms", "fast_rps")}
            row["reps"] = len(reps)
            row["errors"] = sum(r.get("errors", 0) for r in reps)
            row["cut_short"] = sum(r.get("cut_short", 0) for r in reps)
            row["lower_bound"] = [bool(r.get("lower_bound")) for r in reps]
            agg[key][name] = row
    return agg


def _ratio(a, b):
    if a is None or b is None or not b["median"]:
        return None
    return a["median"] / b["median"]


def tables(agg, meta):
    out = []
    skipped = meta.get("skipped", {})
    for key, title, metric, unit, _ in WORKLOADS:
        if key not in agg:
            if key in skipped:
                out += ["**%s** — not measured: %s" % (title, skipped[key]), ""]
            continue
        rows = agg[key]
        ref = rows.get("coserve", {})
        note = meta.get("reps_note", {}).get(key, "")
        if key in skipped:
            note += "; " + skipped[key]
        out.append("**%s** — %s" % (title, note))
        out.append("")
        if key in ("idle", "tls-idle", "h2-idle"):
            out.append("| server | RSS before, MiB | with 10k: after 0.5 s | after 5 s | VmHWM | KiB per connection, 5 s (min–max) | ÷ coserve |")
            out.append("|---|--:|--:|--:|--:|--:|--:|")
            for name, r in rows.items():
                per = r["kib_per_conn"]
                out.append("| %s | %s | %s | %s | %s | %s (%s–%s) | %s |" % (
                    name, _num(r["rss_idle_kib"]["median"] / 1024, 1),
                    _num(r["rss_early_kib"]["median"] / 1024, 1),
                    _num(r["rss_with_kib"]["median"] / 1024, 1),
                    _num(r["hwm_kib"]["median"] / 1024, 1),
                    _num(per["median"], 2), _num(per["min"], 2), _num(per["max"], 2),
                    _num(_ratio(per, ref.get("kib_per_conn")), 2)))
        elif key in SLOW:
            out.append("| server | fast max (min–max) | fast p99 | fast p50 | fast req/s | stalled to the end | ÷ coserve (max) |")
            out.append("|---|--:|--:|--:|--:|--:|--:|")
            for name, r in rows.items():
                mx = r["max_ms"]
                # "≥": the run ended while a fast request still waited
                lb = "≥ " if sum(r["lower_bound"]) * 2 > len(r["lower_bound"]) else ""
                out.append("| %s | %s%s (%s–%s) | %s | %s | %s | %d | %s |" % (
                    name, lb, _lat(mx["median"] * 1e3), _lat(mx["min"] * 1e3), _lat(mx["max"] * 1e3),
                    _lat(r["p99_us"]["median"]), _lat(r["p50_us"]["median"]),
                    _num(r["fast_rps"]["median"]), r["cut_short"],
                    _num(_ratio(mx, ref.get("max_ms")), 1)))
        elif key in ("large", "tls-large"):
            out.append("| server | MB/s (min–max) | CPU ms per download | CPU s per GB | RSS MiB | MB/s ÷ coserve "
                       "| CPU ÷ coserve | CPU per GB ÷ lighttpd |")
            out.append("|---|--:|--:|--:|--:|--:|--:|--:|")
            for name, r in rows.items():
                m = r[metric]
                err = " (%d errors)" % r["errors"] if r["errors"] else ""
                out.append("| %s | %s (%s–%s)%s | %s | %s | %s | %s | %s | %s |" % (
                    name, _num(m["median"]), _num(m["min"]), _num(m["max"]), err,
                    _num(r["cpu_us_per_req"]["median"] / 1e3), _num(r["cpu_s_per_gb"]["median"], 3),
                    _num(r["rss_kib"]["median"] / 1024, 1), _num(_ratio(m, ref.get(metric)), 2),
                    _num(_ratio(r["cpu_us_per_req"], ref.get("cpu_us_per_req")), 2),
                    _num(_ratio(r["cpu_s_per_gb"], rows.get("lighttpd", {}).get("cpu_s_per_gb")), 2)))
        else:
            out.append("| server | %s (min–max) | p50 | p99 | CPU µs/req | RSS MiB | %s ÷ coserve | CPU ÷ coserve |" % (
                unit, unit))
            out.append("|---|--:|--:|--:|--:|--:|--:|--:|")
            for name, r in rows.items():
                m = r[metric]
                p50 = r["p50_us"]["median"] if r["p50_us"] else None
                p99 = r["p99_us"]["median"] if r["p99_us"] else None
                err = " (%d errors)" % r["errors"] if r["errors"] else ""
                out.append("| %s | %s (%s–%s)%s | %s | %s | %s | %s | %s | %s |" % (
                    name, _num(m["median"]), _num(m["min"]), _num(m["max"]), err,
                    _lat(p50), _lat(p99), _num(r["cpu_us_per_req"]["median"]),
                    _num(r["rss_kib"]["median"] / 1024, 1),
                    _num(_ratio(m, ref.get(metric)), 2),
                    _num(_ratio(r["cpu_us_per_req"], ref.get("cpu_us_per_req")), 2)))
        out.append("")
    return "\n".join(out)


def targets(agg, skipped=None, issue=13):
    """Issue 13's targets (or 14's, over TLS): (text, ratio, goal, verdict)
    for those whose workloads ran; verdict is "yes", "**no**" or why it was
    not measured (ratio None)."""
    res = []
    skipped = skipped or {}
    peers = [n for n in NAMES if n != "coserve"]

    def get(key, name, metric, stat="median"):
        try:
            return agg[key][name][metric][stat]
        except (KeyError, TypeError):
            return None

    def add(key, text, mine, other, goal, at_least, who, stretch=None):
        goal_text = ("≥ " if at_least else "≤ ") + "%.2f" % goal
        if stretch is not None:
            goal_text += " (stretch %.2f)" % stretch
        if key in skipped and mine is None:
            res.append((text, None, goal_text, "not measured: " + skipped[key]))
            return
        if mine is None or not other:
            return
        ratio = mine / other
        met = ratio >= goal if at_least else ratio <= goal
        verdict = "yes" if met else "**no**"
        if stretch is not None and met:
            verdict += ", stretch too" if ratio >= stretch else ", not the stretch"
        res.append(("%s (vs %s)" % (text, who) if who else text, ratio, goal_text, verdict))

    def best(key, metric, highest):
        """The best peer's figure and name: the most requests/s, the least
        CPU or latency."""
        vals = [(get(key, p, metric), p) for p in peers if get(key, p, metric) is not None]
        if not vals:
            return None, None
        return (max if highest else min)(vals)

    def vs_best(key, text, metric, highest, goal, stretch=None):
        v, who = best(key, metric, highest)
        add(key, text, get(key, "coserve", metric), v, goal, highest, who, stretch)

    if issue == 15:
        for key, text in (("h2-files", "HTTP/2 10,000 files"), ("h2-page", "HTTP/2 page")):
            add(key, text + ": requests/s, coserve ÷ h2o", get(key, "coserve", "rps"),
                get(key, "h2o", "rps"), 1.0, True, None)
            add(key, text + ": CPU per request, coserve ÷ h2o", get(key, "coserve", "cpu_us_per_req"),
                get(key, "h2o", "cpu_us_per_req"), 1.0, False, None)
        add("h2-idle", "HTTP/2 idle connections: RSS per connection, coserve ÷ nginx",
            get("h2-idle", "coserve", "kib_per_conn"), get("h2-idle", "nginx", "kib_per_conn"), 1.0, False, None)
        add("h2-slow", "HTTP/2 slow storage: fast streams' max (worst rep) ÷ 10 ms",
            get("h2-slow", "coserve", "max_ms", "max"), 10.0, 1.0, False, None)
        return res
    if issue == 14:
        vs_best("tls-1k", "TLS 1 KiB: CPU per request, coserve ÷ best peer", "cpu_us_per_req", False, 1.0)
        vs_best("tls-64k", "TLS 64 KiB: CPU per request, coserve ÷ best peer", "cpu_us_per_req", False, 1.0)
        vs_best("tls-large", "TLS 256 MiB: CPU per download, coserve ÷ best peer", "cpu_us_per_req", False, 1.0)
        vs_best("tls-handshakes", "TLS handshakes per second, coserve ÷ best peer", "rps", True, 1.0)
        add("tls-idle", "TLS idle connections: RSS per connection, coserve ÷ nginx",
            get("tls-idle", "coserve", "kib_per_conn"), get("tls-idle", "nginx", "kib_per_conn"), 1.0, False, None)
        return res
    vs_best("files-warm", "10,000 files warm: requests/s, coserve ÷ best peer", "rps", True, 1.0, 1.3)
    add("files-truecold", "10,000 files truly cold: requests/s, coserve ÷ nginx-aio",
        get("files-truecold", "coserve", "rps"), get("files-truecold", "nginx-aio", "rps"), 1.5, True, None)
    vs_best("1k", "1 KiB: CPU per request, coserve ÷ best peer", "cpu_us_per_req", False, 0.9)
    vs_best("1k", "1 KiB: requests/s, coserve ÷ best peer", "rps", True, 1.0)
    vs_best("1k", "1 KiB: p99 latency, coserve ÷ best peer", "p99_us", False, 1.0)
    vs_best("64k", "64 KiB: CPU per request, coserve ÷ best peer", "cpu_us_per_req", False, 1.0)
    vs_best("64k", "64 KiB: requests/s, coserve ÷ best peer", "rps", True, 1.0)
    add("large", "256 MiB: CPU per byte, coserve ÷ lighttpd", get("large", "coserve", "cpu_s_per_gb"),
        get("large", "lighttpd", "cpu_s_per_gb"), 1.0, False, None)
    add("c1000", "1,000 connections: requests/s, coserve ÷ nginx", get("c1000", "coserve", "rps"),
        get("c1000", "nginx", "rps"), 1.2, True, None)
    add("c1000", "1,000 connections: RSS after, coserve ÷ lighttpd", get("c1000", "coserve", "rss_kib"),
        get("c1000", "lighttpd", "rss_kib"), 1.0, False, None)
    vs_best("2cores", "Two cores: requests/s, coserve ÷ best peer with two workers", "rps", True, 1.0)
    for key, what in (("slow-1", "1 slow file"), ("slow-10", "10 slow files"), ("slow-100", "100 slow files"),
                      ("slow-lookup", "slow lookups")):
        # the worst rep, not the median: one stall is one too many
        add(key, "Slow storage, %s: fast requests' max (worst rep) ÷ 10 ms" % what,
            get(key, "coserve", "max_ms", "max"), 10.0, 1.0, False, None)
    return res


def targets_text(res):
    lines = ["| target | ratio | goal | met |", "|---|--:|--:|---|"]
    for text, ratio, goal, verdict in res:
        lines.append("| %s | %s | %s | %s |" % (text, "–" if ratio is None else "%.2f" % ratio, goal, verdict))
    return "\n".join(lines)


def chart(agg, png, workdir, title):
    """Four panels: throughput and CPU per request relative to coserve,
    the slow-storage stalls, and memory per idle connection."""
    names = [n for n in NAMES if any(n in agg.get(k, {}) for k in agg)]
    if not names:
        return False
    dat = os.path.join(workdir, "chart")
    os.makedirs(dat, exist_ok=True)

    def table(path, keys, value):
        with open(path, "w") as f:
            f.write("workload " + " ".join(names) + "\n")
            for k in keys:
                if k not in agg or "coserve" not in agg[k]:
                    continue
                f.write('"%s" ' % SHORT.get(k, k) + " ".join(
                    ("%.4g" % value(k, n)) if n in agg[k] and value(k, n) is not None else "NaN"
                    for n in names) + "\n")

    metric = {k: m for k, _, m, _, _ in WORKLOADS}
    table(os.path.join(dat, "tput.dat"), THROUGHPUT,
          lambda k, n: agg[k][n][metric[k]]["median"] / agg[k]["coserve"][metric[k]]["median"])
    table(os.path.join(dat, "cpu.dat"), THROUGHPUT,
          lambda k, n: agg[k][n]["cpu_us_per_req"]["median"] / agg[k]["coserve"]["cpu_us_per_req"]["median"]
          if agg[k][n]["cpu_us_per_req"] and agg[k]["coserve"]["cpu_us_per_req"] else None)
    table(os.path.join(dat, "slow.dat"), SLOW,
          lambda k, n: max(agg[k][n]["max_ms"]["median"], 0.01))
    table(os.path.join(dat, "idle.dat"), ["idle", "tls-idle", "h2-idle"],
          lambda k, n: agg[k][n]["kib_per_conn"]["median"])
    script = r"""
set terminal pngcairo size 1800,1000 font ",11"
set output '%(png)s'
set multiplot layout 2,2 title "coserve vs nginx, lighttpd, h2o — %(title)s"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside bottom center horizontal font ",10" samplen 1.5
set grid ytics
set yrange [0:*]
set title "Throughput ÷ coserve's (higher is better)"
plot for [i=2:%(cols)d] '%(dat)s/tput.dat' using i:xtic(1) title columnhead(i), 1 with lines lt -1 dt 2 notitle
set title "Server CPU per request ÷ coserve's (lower is better)"
plot for [i=2:%(cols)d] '%(dat)s/cpu.dat' using i:xtic(1) title columnhead(i), 1 with lines lt -1 dt 2 notitle
set title "Slow storage: max latency of fast requests, ms (log; lower is better;\nthe top is the run's length: stalled to the end)"
set logscale y
set yrange [0.1:*]
plot for [i=2:%(cols)d] '%(dat)s/slow.dat' using i:xtic(1) title columnhead(i), 10 with lines lt -1 dt 2 title "10 ms target"
unset logscale y
set yrange [0:*]
set title "10,000 idle keep-alive connections: KiB of RSS per connection (lower is better)"
plot for [i=2:%(cols)d] '%(dat)s/idle.dat' using i:xtic(1) title columnhead(i)
unset multiplot
""" % {"png": png, "dat": dat, "cols": len(names) + 1,
       "title": title}
    gp = os.path.join(dat, "chart.gp")
    with open(gp, "w") as f:
        f.write(script)
    return subprocess.run(["gnuplot", gp]).returncode == 0
