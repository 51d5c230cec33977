-- Marks an open stream as interrupted (every later delta is refused) and returns it whole.
--
-- KEYS[1]  stream hash   vh:stream:{t}:<sessionId>:<streamId>
-- KEYS[2]  stream text   vh:stream-text:{t}:<sessionId>:<streamId>
-- KEYS[3]  delta ends    vh:stream-ends:{t}:<sessionId>:<streamId>
-- ({t} is the bucket's hash tag: every key of a call is in one cluster slot)
-- Output:  false when no stream is open; else {userId, role, nodeId, socketId, text, {ends...}}
local owner = redis.call('HGET', KEYS[1], 'userId')
if not owner then
  return false
end
redis.call('HSET', KEYS[1], 'closing', '1')
return {
  owner,
  redis.call('HGET', KEYS[1], 'role') or 'user',
  redis.call('HGET', KEYS[1], 'nodeId') or '',
  redis.call('HGET', KEYS[1], 'socketId') or '',
  redis.call('GET', KEYS[2]) or '',
  redis.call('LRANGE', KEYS[3], 0, -1),
}
