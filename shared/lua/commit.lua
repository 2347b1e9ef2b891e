-- Commit a batch of processed stream entries atomically, fenced against zombies
-- (ledger.lua is loaded in front of this file).
--
-- For each entry: XACK the input first; only when the ack took effect (the entry was still
-- pending, so no peer has committed it) apply the entry's writes. A stale worker whose entry was
-- reclaimed and finished by a peer gets 0 from XACK and writes nothing.
--
-- KEYS: every key the batch touches; ARGV[1]: consumer group; then, per entry:
--   input_key_index, entry_id, guard_key_index (0 = none), guard_ttl_seconds,
--   n_ops, n_duplicate_ops, <ops>, <duplicate ops>
-- where an op is: command, key_index, n_args, args...
-- A guard is an idempotency marker (SET NX EX): when it already exists the entry is a duplicate,
-- so its normal ops are skipped and its duplicate ops run instead.
-- Besides plain commands, two compound ops keep the argument list short:
--   RUN key: steps_key, ttl_ms, created_at, step_json, field, value, ...
--     updates a run record: HSET the fields, HSETNX created_at, RPUSH the step; the retention
--     TTL is set when the hash or the steps list is created.
--   SETTLE key: call_id, tokens, micro_usd, ttl_s
--     charges an LLM call's real usage to the event's budget ledger (see ledger.lua).
-- Returns one status per entry: 1 committed, 0 stale (not pending any more), 2 duplicate.

local plain = {XADD = true, HSET = true, HSETNX = true, RPUSH = true, PEXPIRE = true,
               HINCRBY = true}
local group = ARGV[1]
local i = 2

local function record_run(key, first, last)
  local steps_key, ttl_ms, created_at, step = ARGV[first], ARGV[first + 1], ARGV[first + 2],
    ARGV[first + 3]
  redis.call('HSET', key, unpack(ARGV, first + 4, last))
  if redis.call('HSETNX', key, 'created_at', created_at) == 1 then
    redis.call('PEXPIRE', key, ttl_ms)
  end
  if redis.call('RPUSH', steps_key, step) == 1 then
    redis.call('PEXPIRE', steps_key, ttl_ms)
  end
end

local function apply_ops(count, run)
  for _ = 1, count do
    local command = ARGV[i]
    local key = KEYS[tonumber(ARGV[i + 1])]
    local nargs = tonumber(ARGV[i + 2])
    i = i + 3
    if run then
      if command == 'RUN' then
        record_run(key, i, i + nargs - 1)
      elseif command == 'SETTLE' then
        ledger_settle(key, ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3])
      elseif plain[command] then
        redis.call(command, key, unpack(ARGV, i, i + nargs - 1))
      else
        return redis.error_reply('commit: command not allowed: ' .. command)
      end
    end
    i = i + nargs
  end
end

local statuses = {}
while i <= #ARGV do
  local input = KEYS[tonumber(ARGV[i])]
  local entry_id = ARGV[i + 1]
  local guard = tonumber(ARGV[i + 2])
  local guard_ttl = ARGV[i + 3]
  local n_ops = tonumber(ARGV[i + 4])
  local n_dup = tonumber(ARGV[i + 5])
  i = i + 6
  local status = 0
  if redis.call('XACK', input, group, entry_id) == 1 then
    status = 1
    if guard > 0 and not redis.call('SET', KEYS[guard], entry_id, 'NX', 'EX', guard_ttl) then
      status = 2
    end
  end
  local err = apply_ops(n_ops, status == 1)
  if err then return err end
  err = apply_ops(n_dup, status == 2)
  if err then return err end
  statuses[#statuses + 1] = status
end
return statuses
