-- sold_out_snapshot.lua: read, in one atomic step, everything an origin needs to answer a
-- sold-out sale from memory.
--
-- KEYS[1]  hg:{<sale>}:sale     hash: stock, remaining, sold, limit, starts_at_ms, rate, seq
-- KEYS[2]  hg:{<sale>}:orders   hash: visitor -> order JSON
--
-- Returns:
--   {}                                                   no such sale
--   {n}                                                  the sale is not sold out: n > 0 items
--                                                        left or captures pending (either may
--                                                        still sell or come back)
--   {0, sold, starts_at_ms, rate, limit, price_amount, price_currency, paused, revision,
--    cancelled, pq_opens_at_ms, pq_window_ms, draw_commitment, draw_seed, countries, given,
--    received, v1, order1, v2, ...}
--        sold out, with every order (the price fields are '' when the sale has no price;
--        paused, revision and cancelled are 0 when never set; the four draw fields are ''
--        without a pre-queue, and the caller reveals the seed only after the draw's close)
--
-- Reads, and writes only the sale's `replays` count: the origin answers orders from this
-- snapshot, so its wait for replicas after the script must cover every order in it (an
-- order's first answer may have been a 503 for want of a replica). Once remaining is 0 the
-- orders hash cannot grow until an operator restocks, which PUBLISHes "open:<sale>" and makes
-- every origin drop the snapshot.

local f = redis.call('HMGET', KEYS[1], 'remaining', 'sold', 'starts_at_ms', 'rate', 'limit',
  'price_amount', 'price_currency', 'paused', 'revision', 'cancelled', 'pending',
  'pq_opens_at_ms', 'pq_window_ms', 'draw_commitment', 'draw_seed', 'countries', 'xreg_open',
  'xreg_out', 'xreg_in')
if not f[1] then
  return {}
end
-- (A move of stock to another region under way from here is not sold out either: the edge
-- must see it, so this origin keeps asking Redis until it is settled.)
local open = tonumber(f[1]) + tonumber(f[11] or '0') + tonumber(f[17] or '0')
if open > 0 then
  return {open}
end
-- (A stock shard has no rate of its own: 0 keeps the reply whole; the origin takes the
-- settings from the sale's own hash.)
local out = {0, tonumber(f[2]), tonumber(f[3] or '0'), tonumber(f[4] or '0'), tonumber(f[5] or '0'), f[6] or '',
  f[7] or '', tonumber(f[8] or '0'), tonumber(f[9] or '0'), tonumber(f[10] or '0'),
  f[12] or '', f[13] or '', f[14] or '', f[15] or '', f[16] or '', tonumber(f[18] or '0'),
  tonumber(f[19] or '0')}
redis.call('HINCRBY', KEYS[1], 'replays', 1)
local orders = redis.call('HGETALL', KEYS[2])
for i = 1, #orders do
  out[#out + 1] = orders[i]
end
return out
