-- settle_payment.lua: record what capturing an order's card hold came to, atomically.
--
-- KEYS[1]  hg:{<sale>}:sale        hash: stock, remaining, sold, ...
-- KEYS[2]  hg:{<sale>}:orders      hash: visitor -> order JSON
-- KEYS[3]  hg:{<sale>}:passes      hash: spent pass id -> order id
-- KEYS[4]  hg:{<sale>}:log         stream: a "captured" or "payment_failed" entry per order
-- KEYS[5]  hg:{<sale>}:payments    hash: visitor -> payment JSON (see purchase.lua)
-- KEYS[6]  hg:{<sale>}:dead_holds  set: holds whose capture failed
-- KEYS[7]  hg:{<sale>}:facts       hash: visitor -> audit facts
-- KEYS[8]  hg:{<sale>}:seat_rows   hash: a seated sale's rows (seats.lua); an undone order's
--                                  seats are set free again
-- ARGV[1]  visitor id
-- ARGV[2]  hold            the intent the caller captured (pi_…)
-- ARGV[3]  outcome         "captured": the money is taken;
--                          "released": the hold cannot be captured (cancelled, expired,
--                          declined), so the order is undone and its items (or seats) go
--                          back on sale
-- ARGV[4]  now, unix ms
-- ARGV[5]  sale id
-- ARGV[6]  events channel  (PUBLISHed "open:<sale>" when stock comes back from zero, and
--                          "sold_out:<sale>" when the last pending capture of a sale with
--                          nothing left succeeds: only then is it sold out for good)
--
-- Returns:
--   {"captured", payment_json}   the payment is recorded as captured (now or before)
--   {"released", remaining}      the order is gone, its items are back, the pass may buy again
--                                with a new hold, and this hold is never tried again
--   {"none"}                     the visitor has no pending payment with this hold (settled
--                                before by another request): nothing changed
--
-- Invariants kept: sold + remaining = stock; every seat is free, held or sold in one order;
-- an order whose payment is captured is never
-- undone here; a released order leaves no trace in the orders, payments or passes hashes;
-- the sale's `pending` counts the payments still pending.

local sale_key, orders_key, passes_key, log_key, payments_key, dead_key, facts_key, rows_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local visitor, hold, outcome, now, sale, channel =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local payment = redis.call('HGET', payments_key, visitor)
if not payment then
  return {'none'}
end
local p = cjson.decode(payment)
if p.intent ~= hold then
  return {'none'}
end
if p.state == 'captured' then
  return {'captured', payment}
end
if p.state ~= 'pending' then
  return {'none'}
end
local order = redis.call('HGET', orders_key, visitor)
if not order then
  -- A pending payment whose order is gone: nothing of it is left to settle here.
  return {'none'}
end
local o = cjson.decode(order)

if outcome == 'captured' then
  local amount = string.match(payment, '"amount":(%d+)')
  payment = '{"intent":"' .. hold .. '","amount":' .. amount .. ',"currency":"' .. p.currency ..
    '","state":"captured","at":' .. now .. '}'
  redis.call('HSET', payments_key, visitor, payment)
  redis.call('XADD', log_key, '*', 'captured', o.order_id, 'visitor', visitor, 'hold', hold,
    'amount', amount, 'at_ms', now)
  local pending = redis.call('HINCRBY', sale_key, 'pending', -1)
  if pending <= 0 then
    redis.call('HSET', sale_key, 'pending', 0)
    -- (A stock shard's empty is not the sale's: the origin looks at every shard.)
    if tonumber(redis.call('HGET', sale_key, 'remaining')) == 0 and
        redis.call('HEXISTS', sale_key, 'shard_of') == 0 then
      redis.call('PUBLISH', channel, 'sold_out:' .. sale)
    end
  end
  return {'captured', payment}
end

local qty = tonumber(o.quantity)
local before = tonumber(redis.call('HGET', sale_key, 'remaining'))
redis.call('HDEL', orders_key, visitor)
redis.call('HDEL', payments_key, visitor)
redis.call('HDEL', facts_key, visitor)
redis.call('HDEL', passes_key, o.pass_id)
redis.call('SADD', dead_key, hold)
-- A seated order's seats are free again ('.' in their rows; see seats.lua).
if type(o.seats) == 'table' then
  local rows = {}
  for _, id in ipairs(o.seats) do
    local rk, n = string.match(id, '^(.+)/(%d+)$')
    n = tonumber(n)
    rows[rk] = rows[rk] or redis.call('HGET', rows_key, rk)
    rows[rk] = string.sub(rows[rk], 1, n - 1) .. '.' .. string.sub(rows[rk], n + 1)
  end
  for rk, state in pairs(rows) do redis.call('HSET', rows_key, rk, state) end
end
local remaining = redis.call('HINCRBY', sale_key, 'remaining', qty)
redis.call('HINCRBY', sale_key, 'sold', -qty)
if redis.call('HINCRBY', sale_key, 'pending', -1) < 0 then
  redis.call('HSET', sale_key, 'pending', 0)
end
redis.call('XADD', log_key, '*', 'payment_failed', o.order_id, 'visitor', visitor, 'hold', hold,
  'quantity', qty, 'at_ms', now)
if before == 0 and remaining > 0 then
  redis.call('PUBLISH', channel, 'open:' .. sale)
end
return {'released', remaining}
