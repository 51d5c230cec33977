-- Records one moment of a turn of a session, once; a mark of a newer turn than the current
-- one moves the current one to the front of the history first.
--
-- KEYS[1]  current turn  vh:turn:<sessionId>  (hash: turnId, endedAt, firstDeltaAt, ...)
-- KEYS[2]  history       vh:turns:<sessionId> (HGETALL arrays as JSON, newest first)
-- ARGV[1]  turn id (the user's message)  ARGV[2] when the user's turn ended (ms)
-- ARGV[3]  field (firstDeltaAt, firstAudioAt, finalAt, interruptedAt)  ARGV[4] now (ms)
-- ARGV[5]  turns kept  ARGV[6] ttl seconds
-- Output:  1 when this call recorded the field; 0 when it was recorded before, or the
--          turn is older than the current one
local current = redis.call('HGET', KEYS[1], 'turnId')
if current ~= ARGV[1] then
  if tonumber(redis.call('HGET', KEYS[1], 'endedAt') or '0') > tonumber(ARGV[2]) then
    return 0
  end
  if current then
    redis.call('LPUSH', KEYS[2], cjson.encode(redis.call('HGETALL', KEYS[1])))
    redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
    redis.call('EXPIRE', KEYS[2], ARGV[6])
  end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'turnId', ARGV[1], 'endedAt', ARGV[2])
end
local set = redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return set
