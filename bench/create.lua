-- wrk script: one create per request, each with its own caption (so that the duplicate guard
-- never refuses one), spread over ACCOUNTS accounts so that each stays within TikTok's daily
-- budget, as real traffic does. Captions are unique across wrk's threads (each has its own Lua
-- state, whose unseeded random numbers are alike) and across runs (BENCH_RUN, set per run).
local counter = 0
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "4000")
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", run .. "." .. threads)
end

request = function()
  counter = counter + 1
  local account = "bench_" .. (counter % accounts)
  local body = '{"account":"' .. account .. '","caption":"bench ' .. thread_id .. '-' .. counter ..
    '","video":{"url":"https://cdn.example.com/v.mp4"},"privacy":"public","allow_comment":true,' ..
    '"allow_duet":true,"allow_stitch":true,"consent":{"content_preview_confirmed":true,' ..
    '"express_consent_given":true}}'
  -- wrk.format takes these headers instead of wrk.headers (-H): carry those over too.
  local headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  return wrk.format("POST", "/v1/tiktok/posts", headers, body)
end
