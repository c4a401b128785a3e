-- control_sale.lua: an operator pauses, resumes or re-rates a sale's admission.
--
-- KEYS[1]  hg:{<sale>}:sale   hash: ..., rate, paused, revision (see upsert_sale.lua)
-- ARGV[1]  action          'pause', 'resume' or 'set_rate'
-- ARGV[2]  rate            with 'set_rate': buyers admitted per second (0 pauses and keeps the
--                          configured rate); else ignored
-- ARGV[3]  sale id         (the <sale> of the key)
-- ARGV[5]  now, unix ms     (the settings' revision is at least this, as in upsert_sale.lua)
-- ARGV[4]  events channel  (a sold-out sale: PUBLISHed "open:<sale>" then "sold_out:<sale>", so
--                          every origin reads its sold-out memory again, with these settings)
--
-- Returns:
--   {"ok"}                   the settings were changed (or already were as asked)
--   {"unknown_sale"}         no sale at KEYS[1]; nothing changed
--
-- Invariants kept: only rate, paused and revision change; revision grows on every call, to at
-- least now, so every edge follows the change (an edge follows the highest revision it has
-- seen), even after Redis was restored from an older copy.
-- All keys share the hash tag {<sale>}.

local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
  return {'unknown_sale'}
end
local action = ARGV[1]
if action == 'pause' then
  redis.call('HSET', key, 'paused', 1)
elseif action == 'resume' then
  redis.call('HSET', key, 'paused', 0)
elseif action == 'set_rate' then
  local rate = tonumber(ARGV[2])
  if rate == 0 then
    redis.call('HSET', key, 'paused', 1)
  else
    redis.call('HSET', key, 'rate', rate)
  end
else
  return redis.error_reply('unknown action')
end
local revision = tonumber(redis.call('HGET', key, 'revision') or '0') + 1
redis.call('HSET', key, 'revision', math.max(revision, tonumber(ARGV[5])))
if tonumber(redis.call('HGET', key, 'remaining')) == 0 then
  redis.call('PUBLISH', ARGV[4], 'open:' .. ARGV[3])
  redis.call('PUBLISH', ARGV[4], 'sold_out:' .. ARGV[3])
end
return {'ok'}
