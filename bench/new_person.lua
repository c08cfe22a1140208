-- wrk script for `make bench`: every request posts a new person (an email and a phone never posted
-- before in the run), so dedup looks and finds nothing. Arguments: OFFSET THREADS KEY [ssn].
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  offset = tonumber(args[1])
  nthreads = tonumber(args[2])
  with_ssn = args[4] == "ssn"
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
end

local states = {"CA", "TX", "NY", "WA"}

function request()
  counter = counter + 1
  local k = offset + counter * nthreads + id
  local ssn = ""
  if with_ssn then
    ssn = string.format(',"ssn":"%03d-%02d-%04d"', k % 900 + 100, k % 90 + 10, k % 9000 + 1000)
  end
  local body = string.format(
    '{"first_name":"Lead%d","last_name":"Bench","email":"lead%d@example.com","phone":"512%03d%04d",' ..
    '"zip":"94103","state":"%s","monthly_bill":%d%s}',
    k, k, 200 + math.floor(k / 10000) % 800, k % 10000, states[k % 4 + 1], 40 + k % 200, ssn)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"micros":%d,"non2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
