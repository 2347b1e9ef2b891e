-- Close overdue joins as partial (join.lua is loaded in front of this file). A join closes once,
-- whoever sweeps and however often: join_expire acts only on an open join.
-- KEYS[1]: the index of open joins.
-- ARGV[1]: now (epoch seconds); ARGV[2]: the join keys' prefix; ARGV[3]: most joins to close.
-- Returns the ids of the joins it closed.
local closed = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  if join_expire(ARGV[2] .. id, id, ARGV[1], KEYS[1]) == 2 then
    closed[#closed + 1] = id
  end
end
return closed
