-- purchase.lua: turn one admission pass into at most one order, atomically.
--
-- KEYS[1]  hg:{<sale>}:sale     hash: stock, remaining, sold, limit, starts_at_ms, rate, seq,
--                               pending (payments being captured), replays (orders answered
--                               again: a write, so the origin's wait for replicas covers them);
--                               a sale split over stock shards (stock_shard.lua) has
--                               stock_shards here and sells only at its shards, whose hashes
--                               have shard_of, shard (k) and shards (N)
-- KEYS[2]  hg:{<sale>}:orders   hash: visitor -> order JSON
-- KEYS[3]  hg:{<sale>}:passes   hash: pass id -> order id (spent passes)
-- KEYS[4]  hg:{<sale>}:log      stream: one entry per order, for downstream consumers
-- KEYS[5]  hg:{<sale>}:facts    hash: visitor -> what the audit needs (JSON, see ARGV[7])
-- KEYS[6]  hg:{<sale>}:cancelled hash: visitor -> an order the audit cancelled
-- KEYS[7]  hg:{<sale>}:payments hash: visitor -> the order's card payment (JSON, see below)
-- KEYS[8]  hg:{<sale>}:dead_holds set: holds whose capture failed (never tried again)
-- ARGV[1]  visitor id      (validated by the caller: [A-Za-z0-9_-]{1,64})
-- ARGV[2]  pass id         (validated by the caller: [0-9a-f]{1,64})
-- ARGV[3]  quantity        (a positive integer)
-- ARGV[4]  now, unix ms    (the caller's clock; recorded on the order)
-- ARGV[5]  sale id         (the <sale> of the keys)
-- ARGV[6]  events channel  (PUBLISHed "sold_out:<sale>" when stock reaches zero with no
--                          capture pending; settle_payment.lua publishes it otherwise)
-- ARGV[7]  audit facts     (JSON built by the caller from the verified pass; stored as is)
-- ARGV[8]  hold            the pass's card hold (validated by the caller: pi_[A-Za-z0-9_]+),
--                          or '' without one
--
-- Returns one of (first element is the outcome):
--   {"created",  order_json, remaining, payment_json}   the order was taken now
--   {"existing", order_json, remaining, payment_json}   this visitor already has an order: the same one
--        payment_json is '' when the sale has no price, else
--        {"intent":"pi_…","amount":<minor units>,"currency":"eur","state":"pending"|"captured","at":<ms>}
--        A created order's payment is "pending": the caller captures the hold, then runs
--        settle_payment.lua ("captured", or "released" to give the item back).
--   {"hold_required"}                     the sale has a price and the pass carries no hold
--   {"hold_dead"}                         this hold's capture failed before: put a card on hold again
--   {"unknown_sale"}                      no sale at KEYS[1]
--   {"seated"}                            the sale sells seats (seats.lua): no order here
--   {"sharded"}                           the sale's stock is at its shards: buy there
--   {"pass_spent"}                        the pass bought before (and that order is gone)
--   {"cancelled"}                         the audit cancelled this visitor's order: no rebuy
--   {"not_open", starts_at_ms}            the sale has not started at ARGV[4]
--   {"over_limit", limit}                 quantity outside 1..limit
--   {"sold_out", remaining}               remaining < quantity; nothing changed
--
-- Invariants kept (the whole script runs atomically):
--   * remaining never goes below zero, and sold + remaining = stock after every call;
--   * at most one order per visitor: a retry returns the existing order unchanged;
--   * a pass is spent by the order it created and never buys again;
--   * every order is in the orders hash and in the stream, or in neither.
--   (An order the audit cancels moves to hg:{<sale>}:cancelled; see cancel_orders.lua.)
-- All keys share the hash tag {<sale>}, so the script runs on Redis Cluster.
--
-- At a stock shard k of N, the keys are the shard's ({<sale>.<k>.<j>}), ARGV[5] is still the
-- sale, order numbers are k+1, k+1+N, k+1+2N, ... (unique over the shards), and "sold out"
-- is this shard's: only the origin, looking at every shard, says the sale is sold out, so
-- nothing is PUBLISHed here.

local sale_key, orders_key, passes_key, log_key, facts_key, cancelled_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local visitor, pass_id, qty, now, sale, channel, facts =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7]

local payments_key, dead_key = KEYS[7], KEYS[8]
local hold = ARGV[8] or ''

local fields = redis.call('HMGET', sale_key, 'remaining', 'limit', 'starts_at_ms', 'price_amount',
  'price_currency', 'seated', 'stock_shards', 'shard', 'shards')
if not fields[1] then
  return {'unknown_sale'}
end
if fields[6] == '1' then
  return {'seated'}
end
if fields[7] then
  return {'sharded'}
end
local remaining = tonumber(fields[1])

local existing = redis.call('HGET', orders_key, visitor)
if existing then
  -- A write of its own: the origin's WAIT for replicas after this script then covers the
  -- order's first write too, which may have been answered 503 for want of a replica.
  redis.call('HINCRBY', sale_key, 'replays', 1)
  return {'existing', existing, remaining, redis.call('HGET', payments_key, visitor) or ''}
end

-- A cancelled visitor retrying with the pass that bought reads "cancelled", not "spent".
if redis.call('HEXISTS', cancelled_key, visitor) == 1 then
  return {'cancelled'}
end

if redis.call('HEXISTS', passes_key, pass_id) == 1 then
  return {'pass_spent'}
end

local price = fields[4]
if price and hold == '' then
  return {'hold_required'}
end
if price and redis.call('SISMEMBER', dead_key, hold) == 1 then
  return {'hold_dead'}
end

if tonumber(now) < tonumber(fields[3]) then
  return {'not_open', tonumber(fields[3])}
end

if qty == nil or qty < 1 or qty > tonumber(fields[2]) then
  return {'over_limit', tonumber(fields[2])}
end

if remaining < qty then
  return {'sold_out', remaining}
end

remaining = redis.call('HINCRBY', sale_key, 'remaining', -qty)
redis.call('HINCRBY', sale_key, 'sold', qty)
local number = redis.call('HINCRBY', sale_key, 'seq', 1)
if fields[9] then
  number = (number - 1) * tonumber(fields[9]) + tonumber(fields[8]) + 1
end
local order_id = sale .. '-' .. string.format('%d', number)
local order = '{"order_id":"' .. order_id .. '","sale":"' .. sale .. '","visitor":"' .. visitor ..
  '","quantity":' .. qty .. ',"pass_id":"' .. pass_id .. '","created_at_ms":' .. now .. '}'
redis.call('HSET', orders_key, visitor, order)
redis.call('HSET', passes_key, pass_id, order_id)
if facts and facts ~= '' then
  redis.call('HSET', facts_key, visitor, facts)
end
redis.call('XADD', log_key, '*', 'order_id', order_id, 'visitor', visitor, 'quantity', qty,
  'pass_id', pass_id, 'created_at_ms', now)
local payment = ''
if price then
  -- Integer arithmetic in Lua doubles: exact while price * qty < 2^53 (the caller bounds both).
  payment = '{"intent":"' .. hold .. '","amount":' .. string.format('%d', tonumber(price) * qty) ..
    ',"currency":"' .. fields[5] .. '","state":"pending","at":' .. now .. '}'
  redis.call('HSET', payments_key, visitor, payment)
  -- Captures under way: until they settle, an item may come back (settle_payment.lua), so
  -- the sale is not sold out while any is pending.
  redis.call('HINCRBY', sale_key, 'pending', 1)
end
if remaining == 0 and not fields[9] and tonumber(redis.call('HGET', sale_key, 'pending') or '0') == 0 then
  redis.call('PUBLISH', channel, 'sold_out:' .. sale)
end
return {'created', order, remaining, payment}
