-- Commit a batch of processed stream entries atomically, fenced against zombies
-- (ledger.lua is loaded in front of this file).
--
-- For each entry: XACK the input first; only when the ack took effect (the entry was still
-- pending, so no peer has committed it) apply the entry's writes. A stale worker whose entry was
-- reclaimed and finished by a peer gets 0 from XACK and writes nothing.
--
-- KEYS: every key the batch touches; ARGV[1]: consumer group; ARGV[2]: the entries, one
-- MessagePack array of
--   {input_key_index, entry_id, guard_key_index (0 = none), guard_ttl_seconds, ops, duplicate_ops}
-- where an op is {command, key_index, {args...}}.
-- A guard is an idempotency marker (SET NX EX): when it already exists the entry is a duplicate,
-- so its normal ops are skipped and its duplicate ops run instead.
-- Besides plain commands, two compound ops keep the program short:
--   RUN key {steps_key, ttl_ms, created_at, step_json, field, value, ...}
--     updates a run record: HSET the fields, HSETNX created_at, RPUSH the step; the retention
--     TTL is set when the hash or the steps list is created.
--   SETTLE key {call_id, tokens, micro_usd, ttl_s}
--     charges an LLM call's real usage to the event's budget ledger (see ledger.lua).
-- Returns one status per entry: 1 committed, 0 stale (not pending any more), 2 duplicate.

-- Plain commands an op may be: publishing, and counting a duplicate on its run record.
local plain = {XADD = true, HINCRBY = true}
local group = ARGV[1]
local entries = cmsgpack.unpack(ARGV[2])

local function record_run(key, args)
  local steps_key, ttl_ms = args[1], args[2]
  redis.call('HSET', key, unpack(args, 5))
  if redis.call('HSETNX', key, 'created_at', args[3]) == 1 then
    redis.call('PEXPIRE', key, ttl_ms)
  end
  if redis.call('RPUSH', steps_key, args[4]) == 1 then
    redis.call('PEXPIRE', steps_key, ttl_ms)
  end
end

local function apply_ops(ops)
  for _, op in ipairs(ops) do
    local command, key, args = op[1], KEYS[op[2]], op[3]
    if command == 'RUN' then
      record_run(key, args)
    elseif command == 'SETTLE' then
      ledger_settle(key, args[1], tonumber(args[2]), tonumber(args[3]), args[4])
    elseif plain[command] then
      redis.call(command, key, unpack(args))
    else
      return redis.error_reply('commit: command not allowed: ' .. command)
    end
  end
end

local statuses = {}
for n, entry in ipairs(entries) do
  local input, entry_id, guard, guard_ttl = KEYS[entry[1]], entry[2], entry[3], entry[4]
  local status = 0
  if redis.call('XACK', input, group, entry_id) == 1 then
    status = 1
    if guard > 0 and not redis.call('SET', KEYS[guard], entry_id, 'NX', 'EX', guard_ttl) then
      status = 2
    end
  end
  local err
  if status == 1 then err = apply_ops(entry[5]) elseif status == 2 then err = apply_ops(entry[6]) end
  if err then return err end
  statuses[n] = status
end
return statuses
