-- Records one moment of the current turn, once.
--
-- KEYS[1]  current turn  vh:turn:<sessionId>
-- ARGV[1]  field (firstDeltaAt, firstAudioAt, finalAt, interruptedAt)   ARGV[2] now (ms)
-- Output:  the turn's endedAt when this call recorded the field; false otherwise
local ended = redis.call('HGET', KEYS[1], 'endedAt')
if not ended then
  return false
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return false
end
return ended
