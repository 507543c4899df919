-- wrk: requests paths from a list file in a seeded random order.
--   wrk ... -s paths.lua URL -- LIST SEED random   any path, independently, for the whole run
--   wrk ... -s paths.lua URL -- LIST SEED once     each path once (a seeded permutation), then stop
-- In "once" mode (one wrk thread) the run ends when as many responses as
-- paths have arrived: the thread stops and wakes wrk's main thread with
-- SIGINT, which otherwise sleeps for the whole -d. The pass's own time,
-- from the first request to the last response, is printed as
-- "BENCHONCE <microseconds>". The connections still busy at the end may
-- have sent up to (connections - 1) requests for paths already fetched.

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
   int clock_gettime(int clock, bench_timespec *ts);
   int getpid(void);
   long syscall(long number, ...);
]]
local CLOCK_MONOTONIC, SYS_tgkill, SIGINT = 1, 234, 2  -- x86-64 Linux

local function now_us()
   local ts = ffi.new("bench_timespec")
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
local report_done = done

local reqs, order, n, i, seen, once = {}, {}, 0, 0, 0, false
first_us, last_us = 0, 0
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local list, seed, mode = args[1], tonumber(args[2] or "1"), args[3] or "random"
   for path in io.lines(list) do
      n = n + 1
      reqs[n] = wrk.format("GET", path)
      order[n] = n
   end
   math.randomseed(seed)
   once = (mode == "once")
   if not once then
      response = nil  -- wrk then skips parsing headers and bodies
      return
   end
   for k = n, 2, -1 do
      local j = math.random(k)
      order[k], order[j] = order[j], order[k]
   end
end

function request()
   i = i + 1
   if once then
      if i == 1 then
         first_us = now_us()
      end
      return reqs[order[(i - 1) % n + 1]]
   end
   return reqs[math.random(n)]
end

function response(status, headers, body)
   seen = seen + 1
   if seen == n then
      last_us = now_us()
      wrk.thread:stop()
      local pid = ffi.C.getpid()
      ffi.C.syscall(SYS_tgkill, ffi.cast("long", pid), ffi.cast("long", pid), ffi.cast("long", SIGINT))
   end
end

function done(summary, latency, requests)
   for _, t in ipairs(threads) do
      local a, b = t:get("first_us"), t:get("last_us")
      if b and b > 0 then
         io.write(string.format("BENCHONCE %d\n", b - a))
      end
   end
   report_done(summary, latency, requests)
end
