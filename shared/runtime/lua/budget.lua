-- A stage's budget ledger calls (ledger.lua is loaded in front of this file; ScriptBatch runs
-- `handle` once per call of a batch).
--
-- keys[1]: the event's ledger hash. argv: op ('reserve' | 'settle' | 'release'), call id, tokens,
-- micro-USD, token limit, micro-USD limit, ttl seconds.
-- reserve returns 1 (go ahead) or 0 (the budget would be exceeded); settle returns 1 if it
-- charged, 0 if this call was already charged. release drops a call's reservation without
-- charging anything (the call failed before the model answered); it returns 1 if there was one.

local function handle(keys, argv)
  local key, op, id = keys[1], argv[1], argv[2]
  local tokens, micro = tonumber(argv[3]), tonumber(argv[4])
  if op == 'reserve' then
    return ledger_reserve(key, id, tokens, micro, tonumber(argv[5]), tonumber(argv[6]), argv[7])
  elseif op == 'settle' then
    return ledger_settle(key, id, tokens, micro, argv[7])
  elseif op == 'release' then
    return ledger_release(key, id)
  end
  return redis.error_reply('budget: unknown op ' .. tostring(op))
end
