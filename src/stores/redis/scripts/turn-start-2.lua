-- Starts a new turn of a session; the current one goes to the front of its history.
--
-- KEYS[1]  current turn  vh:turn:<sessionId>  (hash: endedAt, firstDeltaAt, ...)
-- KEYS[2]  history       vh:turns:<sessionId> (list of flat field/value arrays as JSON, newest first)
-- ARGV[1]  now (ms)      ARGV[2] turns kept   ARGV[3] ttl seconds
local current = redis.call('HGETALL', KEYS[1])
if #current > 0 then
  redis.call('LPUSH', KEYS[2], cjson.encode(current))
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'endedAt', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
