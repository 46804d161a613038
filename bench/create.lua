-- wrk script: one create per request, each with its own caption (so that the duplicate guard
-- never refuses one), spread over ACCOUNTS accounts so that each stays within TikTok's daily
-- budget, as real traffic does.
local counter = 0
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "4000")
local thread_id = tostring(math.random(1, 1000000000))

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
