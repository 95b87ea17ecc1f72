-- The shopper's whole payment: GET /p/{code} (the page with its form token),
-- POST /p/{code}/pay with a test card (303 to the receipt), GET the receipt.
--
-- wrk calls request() and response() per thread, not per connection, and does not
-- say which request a response answers. So the flow is a set of queues: a payment
-- page queues its POST (the form names its link), a 303 queues the receipt GET
-- (its Location names the transaction), and request() serves the queues before it
-- starts a new flow. A link can be paid once, so every flow takes a fresh code
-- from BENCH_CODES (CREATED links not yet due); each thread takes its own share.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local ffi = require("ffi")

-- wrk gives scripts no clock; a flow's latency needs one (monotonic, ms).
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

setup = common.setup

-- Per-thread results, read by done() through thread:get.
flows, exhausted = 0, 0
flow_ms = {}

local codes = {}
local next_code = 0
local posts, receipts = {}, {}
local started, code_of = {}, {}
local form_headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local expiry = string.format("12%%2F%02d", (tonumber(os.date("%y")) + 3) % 100)

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

function init(args)
  codes = common.lines(os.getenv("BENCH_CODES"), tonumber(os.getenv("BENCH_THREADS")))
end

function request()
  if #receipts > 0 then
    return wrk.format("GET", table.remove(receipts, 1))
  end
  if #posts > 0 then
    local p = table.remove(posts, 1)
    return wrk.format("POST", p.path, form_headers, p.body)
  end
  next_code = next_code + 1
  local code = codes[next_code]
  if code == nil then
    -- Out of fresh links: keep the connection busy, but say so; run.sh fails.
    exhausted = exhausted + 1
    return wrk.format("GET", "/healthz")
  end
  started[code] = now_ms()
  return wrk.format("GET", "/p/" .. code .. "?lang=en")
end

function response(status, headers, body)
  if status == 303 then
    local location = headers["location"] or headers["Location"] or ""
    local code, tx = location:match("^/p/([^/]+)/receipt/([^?]+)")
    if code then
      code_of[tx] = code
      receipts[#receipts + 1] = location
      common.count(status, true, body)
      return
    end
  elseif status == 200 then
    local tx = body:match('id="transaction%-id">([^<]+)<')
    if tx then
      local code = code_of[tx]
      if code and started[code] then
        flows = flows + 1
        flow_ms[#flow_ms + 1] = now_ms() - started[code]
        started[code], code_of[tx] = nil, nil
      end
      common.count(status, true, body)
      return
    end
    local action = body:match('action="(/p/[^"]+/pay[^"]*)"')
    local csrf = body:match('name="csrf" value="([^"]+)"')
    local shown = body:match('name="shownAmount" value="([^"]+)"')
    if action and csrf and shown then
      posts[#posts + 1] = {
        path = action:gsub("&amp;", "&"),
        body = "cardNumber=4242+4242+4242+4242&expiry=" .. expiry ..
          "&cvc=123&cardholder=Bench+Shopper&csrf=" .. urlencode(csrf) ..
          "&shownAmount=" .. urlencode(shown),
      }
      common.count(status, true, body)
      return
    end
    if body == "ok" then -- /healthz after running out of codes
      common.count(status, true, body)
      return
    end
  end
  common.count(status, false, body)
end

done = common.done_with(function(seconds)
  local all = common.gather("flow_ms")
  table.sort(all)
  return string.format("flows=%d flows_per_s=%.1f flow_p50_ms=%.3f flow_p99_ms=%.3f exhausted=%d",
    #all, #all / seconds, common.percentile(all, 50), common.percentile(all, 99),
    common.sum("exhausted"))
end)
