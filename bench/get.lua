-- GET requests that must answer 200. With BENCH_PATHS (a file of paths, one per
-- line) each request takes the next path, so that detail pages and API reads hit
-- many rows rather than one cached row; without it, the URL given to wrk.
-- Headers (session cookie, bearer token) come from wrk's -H.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done_with(nil)

local paths = {}
local i = 0

function init(args)
  local file = os.getenv("BENCH_PATHS")
  if file and file ~= "" then paths = common.lines(file) end
  if #paths == 0 then paths = { wrk.path } end
  -- Threads start at different places in the list.
  i = ((tid or 0) * 7919) % #paths
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function response(status, headers, body)
  common.count(status, status == 200, body)
end
