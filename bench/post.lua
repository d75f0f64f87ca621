-- wrk script: every request posts the form with a new, unique address and its own form token.
-- A form token stores one submission (as each visitor's page has its own), so stack.py mints
-- enough of them into BENCH_TOKENS (one per line); BENCH_TOKEN is used when that is not set.
local counter, thread_id = 0, 0
local threads = {}
local tokens = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE") or ""
  local path = os.getenv("BENCH_TOKENS")
  if path and path ~= "" then
    for line in io.lines(path) do table.insert(tokens, line) end
  end
end

function request()
  counter = counter + 1
  local token = os.getenv("BENCH_TOKEN") or ""
  if #tokens > 0 then
    -- each of the BENCH_THREADS threads takes its own slice of the tokens
    local slice = math.floor(#tokens / tonumber(os.getenv("BENCH_THREADS") or "2"))
    token = tokens[(thread_id - 1) * slice + (counter - 1) % slice + 1]
  end
  local body = "csrf_token=" .. token ..
    "&email=" .. os.getenv("BENCH_RUN") .. "-" .. thread_id .. "-" .. counter .. "%40example.com"
  return wrk.format("POST", nil, nil, body)
end
