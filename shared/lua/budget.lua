-- Per-event budget ledger: reserve before an LLM call, settle with the real usage after.
--
-- KEYS[1]: the event's ledger hash. ARGV: op ('reserve' | 'settle' | 'release'), call id, tokens,
-- micro-USD, token limit, micro-USD limit, ttl seconds.
-- Fields: tokens / micro_usd (settled), reserved_tokens / reserved_micro_usd (in flight),
-- res:<call id> (a reservation), done:<call id> (a settled call).
-- A call id names a stage attempt's n-th call, so a redelivered event that repeats the call is
-- never charged twice: reserve and settle both see that it was already accounted for.
-- reserve returns 1 (go ahead) or 0 (the budget would be exceeded); settle returns 1 if it
-- charged, 0 if this call was already charged. release drops a call's reservation without
-- charging anything (the call failed before the model answered); it returns 1 if there was one.

local key, op, id = KEYS[1], ARGV[1], ARGV[2]
local tokens, micro = tonumber(ARGV[3]), tonumber(ARGV[4])
local function num(field) return tonumber(redis.call('HGET', key, field) or '0') end

if op == 'reserve' then
  if redis.call('HEXISTS', key, 'done:' .. id) == 1 or redis.call('HEXISTS', key, 'res:' .. id) == 1 then
    return 1
  end
  local max_tokens, max_micro = tonumber(ARGV[5]), tonumber(ARGV[6])
  if num('tokens') + num('reserved_tokens') + tokens > max_tokens
      or num('micro_usd') + num('reserved_micro_usd') + micro > max_micro then
    return 0
  end
  redis.call('HINCRBY', key, 'reserved_tokens', tokens)
  redis.call('HINCRBY', key, 'reserved_micro_usd', micro)
  redis.call('HSET', key, 'res:' .. id, tokens .. ':' .. micro)
  redis.call('EXPIRE', key, ARGV[7])
  return 1
end

if redis.call('HEXISTS', key, 'done:' .. id) == 1 then
  return 0
end
local reservation = redis.call('HGET', key, 'res:' .. id)
if reservation then
  local sep = string.find(reservation, ':')
  -- 0 - n, not -n: Lua renders -0 as "-0", which HINCRBY rejects (a free, unpriced call).
  redis.call('HINCRBY', key, 'reserved_tokens', 0 - tonumber(string.sub(reservation, 1, sep - 1)))
  redis.call('HINCRBY', key, 'reserved_micro_usd', 0 - tonumber(string.sub(reservation, sep + 1)))
  redis.call('HDEL', key, 'res:' .. id)
end
if op == 'release' then
  return reservation and 1 or 0
end
redis.call('HINCRBY', key, 'tokens', tokens)
redis.call('HINCRBY', key, 'micro_usd', micro)
redis.call('HSET', key, 'done:' .. id, '1')
redis.call('EXPIRE', key, ARGV[7])
return 1
