-- Per-event budget ledger, shared by budget.lua (reserve/settle/release from a stage) and
-- commit.lua (settling a stage's calls inside its fenced commit). Loaded in front of both.
--
-- A ledger is a hash. Fields: tokens / micro_usd (settled), reserved_tokens / reserved_micro_usd
-- (in flight), res:<call id> (a reservation "tokens:micro"), done:<call id> (a settled call).
-- A call id names a stage attempt's n-th call, so a redelivered event that repeats the call is
-- never charged twice: reserve and settle both see that it was already accounted for.

-- Each operation reads what it needs with one HMGET and writes with one HSET: a command called
-- from Lua costs far more than the field it touches. For the same reason the retention TTL is set
-- only when a write adds more than the call's own field, that is when it creates the ledger
-- (reserve) or its totals (settle): like a run record's, a ledger's TTL counts from its creation,
-- and later calls do not extend it.

local function num(value) return tonumber(value or '0') end

-- 1: go ahead (held, or already accounted for); 0: the budget would be exceeded.
local function ledger_reserve(key, id, tokens, micro, max_tokens, max_micro, ttl)
  local v = redis.call('HMGET', key, 'done:' .. id, 'res:' .. id, 'tokens', 'reserved_tokens',
    'micro_usd', 'reserved_micro_usd')
  if v[1] or v[2] then return 1 end
  local reserved_tokens, reserved_micro = num(v[4]), num(v[6])
  if num(v[3]) + reserved_tokens + tokens > max_tokens
      or num(v[5]) + reserved_micro + micro > max_micro then
    return 0
  end
  local added = redis.call('HSET', key, 'reserved_tokens', reserved_tokens + tokens,
    'reserved_micro_usd', reserved_micro + micro, 'res:' .. id, tokens .. ':' .. micro)
  if added > 1 then redis.call('EXPIRE', key, ttl) end
  return 1
end

-- The reservation "tokens:micro" as two numbers.
local function held(reservation)
  local sep = string.find(reservation, ':')
  return tonumber(string.sub(reservation, 1, sep - 1)), tonumber(string.sub(reservation, sep + 1))
end

-- 1 if the call had a reservation, now dropped without charging it.
local function ledger_release(key, id)
  local v = redis.call('HMGET', key, 'res:' .. id, 'reserved_tokens', 'reserved_micro_usd')
  if not v[1] then return 0 end
  local tokens, micro = held(v[1])
  redis.call('HSET', key, 'reserved_tokens', num(v[2]) - tokens,
    'reserved_micro_usd', num(v[3]) - micro)
  redis.call('HDEL', key, 'res:' .. id)
  return 1
end

-- 1 if it charged the call (and dropped its reservation); 0 if the call was already charged.
local function ledger_settle(key, id, tokens, micro, ttl)
  local v = redis.call('HMGET', key, 'done:' .. id, 'res:' .. id, 'tokens', 'micro_usd',
    'reserved_tokens', 'reserved_micro_usd')
  if v[1] then return 0 end
  local reserved_tokens, reserved_micro = num(v[5]), num(v[6])
  if v[2] then
    local held_tokens, held_micro = held(v[2])
    reserved_tokens, reserved_micro = reserved_tokens - held_tokens, reserved_micro - held_micro
    redis.call('HDEL', key, 'res:' .. id)
  end
  local added = redis.call('HSET', key, 'tokens', num(v[3]) + tokens,
    'micro_usd', num(v[4]) + micro, 'reserved_tokens', reserved_tokens,
    'reserved_micro_usd', reserved_micro, 'done:' .. id, '1')
  if added > 1 then redis.call('EXPIRE', key, ttl) end
  return 1
end
