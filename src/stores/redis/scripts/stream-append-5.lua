-- Appends one delta to an open stream's buffer, in index order, bounded in size.
--
-- KEYS[1]  stream hash   vh:stream:{t}:<sessionId>:<streamId>   (owner, role, node, socket, lastIndex, closing)
-- KEYS[2]  stream text   vh:stream-text:{t}:<sessionId>:<streamId>
-- KEYS[3]  open streams  vh:streams:{t} (sorted set of the session's bucket, score = time of the last delta in ms)
-- KEYS[4]  delta ends    vh:stream-ends:{t}:<sessionId>:<streamId> (byte length of the text after each delta)
-- KEYS[5]  closed mark   vh:stream-closed:{t}:<sessionId>:<streamId> (id of the message a barge-in stored)
-- ({t} is the bucket's hash tag: every key of a call is in one cluster slot)
-- ARGV[1]  member "<sessionId>:<streamId>"   ARGV[2] userId   ARGV[3] role
-- ARGV[4]  index          ARGV[5] delta          ARGV[6] now (ms)
-- ARGV[7]  max text bytes ARGV[8] ttl seconds    ARGV[9] nodeId   ARGV[10] socketId
-- Output:  1 appended; 0 duplicate (index already seen); -1 gap (then {-1, expected});
--          -2 too large; -3 the stream belongs to another user; -4 the stream was
--          interrupted (then {-4, messageId or ''}) (codes in script-codes.ts)
local closedBy = redis.call('GET', KEYS[5])
if closedBy then
  return {-4, closedBy}
end
if redis.call('HGET', KEYS[1], 'closing') then
  return {-4, ''}
end
local owner = redis.call('HGET', KEYS[1], 'userId')
if owner and owner ~= ARGV[2] then
  return {-3, 0}
end
local last = tonumber(redis.call('HGET', KEYS[1], 'lastIndex') or '-1')
local index = tonumber(ARGV[4])
if index <= last then
  return {0, last + 1}
end
if index ~= last + 1 then
  return {-1, last + 1}
end
if redis.call('STRLEN', KEYS[2]) + string.len(ARGV[5]) > tonumber(ARGV[7]) then
  return {-2, last + 1}
end
local length = redis.call('APPEND', KEYS[2], ARGV[5])
redis.call('RPUSH', KEYS[4], length)
redis.call('HSET', KEYS[1], 'userId', ARGV[2], 'role', ARGV[3], 'lastIndex', index, 'nodeId', ARGV[9], 'socketId', ARGV[10])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[2], ARGV[8])
redis.call('EXPIRE', KEYS[4], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
return {1, index + 1}
