-- Commit a batch of processed stream entries atomically, fenced against zombies
-- (ledger.lua is loaded in front of this file).
--
-- For each entry: XACK the input first; only when the ack took effect (the entry was still
-- pending, so no peer has committed it) apply the entry's writes. A stale worker whose entry was
-- reclaimed and finished by a peer gets 0 from XACK and writes nothing.
--
-- KEYS: every key the batch touches; ARGV[1]: consumer group; ARGV[2]: the entries, one flat
-- MessagePack array (one Lua table to build, however many entries and ops). Per entry:
--   input_key_index, entry_id, guard_key_index (0 = none), guard_ttl_seconds,
--   ops_length, duplicate_ops_length, ops..., duplicate_ops...
-- where an op is `command, key_index, arg_count, args...` and a *_length counts array slots.
-- A guard is an idempotency marker (SET NX EX): when it already exists the entry is a duplicate,
-- so its normal ops are skipped and its duplicate ops run instead.
-- Besides plain commands, two compound ops keep the program short:
--   RUN key steps_key ttl_ms created_at step_json field value ...
--     updates a run record: HSET the fields, HSETNX created_at, RPUSH the step; the retention
--     TTL is set when created_at is set and when the steps list is created.
--   SETTLE key call_id tokens micro_usd ttl_s
--     charges an LLM call's real usage to the event's budget ledger (see ledger.lua).
--   XADD_SPENT key ledger_key id field value ...
--     XADD with one more field, spent = "<tokens>:<micro_usd>": the event's budget ledger totals
--     (settled plus held) as this commit leaves them, so the agent reading the entry can check
--     its first calls against them without a round trip of its own.
-- Returns one status per entry: 1 committed, 0 stale (not pending any more), 2 duplicate.

-- Plain commands an op may be: publishing, and counting a duplicate on its run record.
local plain = {XADD = true, HINCRBY = true}
local group = ARGV[1]
local program = cmsgpack.unpack(ARGV[2])

-- The run record's args are program[at .. last].
local function record_run(key, at, last)
  local steps_key, ttl_ms = program[at], program[at + 1]
  -- HSET answers how many fields it added. None: the record has had a step before, so it has
  -- its created_at (only this op writes status, and always with created_at), and HSETNX would
  -- do nothing.
  if redis.call('HSET', key, unpack(program, at + 4, last)) > 0
      and redis.call('HSETNX', key, 'created_at', program[at + 2]) == 1 then
    redis.call('PEXPIRE', key, ttl_ms)
  end
  if redis.call('RPUSH', steps_key, program[at + 3]) == 1 then
    redis.call('PEXPIRE', steps_key, ttl_ms)
  end
end

-- XADD of program[at + 1 .. last] to key, stamped with the totals of the ledger at program[at].
local function publish_spent(key, at, last)
  local v = redis.call('HMGET', program[at], 'tokens', 'reserved_tokens', 'micro_usd',
    'reserved_micro_usd')
  local args = {unpack(program, at + 1, last)}
  args[#args + 1] = 'spent'
  args[#args + 1] = string.format('%d:%d', num(v[1]) + num(v[2]), num(v[3]) + num(v[4]))
  redis.call('XADD', key, unpack(args))
end

-- Applies the ops in program[at .. stop - 1]; an error reply if one is not allowed.
local function apply_ops(at, stop)
  while at < stop do
    local command, key, first = program[at], KEYS[program[at + 1]], at + 3
    local last = at + 2 + program[at + 2]
    if command == 'RUN' then
      record_run(key, first, last)
    elseif command == 'SETTLE' then
      ledger_settle(key, program[first], tonumber(program[first + 1]),
        tonumber(program[first + 2]), program[first + 3])
    elseif command == 'XADD_SPENT' then
      publish_spent(key, first, last)
    elseif plain[command] then
      redis.call(command, key, unpack(program, first, last))
    else
      return redis.error_reply('commit: command not allowed: ' .. command)
    end
    at = last + 1
  end
end

local statuses, at, size = {}, 1, #program
while at <= size do
  local input, entry_id, guard, guard_ttl = KEYS[program[at]], program[at + 1], program[at + 2],
    program[at + 3]
  local ops = at + 6
  local duplicate_ops = ops + program[at + 4]
  local next_entry = duplicate_ops + program[at + 5]
  local status = 0
  if redis.call('XACK', input, group, entry_id) == 1 then
    status = 1
    if guard > 0 and not redis.call('SET', KEYS[guard], entry_id, 'NX', 'EX', guard_ttl) then
      status = 2
    end
  end
  local err
  if status == 1 then
    err = apply_ops(ops, duplicate_ops)
  elseif status == 2 then
    err = apply_ops(duplicate_ops, next_entry)
  end
  if err then return err end
  statuses[#statuses + 1] = status
  at = next_entry
end
return statuses
