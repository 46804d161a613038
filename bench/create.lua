-- wrk script: one create per request, each with its own caption, so that the duplicate guard
-- never refuses the benchmark's posts.
local counter = 0
local thread_id = tostring(math.random(1, 1000000000))

request = function()
  counter = counter + 1
  local body = '{"account":"bench_acc","caption":"bench ' .. thread_id .. '-' .. counter ..
    '","video":{"url":"https://cdn.example.com/v.mp4"},"privacy":"public","allow_comment":true,' ..
    '"allow_duet":true,"allow_stitch":true,"consent":{"content_preview_confirmed":true,' ..
    '"express_consent_given":true}}'
  -- wrk.format takes these headers instead of wrk.headers (-H): carry those over too.
  local headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  return wrk.format("POST", "/v1/tiktok/posts", headers, body)
end
