-- One exact sliding-window check: counts the attempts admitted in the last `window` ms and
-- admits this one only if fewer than `limit` were. Rejected attempts are not recorded, so
-- they never extend the window. Time comes from the Redis server (TIME), the same clock for
-- every node.
--
-- KEYS[1]  sorted set of admitted attempts (score = ms, member unique per attempt)
-- ARGV[1]  window in ms
-- ARGV[2]  limit (attempts per window)
-- ARGV[3]  member suffix, unique per attempt (node and counter)
-- Output:  {1, remaining, 0} admitted; {0, 0, retryAfterMs} rejected
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, t[1] .. t[2] .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1, 0}
end
-- The attempt that has to leave the window before one more fits (limits can shrink at run time).
local edge = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local retry = tonumber(edge[2]) + window - now
if retry < 1 then retry = 1 end
return {0, 0, retry}
