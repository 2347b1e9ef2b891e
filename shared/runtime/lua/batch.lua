-- Runs `handle(keys, argv)` (defined in front of this file) once per call of a batch.
--
-- KEYS: every key the batch touches, each once. ARGV[1]: a MessagePack list of calls, each
-- {key positions in KEYS, arguments}. Returns one reply per call, in order: its result, or an
-- error reply of its own (a failing call fails alone; calls before and after it still apply).

local calls = cmsgpack.unpack(ARGV[1])
local replies = {}
for n, call in ipairs(calls) do
  local keys = {}
  for i, position in ipairs(call[1]) do keys[i] = KEYS[position] end
  local ok, reply = pcall(handle, keys, call[2])
  if not ok then
    reply = type(reply) == 'table' and reply or redis.error_reply(tostring(reply))
  elseif reply == nil then
    reply = false
  end
  replies[n] = reply
end
return replies
