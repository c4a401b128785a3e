-- upsert_sale.lua: create a sale, or change its settings, without ever losing a sale.
--
-- KEYS[1]  hg:{<sale>}:sale   hash: stock, remaining, sold, limit, starts_at_ms, rate, seq,
--                              price_amount, price_currency, paused, revision, cancelled,
--                              countries
-- KEYS[2]  hg:{<sale>}:seat_tiers  hash: a seated sale's tier prices, "price:<char>" (seats.lua)
-- ARGV[1]  stock           total items (sold + remaining), a non-negative integer
-- ARGV[2]  limit           most items per visitor, >= 1
-- ARGV[3]  starts_at_ms    when the sale opens, unix ms
-- ARGV[4]  rate            buyers admitted per second, >= 1
-- ARGV[5]  sale id         (the <sale> of the key)
-- ARGV[6]  events channel  (PUBLISHed "open:<sale>", then "sold_out:<sale>" if none is left)
-- ARGV[7]  price amount    one item's price in minor units ('' : the sale takes no card holds);
--                          of a seated sale, what its card holds authorise per seat: at least
--                          its dearest tier's price
-- ARGV[8]  price currency  ISO 4217, lower case ('' with no price)
-- ARGV[9]  paused          '1' to pause admission, '0' to resume it, '' to leave it as it is
-- ARGV[10] now, unix ms     (the caller's clock: see revision below)
-- ARGV[11] pre-queue opens at, unix ms ('' : the sale has no pre-queue)
-- ARGV[12] draw window, ms (the draw closes that long after the start)
-- ARGV[13] a fresh draw seed, hex: kept only if the sale has none yet (never replaced, so the
--          commitment published before the pre-queue opened stays the one the draw keeps)
-- ARGV[14] the seed's commitment
-- ARGV[15] stock shards: '' (as it is; 1 for a new sale) or N >= 1. Set when the sale is
--          created and never changed: visitors are routed to shards by N. With N > 1 this
--          hash is the reserve of stock_shard.lua: its remaining is the stock not given to a
--          shard yet, and a change of stock changes only that
-- ARGV[16] countries: the geofence, ISO codes joined by ',' ('' : sold to every country);
--          replaced like the other settings
--
-- Returns:
--   {"created", remaining}            a new sale
--   {"updated", remaining}            an existing sale, settings replaced
--   {"stock_below_sold", sold}        stock < items already sold; nothing changed
--   {"seated_stock", 0}               a seated sale given another stock than its map's
--   {"seated_price", dearest}         a seated sale given a price below its dearest tier's,
--                                     or ({"seated_price", 0}) its price taken away while
--                                     seats are held or sold
--   {"shards_fixed", n}               stock shards other than the sale's n; nothing changed
--   {"draw_fixed", 0}                 a pre-queue added to an existing sale, or, once it opened,
--                                     removed or its opening moved, or, once its draw closed,
--                                     the close moved; nothing changed
--
-- Invariants kept: sold is never changed here, and remaining = stock - sold - moved >= 0
-- afterwards, where moved (xfer_out - xfer_in) is what went to stock shards;
-- revision grows with every change, to at least now (ARGV[10]): the edge follows the highest it
-- has seen, and a Redis restored from an older copy still moves forward.
-- Every origin is told the sale's new standing on the events channel, so a restocked sale
-- leaves every origin's sold-out memory.

local key = KEYS[1]
local stock = tonumber(ARGV[1])
local f = redis.call('HMGET', key, 'sold', 'xfer_out', 'xfer_in', 'stock_shards', 'stock')
local sold = tonumber(f[1] or '0')
-- Given to stock shards: sold there, or still theirs to sell.
local moved = tonumber(f[2] or '0') - tonumber(f[3] or '0')
local shards = tonumber(f[4] or '1')
if f[5] and ARGV[15] ~= '' and tonumber(ARGV[15]) ~= shards then
  return {'shards_fixed', shards}
end
if stock < sold + moved then
  return {'stock_below_sold', sold + moved}
end
-- A seated sale's stock is its seat map (seats.lua): only the map changes it. Its prices are
-- its tiers'; its price is what a card hold authorises per seat, so no tier may cost more.
if redis.call('HGET', key, 'seated') == '1' then
  if stock ~= tonumber(redis.call('HGET', key, 'stock')) then
    return {'seated_stock', 0}
  end
  -- Card holds were taken for its seats: the price stays while seats are held or sold.
  local holding = tonumber(redis.call('HGET', key, 'held') or '0') + tonumber(redis.call('HGET', key, 'sold') or '0')
  if ARGV[7] == '' and redis.call('HEXISTS', key, 'price_amount') == 1 and holding > 0 then
    return {'seated_price', 0}
  end
  if ARGV[7] ~= '' then
    local fields = {}
    local chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
    for i = 1, #chars do fields[i] = 'price:' .. string.sub(chars, i, i) end
    local dearest = 0
    for _, p in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do
      if p then dearest = math.max(dearest, tonumber(p)) end
    end
    if tonumber(ARGV[7]) < dearest then
      return {'seated_price', dearest}
    end
  end
end
local created = redis.call('EXISTS', key) == 0
-- A pre-queue is set when the sale is created. Once it has opened it stays, and its opening
-- stays; once its draw has closed, the close stays too (a start moved later would otherwise
-- hide a revealed seed again, and reopen a sealed draw on paper).
local now = tonumber(ARGV[10])
local had_prequeue = redis.call('HEXISTS', key, 'pq_opens_at_ms') == 1
if had_prequeue then
  local pq = redis.call('HMGET', key, 'pq_opens_at_ms', 'pq_window_ms', 'starts_at_ms')
  local opens, window, starts = tonumber(pq[1]), tonumber(pq[2] or '0'), tonumber(pq[3] or '0')
  if opens <= now then
    if ARGV[11] == '' or tonumber(ARGV[11]) ~= opens then
      return {'draw_fixed', 0}
    end
    local closes = starts + window
    if closes <= now and tonumber(ARGV[3]) + tonumber(ARGV[12]) ~= closes then
      return {'draw_fixed', 0}
    end
  end
elseif ARGV[11] ~= '' and not created then
  return {'draw_fixed', 0}
end
local remaining = stock - sold - moved
if created and ARGV[15] ~= '' and tonumber(ARGV[15]) > 1 then
  shards = tonumber(ARGV[15])
  redis.call('HSET', key, 'stock_shards', shards)
end
redis.call('HSET', key, 'stock', stock, 'remaining', remaining, 'sold', sold,
  'limit', ARGV[2], 'starts_at_ms', ARGV[3], 'rate', ARGV[4])
if ARGV[9] ~= '' then
  redis.call('HSET', key, 'paused', ARGV[9])
end
local revision = tonumber(redis.call('HGET', key, 'revision') or '0') + 1
redis.call('HSET', key, 'revision', math.max(revision, tonumber(ARGV[10])))
if created then
  redis.call('HSET', key, 'seq', 0)
end
if ARGV[11] ~= '' then
  redis.call('HSET', key, 'pq_opens_at_ms', ARGV[11], 'pq_window_ms', ARGV[12])
  if redis.call('HEXISTS', key, 'draw_seed') == 0 then
    redis.call('HSET', key, 'draw_seed', ARGV[13], 'draw_commitment', ARGV[14])
  end
else
  redis.call('HDEL', key, 'pq_opens_at_ms', 'pq_window_ms', 'draw_seed', 'draw_commitment')
end
if ARGV[16] and ARGV[16] ~= '' then
  redis.call('HSET', key, 'countries', ARGV[16])
else
  redis.call('HDEL', key, 'countries')
end
if ARGV[7] ~= '' then
  redis.call('HSET', key, 'price_amount', ARGV[7], 'price_currency', ARGV[8])
else
  redis.call('HDEL', key, 'price_amount', 'price_currency')
end
-- "open" drops every origin's sold-out memory of the sale; a sale still sold out is then read
-- again, so that memory never answers with settings older than these.
redis.call('PUBLISH', ARGV[6], 'open:' .. ARGV[5])
-- (A reserve with nothing left is not a sold-out sale: its shards may have stock.)
if remaining == 0 and shards == 1 then
  redis.call('PUBLISH', ARGV[6], 'sold_out:' .. ARGV[5])
end
if created then
  return {'created', remaining}
end
return {'updated', remaining}
