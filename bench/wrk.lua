-- wrk script for bench/http.py: one scenario per run, chosen by environment variables.
--   BENCH_SCENARIO  get | list | post | patch | mix (mix: 7 get, 1 list, 1 post, 1 patch in 10)
--   BENCH_IDS       a file of ticket ids, one a line (get, patch, mix)
--   BENCH_THREADS   wrk's -t, so that every thread PATCHes its own share of the ids
--   BENCH_AUTHORIZATION  the Authorization header to send, if any
-- done() prints one line "BENCH {json}" with the figures bench/http.py reads.

local scenario = os.getenv("BENCH_SCENARIO") or "get"
local authorization = os.getenv("BENCH_AUTHORIZATION")
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")
-- Each PATCH moves a ticket one step along this cycle; the seeded ones all start "open", so
-- every PATCH is a real change that writes an event.
local statuses = {"in_progress", "resolved", "closed", "open"}
local priorities = {"low", "medium", "high", "urgent"}
local description = "Customer cannot log in after the password reset. The page shows an error."

local next_thread = 0
function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

local ids = {}
local mine = {}  -- the ids this thread PATCHes: every thread_count-th, from thread_index
local sent, patched = 0, 0

function init(args)
  local path = os.getenv("BENCH_IDS")
  if path and path ~= "" then
    for line in io.lines(path) do
      ids[#ids + 1] = line
    end
  end
  for i = (thread_index or 0) + 1, #ids, thread_count do
    mine[#mine + 1] = ids[i]
  end
  wrk.headers["Content-Type"] = "application/json"
  if authorization and authorization ~= "" then
    wrk.headers["Authorization"] = authorization
  end
end

local function get_one()
  -- A prime stride spreads the reads over the table instead of walking it in order.
  return wrk.format("GET", "/api/tickets/" .. ids[(sent * 7919) % #ids + 1])
end

local function list_page()
  return wrk.format("GET", "/api/tickets?status=open&priority=high&per_page=20")
end

local function post_one()
  local body = string.format(
    '{"title": "Bench ticket %d-%d", "description": "%s", "priority": "%s"}',
    thread_index or 0, sent, description, priorities[sent % 4 + 1])
  return wrk.format("POST", "/api/tickets", nil, body)
end

local function patch_one()
  local slot = patched % #mine
  local round = math.floor(patched / #mine)
  patched = patched + 1
  local body = string.format('{"status": "%s"}', statuses[round % 4 + 1])
  return wrk.format("PATCH", "/api/tickets/" .. mine[slot + 1], nil, body)
end

local mix = {get_one, get_one, get_one, list_page, get_one, post_one, get_one, get_one,
             patch_one, get_one}
local by_name = {get = get_one, list = list_page, post = post_one, patch = patch_one}

function request()
  sent = sent + 1
  if scenario == "mix" then
    return mix[sent % #mix + 1]()
  end
  return by_name[scenario]()
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.duration, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
