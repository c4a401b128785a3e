-- cancel_orders.lua: cancel orders the audit flagged and return their items to stock,
-- atomically. Run before payment capture: a cancelled order is never charged.
--
-- KEYS[1]  hg:{<sale>}:sale       hash: stock, remaining, sold, ...
-- KEYS[2]  hg:{<sale>}:orders     hash: visitor -> order JSON
-- KEYS[3]  hg:{<sale>}:cancelled  hash: visitor -> the cancelled order JSON
-- KEYS[4]  hg:{<sale>}:log        stream: a "cancelled" entry per order
-- ARGV[1]  sale id
-- ARGV[2]  events channel  (PUBLISHed "open:<sale>" when stock comes back from zero)
-- ARGV[3]  now, unix ms
-- ARGV[4…] visitor ids whose orders to cancel (validated by the caller)
--
-- Returns {cancelled, remaining}. Visitors without an order (already cancelled, or never
-- bought) are skipped, so running it twice changes nothing the second time. The pass that
-- bought stays spent (hg:{<sale>}:passes), so a cancelled visitor cannot buy again with it.
--
-- Invariants kept: sold + remaining = stock; every order is in exactly one of the orders and
-- cancelled hashes.

local sale_key, orders_key, cancelled_key, log_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sale, channel, now = ARGV[1], ARGV[2], ARGV[3]

local before = tonumber(redis.call('HGET', sale_key, 'remaining'))
if not before then
  return {0, 0}
end
local cancelled = 0
for i = 4, #ARGV do
  local visitor = ARGV[i]
  local order = redis.call('HGET', orders_key, visitor)
  if order then
    local qty = tonumber(cjson.decode(order).quantity)
    redis.call('HDEL', orders_key, visitor)
    redis.call('HSET', cancelled_key, visitor, order)
    redis.call('HINCRBY', sale_key, 'remaining', qty)
    redis.call('HINCRBY', sale_key, 'sold', -qty)
    redis.call('XADD', log_key, '*', 'cancelled', cjson.decode(order).order_id,
      'visitor', visitor, 'quantity', qty, 'at_ms', now)
    cancelled = cancelled + 1
  end
end
local remaining = tonumber(redis.call('HGET', sale_key, 'remaining'))
if before == 0 and remaining > 0 then
  redis.call('PUBLISH', channel, 'open:' .. sale)
end
return {cancelled, remaining}
