-- Re-claim entries this consumer still owns, never one a peer has taken over.
--
-- KEYS[1]: stream; ARGV[1]: group; ARGV[2]: consumer; ARGV[3]: mode; ARGV[4..]: entry ids.
-- mode 'touch': reset the idle time (keeps a slow but healthy event from being reclaimed);
--               the delivery count is left alone.
-- mode 'retry': claim again as a new delivery (the delivery count goes up by one), used to
--               retry a failed event locally after backoff.
-- Returns, per id: the delivery count after the call; -1 when this consumer no longer owns the
-- entry; -2 when the entry was trimmed from the stream (its pending reference is dropped).

local stream, group, consumer, mode = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local out = {}
for n = 4, #ARGV do
  local id = ARGV[n]
  local pending = redis.call('XPENDING', stream, group, id, id, 1)
  if #pending == 0 or pending[1][2] ~= consumer then
    out[#out + 1] = -1
  elseif mode == 'touch' then
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID')
    out[#out + 1] = pending[1][4]
  else
    local claimed = redis.call('XCLAIM', stream, group, consumer, 0, id)
    if #claimed == 0 or claimed[1] == false or claimed[1][2] == false then
      redis.call('XACK', stream, group, id)
      out[#out + 1] = -2
    else
      out[#out + 1] = pending[1][4] + 1
    end
  end
end
return out
