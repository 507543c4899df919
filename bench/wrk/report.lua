-- wrk: prints the run's figures as one JSON line ("BENCH {...}") for bench/run.
-- Latencies are microseconds; requests slower than wrk's --timeout are
-- counted as timeouts, not latencies, so bench/run passes a long --timeout.

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"p50_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50.0), latency:percentile(99.0), latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout))
end
