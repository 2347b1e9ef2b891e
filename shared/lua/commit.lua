-- Commit a batch of processed stream entries atomically, fenced against zombies.
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
-- Returns one status per entry: 1 committed, 0 stale (not pending any more), 2 duplicate.

local allowed = {XADD = true, HSET = true, HSETNX = true, RPUSH = true, PEXPIRE = true,
                 HINCRBY = true}
local group = ARGV[1]
local i = 2

local function apply_ops(count, run)
  for _ = 1, count do
    local command = ARGV[i]
    local key = KEYS[tonumber(ARGV[i + 1])]
    local nargs = tonumber(ARGV[i + 2])
    i = i + 3
    if run then
      if not allowed[command] then
        return redis.error_reply('commit: command not allowed: ' .. command)
      end
      redis.call(command, key, unpack(ARGV, i, i + nargs - 1))
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
