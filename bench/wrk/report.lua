-- Prints wrk's own figures as one JSON line, so that the Python benches read them
-- instead of scraping its text report. Latencies are in microseconds.
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '\nWRK_JSON {"requests": %d, "seconds": %.3f, "bytes": %d, "p50_us": %d, "p95_us": %d,'
      .. ' "p99_us": %d, "max_us": %d, "errors_connect": %d, "errors_read": %d,'
      .. ' "errors_write": %d, "errors_status": %d, "errors_timeout": %d}\n',
    summary.requests, seconds, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
