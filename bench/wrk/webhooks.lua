-- Delivers a prepared list of signed Stripe webhooks, each once, then stops.
--
--   wrk -t1 -cN -d600s -s webhooks.lua URL -- deliveries.tsv results.tsv
--
-- deliveries.tsv: one delivery a line, "event_id<TAB>Stripe-Signature<TAB>json body".
-- results.tsv: one line per answer, "event_id<TAB>first_sent<TAB>answered<TAB>status
-- <TAB>result", times from CLOCK_MONOTONIC (the clock of Python's time.monotonic(),
-- so the bench compares them with when the read model showed the payment).
-- One wrk thread: the Lua state, and so the counters, are per thread.
-- The bench reads the first `first_sent` and the last `answered` for the rate.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } crm_timespec;
  int clock_gettime(int clk_id, crm_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("crm_timespec")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local deliveries = {}
local first_sent = {}
local answers = {}
local sent, answered = 0, 0
local output
local ping

function init(args)
  output = args[2]
  for line in io.lines(args[1]) do
    local id, signature, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    deliveries[#deliveries + 1] = {
      id = id,
      raw = wrk.format("POST", "/api/webhooks/stripe", {
        ["Content-Type"] = "application/json",
        ["Stripe-Signature"] = signature,
      }, body),
    }
  end
  -- Once every delivery is out, idle connections ask something harmless until the
  -- last answers arrive (wrk needs a request from each connection it holds).
  ping = wrk.format("GET", "/api/ping")
end

local calls = 0
function request()
  -- wrk builds one request per thread before it connects and never sends it: the
  -- first call gets the harmless ping, so that no delivery is lost that way.
  calls = calls + 1
  if calls == 1 then
    return ping
  end
  sent = sent + 1
  local delivery = deliveries[sent]
  if delivery == nil then
    return ping
  end
  first_sent[delivery.id] = first_sent[delivery.id] or now()
  return delivery.raw
end

function response(status, headers, body)
  local event_id = body:match('"event_id":%s*"([^"]+)"')
  local result = body:match('"result":%s*"([^"]+)"')
  if event_id == nil and body:match('"pong"') then
    return -- a ping
  end
  answered = answered + 1
  answers[#answers + 1] = string.format(
    "%s\t%.6f\t%.6f\t%d\t%s", event_id or "-", first_sent[event_id] or 0, now(), status,
    result or "-")
  if answered >= #deliveries then
    -- Written aside then renamed: the bench stops wrk as soon as the file appears
    -- (wrk itself would wait for the end of its -d duration).
    local file = io.open(output .. ".part", "w")
    file:write(table.concat(answers, "\n"), "\n")
    file:close()
    os.rename(output .. ".part", output)
    wrk.thread:stop()
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    '\nWRK_JSON {"requests": %d, "seconds": %.3f, "p50_us": %d, "p99_us": %d,'
      .. ' "errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
