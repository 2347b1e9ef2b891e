-- Joins of parallel branches (shared/runtime/join.py), loaded in front of commit.lua and join_sweep.lua.
--
-- A join is a hash: id, event_id, expected (branches), settled (branches accounted for), failed,
-- late, duplicates, status (open | done | partial), expired, deadline, opened_at, envelope (the
-- event as it fanned out), traceparent, ready (the stream its "join ready" entry goes to); per branch i: b:<i> (first settlement: ok | failed),
-- r:<i> (its validated result, JSON), f:<i> (why it failed), late:<i> (arrived after closing).
-- An index sorted set holds the open joins' ids by deadline.
--
-- Every change of a join happens inside one script call, so its transitions are atomic: a branch
-- settles once (b:<i> is set with HSETNX), and the join closes once (only while status is open).
-- After closing, whatever comes for a branch (late, or a dead letter replayed) is counted once per
-- branch as late and changes nothing else.
-- Closing publishes exactly one "join ready" entry, on the stream named when the join opened.
-- Replies: 0 no such join, 1 recorded, 2 recorded and closed the join, 3 late, 4 duplicate.

local function join_close(key, status, index_key)
  local v = redis.call('HMGET', key, 'id', 'event_id', 'envelope', 'traceparent', 'ready')
  local ready = v[5]
  redis.call('HSET', key, 'status', status)
  redis.call('ZREM', index_key, v[1])
  if v[4] then
    redis.call('XADD', ready, '*', 'event_id', v[2], 'join_ready', v[1], 'envelope', v[3],
      'traceparent', v[4])
  else
    redis.call('XADD', ready, '*', 'event_id', v[2], 'join_ready', v[1], 'envelope', v[3])
  end
  return 2
end

-- Open a join expecting `expected` branches (a join already there is left as it is).
local function join_open(key, id, event_id, expected, deadline, opened_at, envelope, traceparent,
    index_key, ttl, ready)
  if redis.call('HSETNX', key, 'status', 'open') == 0 then return 4 end
  redis.call('HSET', key, 'id', id, 'event_id', event_id, 'expected', expected, 'settled', 0,
    'failed', 0, 'late', 0, 'duplicates', 0, 'deadline', deadline, 'opened_at', opened_at,
    'envelope', envelope, 'ready', ready)
  if traceparent ~= '' then redis.call('HSET', key, 'traceparent', traceparent) end
  redis.call('EXPIRE', key, ttl)
  redis.call('ZADD', index_key, deadline, id)
  return 1
end

-- Settle branch `index` as `kind` (ok: `value` is its result; failed: why). Closes the join
-- when every branch is settled: done if all are ok, else partial.
local function join_settle(key, index, kind, value, index_key)
  local status = redis.call('HGET', key, 'status')
  if not status then return 0 end
  if status ~= 'open' then
    if redis.call('HSETNX', key, 'late:' .. index, kind) == 1 then
      redis.call('HINCRBY', key, 'late', 1)
    end
    return 3
  end
  if redis.call('HSETNX', key, 'b:' .. index, kind) == 0 then
    redis.call('HINCRBY', key, 'duplicates', 1)
    return 4
  end
  local failed = tonumber(redis.call('HGET', key, 'failed'))
  if kind == 'ok' then
    redis.call('HSET', key, 'r:' .. index, value)
  else
    redis.call('HSET', key, 'f:' .. index, value)
    failed = redis.call('HINCRBY', key, 'failed', 1)
  end
  local settled = redis.call('HINCRBY', key, 'settled', 1)
  if settled >= tonumber(redis.call('HGET', key, 'expected')) then
    return join_close(key, failed > 0 and 'partial' or 'done', index_key)
  end
  return 1
end

-- Close the join as partial if it is still open and its deadline is at or before `now`.
local function join_expire(key, id, now, index_key)
  local v = redis.call('HMGET', key, 'status', 'deadline')
  if not v[1] then
    redis.call('ZREM', index_key, id)
    return 0
  end
  if v[1] ~= 'open' then
    redis.call('ZREM', index_key, id)
    return 0
  end
  if tonumber(v[2]) > tonumber(now) then return 1 end
  redis.call('HSET', key, 'expired', 1)
  return join_close(key, 'partial', index_key)
end
