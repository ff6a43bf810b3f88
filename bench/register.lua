-- wrk script for bench/load.sh: POSTs the integration guide's request body to
-- /api/register-push-token with a user_id and fcm_token that no other request
-- of the run uses, so no server can reply from a cache or a duplicate check.
--
-- BENCH_RUN_ID (letters and digits, at most 10 characters) keeps tokens
-- unique across runs that share one registry database. When wrk finishes,
-- done() prints one "BENCH ..." line of key=value pairs for load.sh to parse;
-- latencies there are in microseconds.

local run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())

-- An FCM registration token is about 163 characters of [A-Za-z0-9_:-], so
-- the unique prefix is followed by filler up to that length.
local TOKEN_LENGTH = 163
local FILLER = string.rep("APA91bHxq7Zk3vT0_rWm-9cYpL2sN4dF8gJ6hK1", 5)

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
end

local counter = 0
-- The request line and headers up to the Content-Length value, the same
-- for every request. wrk.format() builds them from a table on every call:
-- in alternating runs on the machine of docs/benchmarks.md that cost wrk
-- 1 to 3 µs of its 13 to 16 µs of CPU time per request.
local head

function init(args)
   local host = wrk.host
   if host:find(":", 1, true) then
      host = "[" .. host .. "]"
   end
   if wrk.port then
      host = host .. ":" .. wrk.port
   end
   head = "POST /api/register-push-token HTTP/1.1\r\nHost: " .. host
      .. "\r\nContent-Type: application/json\r\nContent-Length: "
end

function request()
   counter = counter + 1
   -- At most 1 + 10 + 1 + 3 + 1 + 15 characters: well under ZEGO's 32-byte limit.
   local user_id = "b" .. run_id .. "-" .. thread_id .. "-" .. counter
   local prefix = "bench" .. run_id .. "_" .. thread_id .. "_" .. counter .. ":"
   local body = '{"user_id":"' .. user_id .. '","fcm_token":"' .. prefix
      .. string.sub(FILLER, 1, TOKEN_LENGTH - #prefix) .. '","platform":"android"}'
   return head .. #body .. "\r\n\r\n" .. body
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d connect_errors=%d read_errors=%d "
         .. "write_errors=%d timeouts=%d non_2xx=%d "
         .. "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, errors.connect, errors.read,
      errors.write, errors.timeout, errors.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max))
end
