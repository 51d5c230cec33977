-- Changes one node's connection count of a user in a session, and returns the user's total
-- over every node, atomically (so broadcast counts never go backwards under races).
--
-- KEYS[1]  presence hash of the session        vh:presence:<sessionId>
-- ARGV[1]  field  "<nodeId>\t<userId>\t<role>"
-- ARGV[2]  delta  1 or -1
-- ARGV[3]  user marker "\t<userId>\t"
-- Output:  { the user's connections in the session, all nodes together (>= 0),
--            the session's presence hash after the change as HGETALL gives it,
--            1 if the node still has a connection in the session, else 0 }
-- The caller keeps the node's set of sessions (vh:node-sessions:<nodeId>) from the last
-- value: on a Redis Cluster that set lives on another master than the hash.
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local node = string.match(ARGV[1], '^[^\t]*\t')
local total = 0
local nodeHasMore = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.find(all[i], ARGV[3], 1, true) then
    total = total + tonumber(all[i + 1])
  end
  if string.sub(all[i], 1, #node) == node then
    nodeHasMore = 1
  end
end
return { total, all, nodeHasMore }
