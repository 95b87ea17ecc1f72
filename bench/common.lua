-- Shared by the bench/*.lua scripts. wrk runs request() and response() once per
-- thread (each thread has its own Lua state), so every counter here is per thread;
-- setup() keeps the thread objects so that done(), which runs in the main state,
-- can add them up. done() prints one machine-readable RESULT line that run.sh parses.
local M = {}

local threads = {}

function M.setup(thread)
  -- Thread ids let each thread take its own share of input files.
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- Per-thread counters (globals, so that thread:get can read them).
n2xx, n3xx, n4xx, n5xx, unexpected = 0, 0, 0, 0, 0
first_unexpected = ""

-- Counts one answer; `ok` says whether it was the answer the script expected.
function M.count(status, ok, body)
  if status < 300 then n2xx = n2xx + 1
  elseif status < 400 then n3xx = n3xx + 1
  elseif status < 500 then n4xx = n4xx + 1
  else n5xx = n5xx + 1 end
  if not ok then
    unexpected = unexpected + 1
    if first_unexpected == "" then
      -- Keep one example for the log: the status and the start of the body.
      local snippet = (body or ""):sub(1, 300):gsub("%s+", " ")
      first_unexpected = status .. " " .. snippet
    end
  end
end

-- Sum of a numeric global over all threads.
function M.sum(name)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get(name) or 0) end
  return total
end

-- Every value of a list-valued global over all threads, in one list.
function M.gather(name)
  local all = {}
  for _, t in ipairs(threads) do
    local list = t:get(name) or {}
    for _, v in ipairs(list) do all[#all + 1] = v end
  end
  return all
end

function M.percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.max(1, math.ceil(#sorted * p / 100))
  return sorted[i]
end

-- extra: optional function returning more "key=value" text for the RESULT line.
function M.done_with(extra)
  return function(summary, latency, requests)
    local e = summary.errors
    local seconds = summary.duration / 1e6
    local example = ""
    for _, t in ipairs(threads) do
      local f = t:get("first_unexpected")
      if f and f ~= "" then example = f break end
    end
    io.write(string.format(
      "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f " ..
      "n2xx=%d n3xx=%d n4xx=%d n5xx=%d unexpected=%d socket_errors=%d%s\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      M.sum("n2xx"), M.sum("n3xx"), M.sum("n4xx"), M.sum("n5xx"), M.sum("unexpected"),
      e.connect + e.read + e.write + e.timeout,
      extra and (" " .. extra(seconds)) or ""))
    if example ~= "" then io.write("UNEXPECTED " .. example .. "\n") end
  end
end

-- Reads a file of lines into a list; with n_threads, only this thread's share
-- (every n-th line), so that threads never use the same single-use input.
function M.lines(file, share_of)
  local all, i = {}, 0
  for line in io.lines(file) do
    if line ~= "" then
      if not share_of or i % share_of == (tid or 0) then all[#all + 1] = line end
      i = i + 1
    end
  end
  return all
end

return M
