-- stock_shard.lua: one place of a sale whose stock is split over shards, and the steps of
-- moving stock between two places. Places are the sale's own hash tag {<sale>} (the
-- reserve: settings, and stock not yet given to a shard) and its shards {<sale>.<k>.<j>}
-- (stock, and the orders of the visitors routed there). Two places are on different slots,
-- usually different primaries, so no script sees both: a transfer is three steps, each one
-- atomic and idempotent, keyed by the transfer's id, and its record at the source says what
-- is still to do. Whoever finds an open record (the origin that started it, or any origin's
-- keeper after a crash) finishes it; doing a step twice changes nothing.
--
--   1. debit  (at the source):      remaining -= n, xfer_out += n, xfer_open += 1,
--                                   open[id] = "<to>|<n>"
--   2. credit (at the destination): remaining += n, xfer_in += n, recv[id] = "<from>|<n>"
--   3. settle (at the source):      open[id] moves to done[id], xfer_open -= 1
--
-- A transfer between regions (regions.rs: the same sale's reserves in two regions' Redis)
-- names the other side "@<region>", and counts also in xreg_out, xreg_in and xreg_open (not
-- xfer_open): stock given to another region is gone from this one, so a cut-off transfer to
-- another region does not keep this region's sale from being sold out. xreg_moving counts the
-- items of those moves (debited here, not settled): the edge counts them as stock that can
-- still sell, so its admission does not hold the line short of items on their way.
--
-- So at every place, at every instant: sold + remaining + xfer_out - xfer_in is what the
-- place started with (the stock at the reserve, 0 at a shard), and the items of a transfer
-- between steps 1 and 2 are in no place's remaining: they cannot be sold twice, and its open
-- record keeps them from being lost.
--
-- KEYS[1]  hg:{<place>}:sale       hash: remaining, sold, seq, pending, limit, starts_at_ms,
--                                  price, revision; shard_of, shard, shards (a shard);
--                                  xfer_in, xfer_out, xfer_open, xreg_in, xreg_out, xreg_open,
--                                  xreg_moving (counts, see above)
-- KEYS[2]  hg:{<place>}:xfer_open  hash: transfer id -> "<to>|<n>", debited here, not settled
-- KEYS[3]  hg:{<place>}:xfer_done  hash: transfer id -> "<to>|<n>", settled
-- KEYS[4]  hg:{<place>}:xfer_recv  hash: transfer id -> "<from>|<n>", credited here
-- ARGV[1]  the step:
--   "sync", ARGV[2] sale, ARGV[3] shard k, ARGV[4] shards N, ARGV[5] revision, ARGV[6] limit,
--     ARGV[7] starts_at_ms, ARGV[8] rate, ARGV[9] price amount ('' none), ARGV[10] currency
--     Makes the shard (at 0 stock) if it is new, and takes the reserve's settings if they are
--     newer than its own (by revision).
--     -> {"synced", revision}   the settings the shard now has
--   "debit", ARGV[2] id, ARGV[3] to, ARGV[4] wanted, ARGV[5] keep (leave at least this many)
--     -> {"debited", n}          n = min(wanted, remaining - keep) > 0 taken now
--     -> {"open", n}             taken before by this id, not settled yet
--     -> {"done", n}             taken and settled before by this id
--     -> {"nothing", remaining}  not enough here: nothing changed
--   "credit", ARGV[2] id, ARGV[3] from, ARGV[4] n
--     -> {"credited", remaining}; {"already", remaining} (credited before: nothing changed)
--     -> {"missing"}             this place has no hash yet (sync it first): nothing changed
--   "settle", ARGV[2] id
--     -> {"settled"}; {"none"} (not open here: settled before, or never debited)

local key, open_key, done_key, recv_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local step = ARGV[1]

local function record(s)
  local n = string.match(s, '|(%d+)$')
  return tonumber(n)
end

if step == 'sync' then
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'shard_of', ARGV[2], 'shard', ARGV[3], 'shards', ARGV[4],
      'remaining', 0, 'sold', 0, 'seq', 0, 'pending', 0, 'xfer_in', 0, 'xfer_out', 0,
      'xfer_open', 0, 'revision', -1)
  end
  local revision = tonumber(redis.call('HGET', key, 'revision') or '-1')
  if tonumber(ARGV[5]) > revision then
    redis.call('HSET', key, 'revision', ARGV[5], 'limit', ARGV[6], 'starts_at_ms', ARGV[7],
      'rate', ARGV[8])
    if ARGV[9] ~= '' then
      redis.call('HSET', key, 'price_amount', ARGV[9], 'price_currency', ARGV[10])
    else
      redis.call('HDEL', key, 'price_amount', 'price_currency')
    end
    revision = tonumber(ARGV[5])
  end
  return {'synced', revision}
end

if step == 'debit' then
  local id = ARGV[2]
  local seen = redis.call('HGET', open_key, id)
  if seen then return {'open', record(seen)} end
  seen = redis.call('HGET', done_key, id)
  if seen then return {'done', record(seen)} end
  local remaining = tonumber(redis.call('HGET', key, 'remaining') or '0')
  local n = math.min(tonumber(ARGV[4]), remaining - tonumber(ARGV[5]))
  if n <= 0 then return {'nothing', remaining} end
  redis.call('HINCRBY', key, 'remaining', -n)
  redis.call('HINCRBY', key, 'xfer_out', n)
  if string.sub(ARGV[3], 1, 1) == '@' then
    redis.call('HINCRBY', key, 'xreg_out', n)
    redis.call('HINCRBY', key, 'xreg_open', 1)
    redis.call('HINCRBY', key, 'xreg_moving', n)
  else
    redis.call('HINCRBY', key, 'xfer_open', 1)
  end
  -- (%d: a count is written as digits, never as 1e+14, so the record always reads back.)
  redis.call('HSET', open_key, id, ARGV[3] .. '|' .. string.format('%d', n))
  return {'debited', n}
end

if step == 'credit' then
  local id = ARGV[2]
  if redis.call('EXISTS', key) == 0 then return {'missing'} end
  if redis.call('HEXISTS', recv_key, id) == 1 then
    -- A write of its own, so the origin's wait for replicas covers the first credit too.
    redis.call('HINCRBY', key, 'replays', 1)
    return {'already', tonumber(redis.call('HGET', key, 'remaining'))}
  end
  local n = tonumber(ARGV[4])
  local remaining = redis.call('HINCRBY', key, 'remaining', n)
  redis.call('HINCRBY', key, 'xfer_in', n)
  if string.sub(ARGV[3], 1, 1) == '@' then
    redis.call('HINCRBY', key, 'xreg_in', n)
  end
  redis.call('HSET', recv_key, id, ARGV[3] .. '|' .. string.format('%d', n))
  return {'credited', remaining}
end

if step == 'settle' then
  local id = ARGV[2]
  local seen = redis.call('HGET', open_key, id)
  if not seen then return {'none'} end
  redis.call('HDEL', open_key, id)
  redis.call('HSET', done_key, id, seen)
  if string.sub(seen, 1, 1) == '@' then
    redis.call('HINCRBY', key, 'xreg_open', -1)
    -- (Never below 0: a move debited before this count existed has no items in it.)
    if redis.call('HINCRBY', key, 'xreg_moving', -record(seen)) < 0 then
      redis.call('HSET', key, 'xreg_moving', 0)
    end
  else
    redis.call('HINCRBY', key, 'xfer_open', -1)
  end
  return {'settled'}
end

return redis.error_reply('ERR stock_shard.lua: unknown step')
