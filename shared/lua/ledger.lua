-- Per-event budget ledger, shared by budget.lua (reserve/settle/release from a stage) and
-- commit.lua (settling a stage's calls inside its fenced commit). Loaded in front of both.
--
-- A ledger is a hash. Fields: tokens / micro_usd (settled), reserved_tokens / reserved_micro_usd
-- (in flight), res:<call id> (a reservation "tokens:micro"), done:<call id> (a settled call).
-- A call id names a stage attempt's n-th call, so a redelivered event that repeats the call is
-- never charged twice: reserve and settle both see that it was already accounted for.

local function ledger_num(key, field) return tonumber(redis.call('HGET', key, field) or '0') end

-- 1: go ahead (held, or already accounted for); 0: the budget would be exceeded.
local function ledger_reserve(key, id, tokens, micro, max_tokens, max_micro, ttl)
  if redis.call('HEXISTS', key, 'done:' .. id) == 1 or redis.call('HEXISTS', key, 'res:' .. id) == 1 then
    return 1
  end
  if ledger_num(key, 'tokens') + ledger_num(key, 'reserved_tokens') + tokens > max_tokens
      or ledger_num(key, 'micro_usd') + ledger_num(key, 'reserved_micro_usd') + micro > max_micro then
    return 0
  end
  redis.call('HINCRBY', key, 'reserved_tokens', tokens)
  redis.call('HINCRBY', key, 'reserved_micro_usd', micro)
  redis.call('HSET', key, 'res:' .. id, tokens .. ':' .. micro)
  redis.call('EXPIRE', key, ttl)
  return 1
end

-- Drop a call's reservation without charging it; 1 if there was one.
local function ledger_release(key, id)
  local reservation = redis.call('HGET', key, 'res:' .. id)
  if not reservation then return 0 end
  local sep = string.find(reservation, ':')
  -- 0 - n, not -n: Lua renders -0 as "-0", which HINCRBY rejects (a free, unpriced call).
  redis.call('HINCRBY', key, 'reserved_tokens', 0 - tonumber(string.sub(reservation, 1, sep - 1)))
  redis.call('HINCRBY', key, 'reserved_micro_usd', 0 - tonumber(string.sub(reservation, sep + 1)))
  redis.call('HDEL', key, 'res:' .. id)
  return 1
end

-- Charge a call's real usage in place of its reservation; 0 if it was already charged.
local function ledger_settle(key, id, tokens, micro, ttl)
  if redis.call('HEXISTS', key, 'done:' .. id) == 1 then return 0 end
  ledger_release(key, id)
  redis.call('HINCRBY', key, 'tokens', tokens)
  redis.call('HINCRBY', key, 'micro_usd', micro)
  redis.call('HSET', key, 'done:' .. id, '1')
  redis.call('EXPIRE', key, ttl)
  return 1
end
