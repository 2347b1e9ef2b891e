-- Delete a departed consumer from its group, but only if it owns no pending entry right now.
--
-- XGROUP DELCONSUMER drops the consumer's pending entries with it, and nothing can reclaim them
-- after that. Checking and deleting in one atomic step means a consumer that was presumed gone
-- but has just read new entries (a stalled worker waking up) is never deleted together with them.
--
-- KEYS[1]: stream; ARGV[1]: group; ARGV[2]: consumer. Returns 1 if deleted, 0 if it owns entries.

if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
