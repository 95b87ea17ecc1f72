-- POST /api/v1/pay-by-link: one new link per request, each with its own
-- merchantTransactionId (run tag, thread, counter). Expects 200 or 201; anything
-- else counts as a failure. The bearer token comes from wrk's -H.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done_with(nil)

local merchant = os.getenv("BENCH_MERCHANT")
local product = os.getenv("BENCH_PRODUCT")
local tag = os.getenv("BENCH_RUN_TAG") or "run"
local headers = { ["Content-Type"] = "application/json" }
local currencies = { "EUR", "EUR", "EUR", "GBP", "USD" }
local n = 0

function request()
  n = n + 1
  local body = string.format(
    '{"merchantId":%s,"productId":%s,"merchantTransactionId":"%s-%d-%d",' ..
    '"description":"Bench order %d","customerId":"cust-%d","currency":"%s",' ..
    '"amount":%d.%02d,"country":"ES","language":"EN"}',
    merchant, product, tag, tid or 0, n, n, n % 5000,
    currencies[n % #currencies + 1], 5 + n % 500, n % 100)
  for k, v in pairs(wrk.headers) do
    if headers[k] == nil then headers[k] = v end
  end
  return wrk.format("POST", "/api/v1/pay-by-link", headers, body)
end

function response(status, headers, body)
  common.count(status, status == 200 or status == 201, body)
end
