-- cancel_orders.lua: cancel orders the audit flagged and return their items (or seats) to
-- stock, atomically. A paid order (card holds) is marked for a refund; an order whose payment is
-- still being captured is left for the next audit, so no capture races a cancellation.
--
-- KEYS[1]  hg:{<sale>}:sale       hash: stock, remaining, sold, cancelled (orders cancelled
--                                  so far, public: the edge asks again for orders it stored)
-- KEYS[2]  hg:{<sale>}:orders     hash: visitor -> order JSON
-- KEYS[3]  hg:{<sale>}:cancelled  hash: visitor -> the cancelled order JSON
-- KEYS[4]  hg:{<sale>}:log        stream: a "cancelled" entry per order
-- KEYS[5]  hg:{<sale>}:payments   hash: visitor -> payment JSON (see purchase.lua)
-- KEYS[6]  hg:{<sale>}:seat_rows  hash: a seated sale's rows (seats.lua): a cancelled order's
--                                  seats are set free again
-- ARGV[1]  sale id
-- ARGV[2]  events channel  (PUBLISHed "open:<sale>" when stock comes back from zero)
-- ARGV[3]  now, unix ms
-- ARGV[4…] visitor ids whose orders to cancel (validated by the caller)
--
-- Returns {cancelled, remaining, visitor1, hold1, amount1, currency1, ...}: the quadruples are the cancelled
-- orders whose payment was captured, now marked "refunding" (the caller refunds them and
-- marks them "refunded"). Visitors without an order (already cancelled, or never bought), and
-- orders whose payment is still "pending", are skipped, so running it twice changes nothing
-- the second time. The pass that
-- bought stays spent (hg:{<sale>}:passes), so a cancelled visitor cannot buy again with it.
--
-- Invariants kept: sold + remaining = stock; every order is in exactly one of the orders and
-- cancelled hashes; every seat is free, held or sold in one order (a cancelled order's seats
-- are free again, and seats.lua holds none for a cancelled visitor).

local sale_key, orders_key, cancelled_key, log_key, payments_key, rows_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local sale, channel, now = ARGV[1], ARGV[2], ARGV[3]

local before = tonumber(redis.call('HGET', sale_key, 'remaining'))
if not before then
  return {0, 0}
end

-- Sets the seats of a seated order (ids "<section>/<row>/<n>") free in their rows.
local function free_seats(seats)
  local rows = {}
  for _, id in ipairs(seats) do
    local rk, n = string.match(id, '^(.+)/(%d+)$')
    n = tonumber(n)
    rows[rk] = rows[rk] or redis.call('HGET', rows_key, rk)
    rows[rk] = string.sub(rows[rk], 1, n - 1) .. '.' .. string.sub(rows[rk], n + 1)
  end
  for rk, state in pairs(rows) do redis.call('HSET', rows_key, rk, state) end
end
local cancelled = 0
local refunds = {}
for i = 4, #ARGV do
  local visitor = ARGV[i]
  local order = redis.call('HGET', orders_key, visitor)
  local payment = payments_key and redis.call('HGET', payments_key, visitor)
  local p = payment and cjson.decode(payment)
  if order and p and p.state == 'pending' then
    order = nil
  end
  if order then
    if p and p.state == 'captured' then
      local amount = string.match(payment, '"amount":(%d+)')
      redis.call('HSET', payments_key, visitor, '{"intent":"' .. p.intent .. '","amount":' ..
        amount .. ',"currency":"' .. p.currency .. '","state":"refunding","at":' .. now .. '}')
      refunds[#refunds + 1] = visitor
      refunds[#refunds + 1] = p.intent
      refunds[#refunds + 1] = amount
      refunds[#refunds + 1] = p.currency
    end
    local o = cjson.decode(order)
    local qty = tonumber(o.quantity)
    if type(o.seats) == 'table' then free_seats(o.seats) end
    redis.call('HDEL', orders_key, visitor)
    redis.call('HSET', cancelled_key, visitor, order)
    redis.call('HINCRBY', sale_key, 'remaining', qty)
    redis.call('HINCRBY', sale_key, 'sold', -qty)
    redis.call('XADD', log_key, '*', 'cancelled', cjson.decode(order).order_id,
      'visitor', visitor, 'quantity', qty, 'at_ms', now)
    cancelled = cancelled + 1
  end
end
if cancelled > 0 then
  redis.call('HINCRBY', sale_key, 'cancelled', cancelled)
end
local remaining = tonumber(redis.call('HGET', sale_key, 'remaining'))
if before == 0 and remaining > 0 then
  redis.call('PUBLISH', channel, 'open:' .. sale)
end
local out = {cancelled, remaining}
for _, v in ipairs(refunds) do
  out[#out + 1] = v
end
return out
