-- wrk script for the ordermill benchmark suite (bench/suite.py).
--
-- Configured through environment variables:
--   BENCH_MODE       place | hot | process | list_customer | list_status | whoami | health
--   BENCH_TOKEN      bearer token sent with every request
--   BENCH_CUSTOMERS  customer ids are 1..N (place, hot, list_customer)
--   BENCH_PRODUCTS   product ids are 1..N (place)
--   BENCH_HOT        comma-separated product ids every order takes one of each (hot)
--   BENCH_FIRST_ID, BENCH_LAST_ID  order ids to process, each exactly once (process)
--   BENCH_THREADS    wrk's -t, so threads can split the ids between them
-- done() prints one line "BENCH_RESULT {json}" with counts and latency percentiles (us).

local mode = os.getenv("BENCH_MODE") or "health"
local token = os.getenv("BENCH_TOKEN") or ""
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "1")
local products = tonumber(os.getenv("BENCH_PRODUCTS") or "1")
local hot = os.getenv("BENCH_HOT") or "1,2,3"
local first_id = tonumber(os.getenv("BENCH_FIRST_ID") or "1")
local last_id = tonumber(os.getenv("BENCH_LAST_ID") or "0")
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")

local threads = {}
local thread_index = 0

function setup(thread)
   thread:set("index", thread_index)
   thread_index = thread_index + 1
   table.insert(threads, thread)
end

local headers = {}
local next_id = 0
local hot_body = nil
local counts = {}

function init(args)
   math.randomseed(os.time() * 1000 + index * 7919)
   headers["Authorization"] = "Bearer " .. token
   headers["Content-Type"] = "application/json"
   next_id = first_id + index
   local items = {}
   for pid in string.gmatch(hot, "%d+") do
      table.insert(items, string.format('{"product_id":%s,"quantity":1}', pid))
   end
   hot_body = table.concat(items, ",")
   n2xx, n409, nother, overflow = 0, 0, 0, 0
end

local function three_products()
   local a = math.random(products)
   local b = a
   while b == a do b = math.random(products) end
   local c = a
   while c == a or c == b do c = math.random(products) end
   return a, b, c
end

function request()
   if mode == "place" then
      local a, b, c = three_products()
      local body = string.format(
         '{"customer_id":%d,"items":[{"product_id":%d,"quantity":%d},' ..
         '{"product_id":%d,"quantity":%d},{"product_id":%d,"quantity":%d}]}',
         math.random(customers), a, math.random(3), b, math.random(3), c, math.random(3))
      return wrk.format("POST", "/api/orders", headers, body)
   elseif mode == "hot" then
      local body = string.format(
         '{"customer_id":%d,"items":[%s],"process":true,"strategy":"reject"}',
         math.random(customers), hot_body)
      return wrk.format("POST", "/api/orders", headers, body)
   elseif mode == "process" then
      local id = next_id
      next_id = next_id + thread_count
      if id > last_id then
         overflow = overflow + 1
         return wrk.format("GET", "/health", headers)
      end
      return wrk.format("PUT", "/api/orders/" .. id, headers, '{"process":true}')
   elseif mode == "list_customer" then
      return wrk.format("GET", "/api/orders?customer_id=" .. math.random(customers) ..
                        "&limit=50", headers)
   elseif mode == "list_status" then
      return wrk.format("GET", "/api/orders?status=pending&limit=50", headers)
   elseif mode == "whoami" then
      return wrk.format("GET", "/api/auth/whoami", headers)
   end
   return wrk.format("GET", "/health", headers)
end

function response(status, hdrs, body)
   if status >= 200 and status < 300 then
      n2xx = n2xx + 1
   elseif status == 409 then
      n409 = n409 + 1
   else
      nother = nother + 1
      if nother <= 3 then io.stderr:write("HTTP " .. status .. ": " .. body .. "\n") end
   end
end

function done(summary, latency, requests)
   local ok, conflict, other, over = 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      ok = ok + thread:get("n2xx")
      conflict = conflict + thread:get("n409")
      other = other + thread:get("nother")
      over = over + thread:get("overflow")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"ok":%d,"conflict":%d,"other":%d,' ..
      '"overflow":%d,"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, ok, conflict, other, over,
      e.connect + e.read + e.write + e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
