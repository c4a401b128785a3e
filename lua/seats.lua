-- seats.lua: a seated sale's seats, held for a time, sold, released, atomically.
--
-- One script, several commands (ARGV[1]), so every command shares the same sweep of expired
-- holds and the same checks. Seats are kept row by row: a row is a string with one character
-- per seat position, so finding N adjacent free seats is one string search in C.
--
-- KEYS[1]  hg:{<sale>}:sale          hash: stock, remaining, sold, limit, starts_at_ms, seq,
--                                    seated (1), hold_ms, held (seats held now)
-- KEYS[2]  hg:{<sale>}:seat_rows     hash: "<section>/<row>" -> state, one char per seat:
--                                    '.' free, 'h' held, 's' sold, 'x' no seat or withdrawn
-- KEYS[3]  hg:{<sale>}:seat_tiers    hash: "<section>/<row>" -> one tier char per seat;
--                                    "price:<char>" -> price in minor units; "tier:<id>" ->
--                                    the tier's char; "name:<char>" -> the tier's id
-- KEYS[4]  hg:{<sale>}:seat_access   hash: "<section>/<row>" -> one char per seat:
--                                    '.' plain, 'w' wheelchair space, 'c' companion seat
-- KEYS[5]  hg:{<sale>}:seat_sections string: JSON [{"id": s, "rows": ["<s>/<row>", ...]}]
--                                    sections in the map's order, rows best first
-- KEYS[6]  hg:{<sale>}:holds         hash: hold id -> JSON {hold, visitor, seats, amount,
--                                    expires_at_ms}
-- KEYS[7]  hg:{<sale>}:visitor_hold  hash: visitor -> their live hold's id
-- KEYS[8]  hg:{<sale>}:hold_expiry   sorted set: hold id scored by its expiry, unix ms
-- KEYS[9]  hg:{<sale>}:orders        hash: visitor -> order JSON (with its seats)
-- KEYS[10] hg:{<sale>}:passes        hash: pass id -> order id (spent passes)
-- KEYS[11] hg:{<sale>}:log           stream: one entry per order
-- KEYS[12] hg:{<sale>}:lapsed_holds  hash: hold id -> visitor, for holds whose time ran out
--                                    (so a late confirmation hears why)
-- KEYS[13] hg:{<sale>}:hold_counts   hash: visitor -> holds made (at most MAX_HOLDS)
-- KEYS[14] hg:{<sale>}:payments      hash: visitor -> the order's card payment (as in
--                                    purchase.lua; captured by the caller, then recorded by
--                                    settle_payment.lua, which gives the seats back if the
--                                    capture fails)
-- KEYS[15] hg:{<sale>}:dead_holds    set: card holds whose capture failed
-- KEYS[16] hg:{<sale>}:cancelled     hash: visitor -> an order the audit cancelled
--                                    (cancel_orders.lua, which frees its seats)
-- KEYS[17] hg:{<sale>}:facts         hash: visitor -> what the audit needs of their order
--
-- ARGV[1] is the command; ARGV[2] is now, unix ms (the caller's clock). Every command first
-- releases up to 64 holds whose time ran out (the origin's sweeper calls "sweep" every
-- second too, so seats come back with nobody asking).
--
-- "load", ARGV[3] hold_ms, ARGV[4] sections JSON, ARGV[5] tiers ("a:front=1500,b:back=900"),
--   ARGV[6] sale id, ARGV[7] events channel ("open:<sale>" is published: a sale created with
--   no stock was sold out to every origin), ARGV[8] choosers and ARGV[9] choose_ms (how the
--   edge admits: kept for the sale's public state), then per row four values: row key,
--   state, tiers, access (same lengths).
--   -> {"loaded", seats}  the map replaces any before it; stock = seats on sale
--   -> {"locked"}         a seat is held or sold: the map cannot be replaced
--   -> {"priced", price}  the sale takes card holds of `price` per seat and a tier costs
--                         more: a hold could not cover that seat
--   -> {"sharded"}        the sale's stock is split over shards (stock_shard.lua): no seats
--   -> {"unknown_sale"}
-- "change", ARGV[3] new prices by tier id ("front=1500"; '' for none), ARGV[4..] seat ids
--   to withdraw; only before the sale starts
--   -> {"changed", stock}; {"locked"} if a seat to withdraw is held or sold; {"started"};
--      {"priced", price} for a tier price above the sale's card hold per seat;
--      {"unknown_seat", id} for a seat or tier not on the map (nothing changed in each case);
--      {"not_seated"}; {"unknown_sale"}
-- "hold", ARGV[3] visitor, ARGV[4] new hold id, ARGV[5] the pass's card hold (pi_…) or '',
--   ARGV[6] "seats" | "best", then
--   for "seats": the seat ids ("<section>/<row>/<n>", n from 1);
--   for "best":  ARGV[7] count, ARGV[8] section ('' any, in the map's order), ARGV[9] tier
--                id ('' any), ARGV[10] "1" for a block with a wheelchair space
--   -> {"held", hold_json}            every seat asked for is now held by the visitor
--   -> {"seats_taken", taken_json, alternative_json}  some seat is not free; nothing
--                                     changed; the best block of as many free seats in the
--                                     same section ([] if none)
--   -> {"no_adjacent", count}         no block of that many adjacent free seats
--   -> {"over_limit", limit}          more seats than the per-visitor limit
--   -> {"hold_exists", hold_json}     the visitor holds seats already (release or confirm);
--                                     a hold of theirs whose time ran out lapses here instead
--   -> {"hold_limit", max}            the visitor made MAX_HOLDS holds already
--   -> {"already_bought", order_json} the visitor has an order
--   -> {"cancelled"}                  the audit cancelled the visitor's order: no more seats
--   -> {"hold_required"}              the sale takes card holds (it has a price) and there
--                                     is no card hold; {"hold_dead"} its capture failed before
--   -> {"unknown_seat", id}; {"not_open", starts_at_ms}; {"sold_out"}; {"not_seated"};
--      {"unknown_sale"}
-- "confirm", ARGV[3] visitor, ARGV[4] hold id, ARGV[5] pass id, ARGV[6] sale id,
--   ARGV[7] events channel, ARGV[8] the pass's card hold (pi_…, checked by the caller) or '',
--   ARGV[9] the audit's facts of the order (JSON from the pass, stored as it is; '' none)
--   -> {"created", order_json, remaining, payment_json}  the hold's seats are sold to the
--        visitor. payment_json is '' unless the sale takes card holds (it has a price) and
--        the seats cost something: then {"intent", "amount" (the seats' tiers, summed),
--        "currency", "state": "pending", "at"}, and the caller captures the card hold, then
--        runs settle_payment.lua, which gives the seats back if the capture fails
--   -> {"existing", order_json, remaining, payment_json} a retry: the order made before
--   -> {"hold_expired"}   its time ran out: its seats went back
--   -> {"no_hold"}        no such hold of this visitor (released, or never made)
--   -> {"pass_spent"}     the pass bought before
--   -> {"cancelled"}      the audit cancelled the visitor's order
--   -> {"hold_required"}  the sale takes card holds and the pass carries none: the seats
--                         go back on sale
--   -> {"hold_dead"}      this card hold's capture failed before: the seats (if still
--                         held) go back on sale
-- "release", ARGV[3] visitor, ARGV[4] hold id -> {"released", seats} or {"no_hold"}
-- "sweep" -> {"swept", holds released}
--
-- Invariants kept: every seat is free, held by exactly one live hold, or sold in exactly one
-- order, never two; sold + remaining = stock; held counts the seats of live holds; a visitor
-- has at most one live hold and one order, and holds plus buys at most the limit.
-- All keys share the hash tag {<sale>}, so the script runs on Redis Cluster.

local sale_key, rows_key, tiers_key, access_key, sections_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local holds_key, vhold_key, expiry_key, orders_key, passes_key, log_key = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local lapsed_key, counts_key, payments_key, dead_key = KEYS[12], KEYS[13], KEYS[14], KEYS[15]
local cancelled_key, facts_key = KEYS[16], KEYS[17]
local MAX_HOLDS = 5
local cmd, now = ARGV[1], tonumber(ARGV[2])

local function split_seat(id)
  local section, row, n = string.match(id, '^([%w_-]+)/([%w_-]+)/(%d+)$')
  if not section then return nil end
  return section .. '/' .. row, tonumber(n)
end

-- The row key, position and row state of seat `id` if it is on the map (not an 'x'), else nil.
local function seat_on_map(id)
  local rk, n = split_seat(id)
  local state = rk and redis.call('HGET', rows_key, rk)
  if not state or n < 1 or n > #state or string.sub(state, n, n) == 'x' then return nil end
  return rk, n, state
end

local function set_char(s, i, c)
  return string.sub(s, 1, i - 1) .. c .. string.sub(s, i + 1)
end

-- Sets each seat of `seats` to `c` in its row (the rows read once each).
local function mark(seats, c)
  local rows = {}
  for _, id in ipairs(seats) do
    local rk, n = split_seat(id)
    if rows[rk] == nil then rows[rk] = redis.call('HGET', rows_key, rk) end
    rows[rk] = set_char(rows[rk], n, c)
  end
  for rk, state in pairs(rows) do redis.call('HSET', rows_key, rk, state) end
end

-- Gives a hold's seats back and forgets the hold (noting it if its time ran out).
local function drop_hold(id, lapsed)
  local json = redis.call('HGET', holds_key, id)
  redis.call('ZREM', expiry_key, id)
  if not json then return 0 end
  local h = cjson.decode(json)
  if lapsed then redis.call('HSET', lapsed_key, id, h.visitor) end
  mark(h.seats, '.')
  redis.call('HDEL', holds_key, id)
  if redis.call('HGET', vhold_key, h.visitor) == id then redis.call('HDEL', vhold_key, h.visitor) end
  redis.call('HINCRBY', sale_key, 'held', -#h.seats)
  return #h.seats
end

local function sweep(max)
  local due = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', now, 'LIMIT', 0, max)
  for _, id in ipairs(due) do drop_hold(id, true) end
  return #due
end

local function price_of(seats)
  local total, rows = 0, {}
  for _, id in ipairs(seats) do
    local rk, n = split_seat(id)
    if rows[rk] == nil then rows[rk] = redis.call('HGET', tiers_key, rk) end
    local p = redis.call('HGET', tiers_key, 'price:' .. string.sub(rows[rk], n, n))
    total = total + (tonumber(p) or 0)
  end
  return total
end

-- The best block of `count` adjacent free seats in the rows of `sections` (rows best first;
-- in a row, the block nearest its middle), of tier `tier` if not '', with a wheelchair space
-- if `wheelchair`, else with none of the accessible places. Returns seat ids or nil.
local function best_block(sections, count, tier, wheelchair)
  local want = string.rep('.', count)
  for _, sec in ipairs(sections) do
    for _, rk in ipairs(sec.rows) do
      local state = redis.call('HGET', rows_key, rk)
      if state and #state >= count then
        local tiers, access
        local best, best_d = nil, nil
        local mid = (#state + 1) / 2
        local from = 1
        while true do
          local at = string.find(state, want, from, true)
          if not at then break end
          local ok = true
          if tier ~= '' then
            tiers = tiers or redis.call('HGET', tiers_key, rk)
            ok = string.sub(tiers, at, at + count - 1) == string.rep(tier, count)
          end
          if ok then
            access = access or redis.call('HGET', access_key, rk)
            local a = string.sub(access, at, at + count - 1)
            if wheelchair then
              ok = string.find(a, 'w', 1, true) ~= nil
            else
              ok = a == string.rep('.', count)
            end
          end
          if ok then
            local d = math.abs(at + (count - 1) / 2 - mid)
            if best_d == nil or d < best_d then best, best_d = at, d end
          end
          from = at + 1
        end
        if best then
          local ids = {}
          for i = 0, count - 1 do ids[#ids + 1] = rk .. '/' .. (best + i) end
          return ids
        end
      end
    end
  end
  return nil
end

local function sections_json()
  local s = redis.call('GET', sections_key)
  if not s then return nil end
  return cjson.decode(s)
end

local function load_tiers(text)
  for c, id, amount in string.gmatch(text, '(%w):([%w_-]+)=(%d+)') do
    redis.call('HSET', tiers_key, 'price:' .. c, amount, 'tier:' .. id, c, 'name:' .. c, id)
  end
end

local f = redis.call('HMGET', sale_key, 'stock', 'seated', 'limit', 'starts_at_ms', 'remaining')
if not f[1] then return {'unknown_sale'} end

if cmd == 'load' then
  -- A sale split over stock shards sells items at its shards; seats live in one place.
  if redis.call('HEXISTS', sale_key, 'stock_shards') == 1 then return {'sharded'} end
  if tonumber(redis.call('HGET', sale_key, 'held') or '0') > 0 or tonumber(redis.call('HGET', sale_key, 'sold') or '0') > 0 then
    return {'locked'}
  end
  -- A sale with card holds authorises its price per seat: no seat may cost more.
  local ceiling = tonumber(redis.call('HGET', sale_key, 'price_amount') or '')
  if ceiling then
    for amount in string.gmatch(ARGV[5], '%w:[%w_-]+=(%d+)') do
      if tonumber(amount) > ceiling then return {'priced', ceiling} end
    end
  end
  redis.call('DEL', rows_key, tiers_key, access_key, holds_key, vhold_key, expiry_key, lapsed_key,
    counts_key)
  local seats = 0
  for i = 10, #ARGV, 4 do
    local state = ARGV[i + 1]
    redis.call('HSET', rows_key, ARGV[i], state)
    redis.call('HSET', tiers_key, ARGV[i], ARGV[i + 2])
    redis.call('HSET', access_key, ARGV[i], ARGV[i + 3])
    local _, free = string.gsub(state, '%.', '')
    seats = seats + free
  end
  load_tiers(ARGV[5])
  redis.call('SET', sections_key, ARGV[4])
  redis.call('HSET', sale_key, 'seated', 1, 'hold_ms', ARGV[3], 'stock', seats, 'remaining', seats,
    'sold', 0, 'held', 0, 'choosers', ARGV[8], 'choose_ms', ARGV[9])
  redis.call('PUBLISH', ARGV[7], 'open:' .. ARGV[6])
  return {'loaded', seats}
end

if f[2] ~= '1' then return {'not_seated'} end

if cmd == 'sweep' then
  return {'swept', sweep(1000)}
end

sweep(64)

if cmd == 'change' then
  if now >= tonumber(f[4]) then return {'started'} end
  local prices = {}
  local ceiling = tonumber(redis.call('HGET', sale_key, 'price_amount') or '')
  for id, amount in string.gmatch(ARGV[3], '([%w_-]+)=(%d+)') do
    local c = redis.call('HGET', tiers_key, 'tier:' .. id)
    if not c then return {'unknown_seat', id} end
    if ceiling and tonumber(amount) > ceiling then return {'priced', ceiling} end
    prices[c] = amount
  end
  local withdraw, seen = {}, {}
  for i = 4, #ARGV do
    local _, n, state = seat_on_map(ARGV[i])
    if not state or seen[ARGV[i]] then return {'unknown_seat', ARGV[i]} end
    seen[ARGV[i]] = true
    if string.sub(state, n, n) ~= '.' then return {'locked'} end
    withdraw[#withdraw + 1] = ARGV[i]
  end
  mark(withdraw, 'x')
  for c, amount in pairs(prices) do redis.call('HSET', tiers_key, 'price:' .. c, amount) end
  local stock = redis.call('HINCRBY', sale_key, 'stock', -#withdraw)
  redis.call('HINCRBY', sale_key, 'remaining', -#withdraw)
  return {'changed', stock}
end

if cmd == 'release' then
  local visitor, id = ARGV[3], ARGV[4]
  local json = redis.call('HGET', holds_key, id)
  if not json or cjson.decode(json).visitor ~= visitor then return {'no_hold'} end
  return {'released', drop_hold(id, false)}
end

if cmd == 'hold' then
  local visitor, id, card, mode = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local limit, starts, remaining = tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
  if now < starts then return {'not_open', starts} end
  local order = redis.call('HGET', orders_key, visitor)
  if order then return {'already_bought', order} end
  if redis.call('HEXISTS', cancelled_key, visitor) == 1 then return {'cancelled'} end
  -- A sale with card holds holds seats only for a buyer whose card can pay for them.
  if redis.call('HEXISTS', sale_key, 'price_amount') == 1 then
    if card == '' then return {'hold_required'} end
    if redis.call('SISMEMBER', dead_key, card) == 1 then return {'hold_dead'} end
  end
  local live = redis.call('HGET', vhold_key, visitor)
  if live then
    local json = redis.call('HGET', holds_key, live)
    if json and cjson.decode(json).expires_at_ms > now then
      -- Answered again: a write, so the caller's wait for replicas covers the hold.
      redis.call('HINCRBY', sale_key, 'replays', 1)
      return {'hold_exists', json}
    end
    -- Its own hold ran out and the sweep has not reached it yet: it lapses now.
    if json then drop_hold(live, true) end
    redis.call('HDEL', vhold_key, visitor)
  end
  if remaining <= 0 then return {'sold_out'} end
  -- Holding and letting go, again and again, would keep seats off sale: a visitor gets
  -- MAX_HOLDS holds in all.
  if tonumber(redis.call('HGET', counts_key, visitor) or '0') >= MAX_HOLDS then
    return {'hold_limit', MAX_HOLDS}
  end
  local seats
  if mode == 'seats' then
    seats = {}
    local taken, seen, section = {}, {}, nil
    for i = 7, #ARGV do
      local rk, n, state = seat_on_map(ARGV[i])
      if not state or seen[ARGV[i]] then return {'unknown_seat', ARGV[i]} end
      seen[ARGV[i]] = true
      section = section or string.match(rk, '^([^/]+)/')
      if string.sub(state, n, n) ~= '.' then taken[#taken + 1] = ARGV[i] end
      seats[#seats + 1] = ARGV[i]
    end
    if #seats > limit then return {'over_limit', limit} end
    if #taken > 0 then
      local alt = {}
      for _, sec in ipairs(sections_json() or {}) do
        if sec.id == section then alt = best_block({sec}, #seats, '', false) or {} end
      end
      local alt_json = '[]'
      if #alt > 0 then alt_json = cjson.encode(alt) end
      return {'seats_taken', cjson.encode(taken), alt_json}
    end
    if #seats == 0 then return {'unknown_seat', ''} end
  else
    local count, section, tier, wheelchair = tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10] == '1'
    if not count or count < 1 or count ~= math.floor(count) or count > limit then
      return {'over_limit', limit}
    end
    if tier ~= '' then
      tier = redis.call('HGET', tiers_key, 'tier:' .. tier)
      if not tier then return {'unknown_seat', ARGV[9]} end
    end
    local sections = {}
    for _, sec in ipairs(sections_json() or {}) do
      if section == '' or sec.id == section then sections[#sections + 1] = sec end
    end
    if section ~= '' and #sections == 0 then return {'unknown_seat', section} end
    if count > remaining then return {'no_adjacent', count} end
    seats = best_block(sections, count, tier, wheelchair)
    if not seats then return {'no_adjacent', count} end
  end
  redis.call('HINCRBY', counts_key, visitor, 1)
  mark(seats, 'h')
  local hold_ms = tonumber(redis.call('HGET', sale_key, 'hold_ms'))
  local hold = {hold = id, visitor = visitor, seats = seats, amount = price_of(seats),
    expires_at_ms = now + hold_ms}
  local json = cjson.encode(hold)
  redis.call('HSET', holds_key, id, json)
  redis.call('HSET', vhold_key, visitor, id)
  redis.call('ZADD', expiry_key, now + hold_ms, id)
  redis.call('HINCRBY', sale_key, 'held', #seats)
  return {'held', json}
end

if cmd == 'confirm' then
  local visitor, id, pass_id, sale, channel, card = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8] or ''
  local order = redis.call('HGET', orders_key, visitor)
  if order then
    -- A write of its own, so the caller's wait for replicas covers the order (see purchase.lua).
    redis.call('HINCRBY', sale_key, 'replays', 1)
    return {'existing', order, tonumber(f[5]), redis.call('HGET', payments_key, visitor) or ''}
  end
  -- A cancelled visitor asking again with the pass that bought reads "cancelled".
  if redis.call('HEXISTS', cancelled_key, visitor) == 1 then return {'cancelled'} end
  if redis.call('HEXISTS', passes_key, pass_id) == 1 then return {'pass_spent'} end
  local json = redis.call('HGET', holds_key, id)
  local h = json and cjson.decode(json)
  -- A card whose capture failed pays for nothing: its seats (if still held) go back. Asked
  -- first, so a retry after a failed capture hears why, not "no such hold".
  if card ~= '' and redis.call('SISMEMBER', dead_key, card) == 1 then
    if h and h.visitor == visitor then drop_hold(id, false) end
    return {'hold_dead'}
  end
  if not json then
    if redis.call('HGET', lapsed_key, id) == visitor then return {'hold_expired'} end
    return {'no_hold'}
  end
  if h.visitor ~= visitor then return {'no_hold'} end
  if h.expires_at_ms <= now then
    drop_hold(id, true)
    return {'hold_expired'}
  end
  -- A sale with a price takes card holds: the seats are paid with the pass's hold, captured
  -- by the caller for their amount. Without one, the seats go back (as after a failed
  -- capture): a confirmation the card cannot pay for leaves nothing held.
  local pay = redis.call('HMGET', sale_key, 'price_amount', 'price_currency')
  local charge = pay[1] and h.amount > 0
  if charge and card == '' then
    drop_hold(id, false)
    return {'hold_required'}
  end
  mark(h.seats, 's')
  redis.call('HDEL', holds_key, id)
  redis.call('HDEL', vhold_key, visitor)
  redis.call('ZREM', expiry_key, id)
  local n = #h.seats
  redis.call('HINCRBY', sale_key, 'held', -n)
  redis.call('HINCRBY', sale_key, 'sold', n)
  local remaining = redis.call('HINCRBY', sale_key, 'remaining', -n)
  local order_id = sale .. '-' .. redis.call('HINCRBY', sale_key, 'seq', 1)
  local o = {order_id = order_id, sale = sale, visitor = visitor, quantity = n, seats = h.seats,
    amount = h.amount, pass_id = pass_id, created_at_ms = now}
  order = cjson.encode(o)
  redis.call('HSET', orders_key, visitor, order)
  redis.call('HSET', passes_key, pass_id, order_id)
  local facts = ARGV[9] or ''
  if facts ~= '' then redis.call('HSET', facts_key, visitor, facts) end
  redis.call('XADD', log_key, '*', 'order_id', order_id, 'visitor', visitor, 'quantity', n,
    'seats', table.concat(h.seats, ' '), 'at_ms', now)
  local payment = ''
  if charge then
    payment = '{"intent":"' .. card .. '","amount":' .. string.format('%d', h.amount) ..
      ',"currency":"' .. pay[2] .. '","state":"pending","at":' .. now .. '}'
    redis.call('HSET', payments_key, visitor, payment)
    -- Until the capture settles the seats may come back (settle_payment.lua): not sold out.
    redis.call('HINCRBY', sale_key, 'pending', 1)
  end
  if remaining == 0 and tonumber(redis.call('HGET', sale_key, 'pending') or '0') == 0 then
    redis.call('PUBLISH', channel, 'sold_out:' .. sale)
  end
  return {'created', order, remaining, payment}
end

return redis.error_reply('seats.lua: unknown command ' .. tostring(cmd))
