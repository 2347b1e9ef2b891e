-- Global LLM rate limit for one model: a sliding window made of fixed buckets.
--
-- KEYS[1]: hash of requests per bucket; KEYS[2]: hash of tokens per bucket.
-- Field = bucket index (floor(now_ms / bucket_ms)); a bucket counts while it is one of the last
-- `nbuckets` (so the window slides in steps of one bucket: 60 x 1 s for a minute).
-- The clock is the server's (TIME), so every replica shares it.
--
-- ARGV[1]: 'reserve' or 'settle'; ARGV[2]: bucket_ms; ARGV[3]: nbuckets
-- reserve: ARGV[4]: request limit (0 = none); ARGV[5]: token limit (0 = none); ARGV[6]: tokens
--   Reserves one request and `tokens` when both fit and returns {1, 0, bucket}; otherwise
--   reserves nothing and returns {0, wait_ms, bucket}: how long until enough old buckets leave
--   the window. A reservation larger than the whole limit is clamped to it (it waits for an
--   empty window instead of waiting forever).
-- settle: ARGV[4]: bucket of the reservation; ARGV[5]: token delta (actual - reserved)
--   Corrects the tokens of a reservation whose bucket is still in the window; returns {1}.

local op, bucket_ms, nbuckets = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = math.floor(now_ms / bucket_ms)
local oldest = current - nbuckets + 1
local ttl_ms = bucket_ms * (nbuckets + 1)

-- Drop buckets that left the window; return the live ones sorted and their sum.
local function live(key)
  local flat = redis.call('HGETALL', key)
  local indexes, counts, total = {}, {}, 0
  for i = 1, #flat, 2 do
    local index, count = tonumber(flat[i]), tonumber(flat[i + 1])
    if index < oldest then
      redis.call('HDEL', key, flat[i])
    else
      indexes[#indexes + 1] = index
      counts[index] = count
      total = total + count
    end
  end
  table.sort(indexes)
  return indexes, counts, total
end

-- Milliseconds until `used + cost <= limit`, as old buckets leave the window.
local function wait_for(indexes, counts, used, cost, limit)
  local excess = used + cost - limit
  local freed = 0
  for _, index in ipairs(indexes) do
    freed = freed + counts[index]
    if freed >= excess then
      return (index + nbuckets) * bucket_ms - now_ms
    end
  end
  return nbuckets * bucket_ms
end

if op == 'settle' then
  local bucket, delta = tonumber(ARGV[4]), tonumber(ARGV[5])
  if bucket >= oldest and redis.call('HEXISTS', KEYS[2], bucket) == 1 then
    if redis.call('HINCRBY', KEYS[2], bucket, delta) < 0 then
      redis.call('HSET', KEYS[2], bucket, 0)
    end
  end
  return {1}
end

local rpm, tpm, tokens = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local wait = 0
if rpm > 0 then
  local indexes, counts, used = live(KEYS[1])
  if used + 1 > rpm then
    wait = math.max(wait, wait_for(indexes, counts, used, 1, rpm))
  end
end
if tpm > 0 then
  tokens = math.min(tokens, tpm)
  local indexes, counts, used = live(KEYS[2])
  if used + tokens > tpm then
    wait = math.max(wait, wait_for(indexes, counts, used, tokens, tpm))
  end
end
if wait > 0 then
  return {0, wait, current}
end
if rpm > 0 then
  redis.call('HINCRBY', KEYS[1], current, 1)
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
end
if tpm > 0 then
  redis.call('HINCRBY', KEYS[2], current, tokens)
  redis.call('PEXPIRE', KEYS[2], ttl_ms)
end
return {1, 0, current}
