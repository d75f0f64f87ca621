-- wrk script: every request posts the form with a new, unique address.
-- BENCH_TOKEN and BENCH_COOKIE come from the environment (one visitor's CSRF token and session).
local counter, thread_id = 0, 0
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE") or ""
end

function request()
  counter = counter + 1
  local body = "csrf_token=" .. (os.getenv("BENCH_TOKEN") or "") ..
    "&email=" .. os.getenv("BENCH_RUN") .. "-" .. thread_id .. "-" .. counter .. "%40example.com"
  return wrk.format("POST", nil, nil, body)
end
