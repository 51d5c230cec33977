-- Changes one node's connection count of a user in a session, and returns the user's total
-- over every node, atomically (so broadcast counts never go backwards under races).
--
-- KEYS[1]  presence hash of the session        vh:presence:<sessionId>
-- KEYS[2]  set of sessions this node is in     vh:node-sessions:<nodeId>
-- ARGV[1]  field  "<nodeId>\t<userId>\t<role>"
-- ARGV[2]  delta  1 or -1
-- ARGV[3]  user marker "\t<userId>\t"
-- ARGV[4]  sessionId
-- Output:  { the user's connections in the session, all nodes together (>= 0),
--            the session's presence hash after the change as HGETALL gives it }
-- The node's set of sessions loses the session once the node has no connection left in it,
-- so neither grows for ever.
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local node = string.match(ARGV[1], '^[^\t]*\t')
local total = 0
local nodeHasMore = false
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.find(all[i], ARGV[3], 1, true) then
    total = total + tonumber(all[i + 1])
  end
  if string.sub(all[i], 1, #node) == node then
    nodeHasMore = true
  end
end
if nodeHasMore then
  redis.call('SADD', KEYS[2], ARGV[4])
else
  redis.call('SREM', KEYS[2], ARGV[4])
end
return { total, all }
