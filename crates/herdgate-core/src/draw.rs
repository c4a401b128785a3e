//! The draw: a fair opening that anyone can check.
//!
//! A sale may open a **pre-queue** before it starts. Everyone who joins between the pre-queue's
//! opening and the **close** (the sale's start plus a short draw window) gets a place drawn at
//! random among that group; whoever joins later queues behind the whole group in arrival order.
//! Joining early gives no advantage over joining on time.
//!
//! How the draw is made, and why it can be checked:
//!
//! 1. **Commit.** When the sale is configured the origin draws a secret 32-byte seed and
//!    publishes only its [`commitment`] (a SHA-256 of it), before the pre-queue opens.
//! 2. **Enter.** Each queue shard `k` of `K` keeps its entries in arrival order, the `j`-th of
//!    them holding queue number `k + j·K` as before. Every entry is published as its
//!    [`entry_digest`] (a hash of the visitor id: the buyer can find themselves, nobody else
//!    learns who they are) and the time it joined, and folded into the shard's hash chain
//!    ([`chain`]), so the shard's list is fixed by its head.
//! 3. **Close.** At the close every shard is sealed: its pre-queue count and chain head are
//!    final (the [`Tally`]). Later joins are late arrivals.
//! 4. **Reveal.** After the close the origin reveals the seed. The draw's key is a hash of the
//!    seed *and* the tally's [`Tally::root`], so the order depends on every entry as well as on
//!    the seed, and was not known to anyone before the close.
//! 5. **Place.** The pre-queue's entries are numbered densely (shard 0's first, then shard
//!    1's, …) and each number `g` gets place `π(g)`, where `π` is a keyed pseudo-random
//!    permutation of `0..N` ([`Draw::permute`]: a Feistel network with cycle walking). Places are
//!    unique by construction. Late arrivals get `N + k + (j − count_k)·K`.
//!
//! Deciding one ticket's place is O(1) ([`Draw::place`]): a few hashes, from the ticket's queue
//! number and a tally of `K` small numbers that every edge isolate caches. No global sort, and
//! no object that every poll touches.
//!
//! [`DrawRecord::verify`] recomputes everything from the published record: the commitment, each
//! shard's chain, the root, every place. Whoever kept a receipt (their visitor id and the place
//! they were told) can check that they are in it, where they were told.
//!
//! # The construction, byte for byte (version 1)
//!
//! For an independent verifier. `H(p₁, …, pₙ)` is SHA-256 over each part `pᵢ` preceded by its
//! length as a big-endian u64 (8 bytes); hex is lower case; `be64(x)` is `x` as 8 big-endian
//! bytes and `be32(x)` as 4.
//!
//! - commitment = hex `H("herdgate/draw/commit/v1", seed)` (seed: 32 raw bytes)
//! - entry digest = hex of the first 16 bytes of `H("herdgate/draw/entry/v1", visitor id as
//!   UTF-8)`
//! - head₀ of shard `k` = hex `H("herdgate/draw/chain/v1", sale as UTF-8, be32(k))`;
//!   headᵢ₊₁ = hex `H("herdgate/draw/chain/v1", headᵢ as ASCII hex, digest as ASCII hex,
//!   be64(at_ms))`
//! - root = hex SHA-256 (plain, not `H`) of `"herdgate/draw/root/v1"`, `be64(len(sale))`,
//!   sale, `be64(K)`, then per shard `be64(count)`, `be64(len(head))`, head as ASCII hex
//! - key = `H("herdgate/draw/key/v1", seed, root as ASCII hex)` (32 bytes)
//! - N = Σ counts; offset of shard `k` = Σ counts of shards before it; the `j`-th entry of shard
//!   `k` (queue number `k + j·K`) is entry `g = offset_k + j`
//! - half = max(1, ⌈b/2⌉) where b is the bit length of `N − 1` (0 for N ≤ 1); mask = 2^half − 1
//! - feistel(x): `L = x >> half`, `R = x & mask`; for round r in 0..8:
//!   `F = first 8 bytes of H("herdgate/draw/round/v1", key, [r], be64(R))` read big-endian,
//!   `(L, R) = (R, L ⊕ (F & mask))`; result `(L << half) | R`
//! - place(g) = iterate `x = feistel(x)` from `x = g` until `x < N` (cycle walking)
//! - a late arrival (the `j`-th join at shard `k` with `j ≥ count_k`) has place
//!   `N + k + (j − count_k)·K`

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain separation for every hash of the draw (version 1).
const COMMIT_DOMAIN: &[u8] = b"herdgate/draw/commit/v1";
const ENTRY_DOMAIN: &[u8] = b"herdgate/draw/entry/v1";
const CHAIN_DOMAIN: &[u8] = b"herdgate/draw/chain/v1";
const ROOT_DOMAIN: &[u8] = b"herdgate/draw/root/v1";
const KEY_DOMAIN: &[u8] = b"herdgate/draw/key/v1";
const ROUND_DOMAIN: &[u8] = b"herdgate/draw/round/v1";

/// Rounds of the Feistel network: four make a pseudo-random permutation from a pseudo-random
/// function (Luby–Rackoff); eight leave a margin.
const ROUNDS: u8 = 8;

/// Bytes of a seed.
pub const SEED_BYTES: usize = 32;

/// How long after the close the origin reveals the seed, ms: longer than an edge isolate
/// trusts its copy of the sale (`STATE_CACHE_MS`, a second), so no shard can still take an
/// entry, on an isolate's older copy of the close, once the seed is public.
pub const REVEAL_AFTER_MS: u64 = 5_000;

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        // Every part is length-prefixed, so no two different lists of parts hash alike.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The published commitment to a seed: hex SHA-256 of it (domain-separated).
pub fn commitment(seed: &[u8; SEED_BYTES]) -> String {
    hex::encode(sha(&[COMMIT_DOMAIN, seed]))
}

/// A seed from its hex form (64 hex digits).
pub fn parse_seed(hex_seed: &str) -> Option<[u8; SEED_BYTES]> {
    let bytes = hex::decode(hex_seed).ok()?;
    bytes.try_into().ok()
}

/// The public digest of a visitor's entry: 32 hex digits of a hash of the visitor id. The
/// buyer (who knows their visitor id) finds their entry by it; the published list does not
/// name anyone.
pub fn entry_digest(visitor: &str) -> String {
    hex::encode(&sha(&[ENTRY_DOMAIN, visitor.as_bytes()])[..16])
}

/// The head of shard `shard`'s chain of `sale` before any entry.
pub fn genesis(sale: &str, shard: u32) -> String {
    hex::encode(sha(&[CHAIN_DOMAIN, sale.as_bytes(), &shard.to_be_bytes()]))
}

/// The chain's head after the entry `digest` that joined at `at_ms` (unix ms) follows `head`.
pub fn chain(head: &str, digest: &str, at_ms: u64) -> String {
    hex::encode(sha(&[
        CHAIN_DOMAIN,
        head.as_bytes(),
        digest.as_bytes(),
        &at_ms.to_be_bytes(),
    ]))
}

/// One shard's pre-queue once sealed: how many entries it holds and its chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTally {
    /// Entries of the pre-queue at this shard.
    pub count: u64,
    /// The chain's head after the last of them ([`genesis`] with none).
    pub head: String,
}

/// Every shard's pre-queue once sealed, in shard order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Shard `k`'s tally at index `k`.
    pub shards: Vec<ShardTally>,
}

impl Tally {
    /// The place of queue number `position` if it joined after its shard was sealed (a late
    /// arrival, behind the whole pre-queue in arrival order); `None` for an entry of the draw.
    /// Needs no seed.
    pub fn late_place(&self, position: u64) -> Option<u64> {
        let shards = self.shards.len() as u64;
        if shards == 0 {
            return Some(position);
        }
        let k = position % shards;
        let j = position / shards;
        let count = self.shards[k as usize].count;
        (j >= count).then(|| {
            self.total()
                .saturating_add(k.saturating_add((j - count).saturating_mul(shards)))
        })
    }

    /// Entries of the whole pre-queue.
    pub fn total(&self) -> u64 {
        self.shards
            .iter()
            .fold(0u64, |n, s| n.saturating_add(s.count))
    }

    /// The hash that fixes every shard's list: hex SHA-256 over the sale and each shard's count
    /// and head, in shard order.
    pub fn root(&self, sale: &str) -> String {
        let mut h = Sha256::new();
        h.update(ROOT_DOMAIN);
        h.update((sale.len() as u64).to_be_bytes());
        h.update(sale.as_bytes());
        h.update((self.shards.len() as u64).to_be_bytes());
        for s in &self.shards {
            h.update(s.count.to_be_bytes());
            h.update((s.head.len() as u64).to_be_bytes());
            h.update(s.head.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// A draw, ready to place tickets: O(1) per place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    key: [u8; 32],
    /// Entries of the pre-queue.
    total: u64,
    /// Entries per shard, and the dense number of each shard's first entry.
    counts: Vec<u64>,
    offsets: Vec<u64>,
    /// Half-width of the Feistel network, bits: `2^(2·half) ≥ total`.
    half: u32,
}

impl Draw {
    /// The draw of `sale`'s pre-queue `tally` with the revealed `seed`.
    pub fn new(seed: &[u8; SEED_BYTES], sale: &str, tally: &Tally) -> Draw {
        let root = tally.root(sale);
        let key = sha(&[KEY_DOMAIN, seed, root.as_bytes()]);
        let counts: Vec<u64> = tally.shards.iter().map(|s| s.count).collect();
        let mut offsets = Vec::with_capacity(counts.len());
        let mut total = 0u64;
        for c in &counts {
            offsets.push(total);
            total = total.saturating_add(*c);
        }
        // Smallest half-width whose square domain holds every entry (at least 1 bit a side).
        let bits = 64 - total.saturating_sub(1).leading_zeros();
        let half = bits.div_ceil(2).max(1);
        Draw {
            key,
            total,
            counts,
            offsets,
            half,
        }
    }

    /// Entries of the pre-queue (the places drawn are `0..total`).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The place drawn for the `g`-th entry of the pre-queue (`g < total`), a permutation of
    /// `0..total`; `g` itself outside that range.
    pub fn permute(&self, g: u64) -> u64 {
        if g >= self.total {
            return g;
        }
        // Cycle walking: the network permutes 0..4^half ⊇ 0..total; stepping again from a
        // value outside the range lands inside it after a few steps (expected < 4), and the
        // result is a permutation of 0..total.
        let mut x = g;
        loop {
            x = self.feistel(x);
            if x < self.total {
                return x;
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half) - 1;
        let (mut left, mut right) = (x >> self.half, x & mask);
        for round in 0..ROUNDS {
            let f = sha(&[ROUND_DOMAIN, &self.key, &[round], &right.to_be_bytes()]);
            let mut word = [0u8; 8];
            word.copy_from_slice(&f[..8]);
            let next = left ^ (u64::from_be_bytes(word) & mask);
            left = right;
            right = next;
        }
        (left << self.half) | right
    }

    /// The place in line of queue number `position` (as a shard handed it out: `k + j·K`):
    /// drawn for an entry of the pre-queue, behind the whole pre-queue in arrival order for a
    /// later one.
    pub fn place(&self, position: u64) -> u64 {
        let shards = self.counts.len() as u64;
        if shards == 0 {
            return position;
        }
        let k = (position % shards) as usize;
        let j = position / shards;
        if j < self.counts[k] {
            self.permute(self.offsets[k] + j)
        } else {
            let late = (k as u64).saturating_add((j - self.counts[k]).saturating_mul(shards));
            self.total.saturating_add(late)
        }
    }

    /// Whether queue number `position` was an entry of the pre-queue.
    pub fn is_entry(&self, position: u64) -> bool {
        let shards = self.counts.len() as u64;
        shards > 0 && position / shards < self.counts[(position % shards) as usize]
    }
}

/// One entry as the edge publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// [`entry_digest`] of the visitor.
    pub digest: String,
    /// When it joined, unix ms (as the shard's clock said).
    pub at_ms: u64,
    /// The place it was drawn (present once the draw is made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<u64>,
}

/// One shard's published pre-queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The sealed tally.
    #[serde(flatten)]
    pub tally: ShardTally,
    /// Its entries in arrival order.
    pub entries: Vec<Entry>,
}

/// Everything published about a draw: what [`DrawRecord::verify`] checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawRecord {
    /// The sale.
    pub sale: String,
    /// The commitment published before the pre-queue opened.
    pub commitment: String,
    /// The seed revealed after the close (hex).
    pub seed: String,
    /// When the draw closed, unix ms: every entry of the draw joined before it.
    #[serde(default)]
    pub closes_at_ms: u64,
    /// Every shard's entries, in shard order.
    pub shards: Vec<ShardRecord>,
}

/// A sale's draw as the edge publishes it (`GET /api/v1/sales/{sale}/draw`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The sale.
    pub sale: String,
    /// When the pre-queue opens, unix ms.
    pub opens_at_ms: u64,
    /// When the draw closes, unix ms.
    pub closes_at_ms: u64,
    /// The commitment to the seed.
    pub commitment: String,
    /// The seed, once revealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Every shard's sealed pre-queue, once sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<Tally>,
    /// The tally's root ([`Tally::root`]), once sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// A page of one shard's entries (`GET /api/v1/sales/{sale}/draw/entries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesPage {
    /// The shard.
    pub shard: u32,
    /// The index of the first entry on the page.
    pub from: u64,
    /// The entries, with their places once the seed is revealed.
    pub entries: Vec<Entry>,
    /// The index to ask for next, if there are more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// What is wrong with a draw record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawError {
    /// The seed is not 64 hex digits.
    #[error("the seed is not 64 hex digits")]
    BadSeed,
    /// The seed does not hash to the commitment.
    #[error(
        "the revealed seed does not match the commitment published before the pre-queue opened"
    )]
    Commitment,
    /// A shard's entries do not add up to its head or its count.
    #[error("shard {shard}'s entries do not hash to its published head (an entry was added, removed, changed or moved)")]
    Chain {
        /// The shard.
        shard: usize,
    },
    /// A shard's published count is not the number of its entries.
    #[error("shard {shard} publishes {count} entries but lists {listed}")]
    Count {
        /// The shard.
        shard: usize,
        /// Its count.
        count: u64,
        /// Entries listed.
        listed: u64,
    },
    /// An entry joined at or after the close.
    #[error(
        "entry {index} of shard {shard} joined at {at_ms}, not before the close at {closes_at_ms}"
    )]
    AfterClose {
        /// The shard.
        shard: usize,
        /// Its index there.
        index: u64,
        /// When it joined.
        at_ms: u64,
        /// The close.
        closes_at_ms: u64,
    },
    /// An entry's published place is not the one the draw gives it.
    #[error("entry {index} of shard {shard} is published at place {published:?}; the draw gives it place {drawn}")]
    Place {
        /// The shard.
        shard: usize,
        /// Its index there.
        index: u64,
        /// The place published.
        published: Option<u64>,
        /// The place the draw gives.
        drawn: u64,
    },
}

/// A record that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries of the pre-queue.
    pub entries: u64,
    /// The root of the tally.
    pub root: String,
}

impl DrawRecord {
    /// The record of `sale`'s draw from its parts: the seed, the close, and each shard's
    /// entries in arrival order as (digest, arrival unix ms). Heads, counts and places are
    /// worked out as the edge does; for tests, and for an archive rebuilt from raw entries.
    pub fn assemble(
        sale: &str,
        seed: &[u8; SEED_BYTES],
        closes_at_ms: u64,
        shards: Vec<Vec<(String, u64)>>,
    ) -> DrawRecord {
        let shards: Vec<ShardRecord> = shards
            .into_iter()
            .enumerate()
            .map(|(k, entries)| {
                let mut head = genesis(sale, u32::try_from(k).unwrap_or(u32::MAX));
                let entries: Vec<Entry> = entries
                    .into_iter()
                    .map(|(digest, at_ms)| {
                        head = chain(&head, &digest, at_ms);
                        Entry {
                            digest,
                            at_ms,
                            place: None,
                        }
                    })
                    .collect();
                ShardRecord {
                    tally: ShardTally {
                        count: entries.len() as u64,
                        head,
                    },
                    entries,
                }
            })
            .collect();
        let mut record = DrawRecord {
            sale: sale.to_owned(),
            commitment: commitment(seed),
            seed: hex::encode(seed),
            closes_at_ms,
            shards,
        };
        let draw = Draw::new(seed, sale, &record.tally());
        let k_all = record.shards.len() as u64;
        for (k, shard) in record.shards.iter_mut().enumerate() {
            for (j, entry) in shard.entries.iter_mut().enumerate() {
                entry.place = Some(draw.place(k as u64 + j as u64 * k_all));
            }
        }
        record
    }

    /// The tally the record publishes.
    pub fn tally(&self) -> Tally {
        Tally {
            shards: self.shards.iter().map(|s| s.tally.clone()).collect(),
        }
    }

    /// Checks the record: the seed against the commitment, each shard's entries against its
    /// chain head and count, and every published place against the draw. Places are then
    /// unique because the draw is a permutation.
    pub fn verify(&self) -> Result<Verified, DrawError> {
        let seed = parse_seed(&self.seed).ok_or(DrawError::BadSeed)?;
        if commitment(&seed) != self.commitment.to_ascii_lowercase() {
            return Err(DrawError::Commitment);
        }
        for (k, shard) in self.shards.iter().enumerate() {
            let listed = shard.entries.len() as u64;
            if listed != shard.tally.count {
                return Err(DrawError::Count {
                    shard: k,
                    count: shard.tally.count,
                    listed,
                });
            }
            let shard_no = u32::try_from(k).map_err(|_| DrawError::Chain { shard: k })?;
            let head = shard
                .entries
                .iter()
                .fold(genesis(&self.sale, shard_no), |h, e| {
                    chain(&h, &e.digest, e.at_ms)
                });
            if head != shard.tally.head {
                return Err(DrawError::Chain { shard: k });
            }
            if let Some((j, e)) = shard
                .entries
                .iter()
                .enumerate()
                .find(|(_, e)| self.closes_at_ms > 0 && e.at_ms >= self.closes_at_ms)
            {
                return Err(DrawError::AfterClose {
                    shard: k,
                    index: j as u64,
                    at_ms: e.at_ms,
                    closes_at_ms: self.closes_at_ms,
                });
            }
        }
        let tally = self.tally();
        let draw = Draw::new(&seed, &self.sale, &tally);
        let shards = self.shards.len() as u64;
        for (k, shard) in self.shards.iter().enumerate() {
            for (j, entry) in shard.entries.iter().enumerate() {
                let drawn = draw.place(k as u64 + j as u64 * shards);
                if entry.place != Some(drawn) {
                    return Err(DrawError::Place {
                        shard: k,
                        index: j as u64,
                        published: entry.place,
                        drawn,
                    });
                }
            }
        }
        Ok(Verified {
            entries: draw.total(),
            root: tally.root(&self.sale),
        })
    }

    /// The place of the visitor whose entry digest is `digest`, if it is in the record.
    pub fn find(&self, digest: &str) -> Option<(usize, u64, Option<u64>)> {
        self.shards.iter().enumerate().find_map(|(k, s)| {
            s.entries
                .iter()
                .position(|e| e.digest == digest)
                .map(|j| (k, j as u64, s.entries[j].place))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(counts: &[u64]) -> Tally {
        Tally {
            shards: counts
                .iter()
                .enumerate()
                .map(|(k, c)| ShardTally {
                    count: *c,
                    head: format!("h{k}"),
                })
                .collect(),
        }
    }

    #[test]
    fn places_are_a_permutation_of_the_pre_queue_for_every_size() {
        for n in [0u64, 1, 2, 3, 5, 16, 17, 100, 1_000, 4_097] {
            let t = tally(&[n / 3, n / 3, n - 2 * (n / 3)]);
            let d = Draw::new(&[7; 32], "drop-1", &t);
            let mut seen = vec![false; n as usize];
            for g in 0..n {
                let p = d.permute(g);
                assert!(p < n, "n={n}: {g} -> {p}");
                assert!(!seen[p as usize], "n={n}: place {p} twice");
                seen[p as usize] = true;
            }
        }
    }

    #[test]
    fn queue_numbers_map_to_unique_places_with_late_arrivals_behind() {
        // Uneven shards, and late arrivals at every shard.
        let counts = [5u64, 3, 0, 7];
        let d = Draw::new(&[1; 32], "drop-1", &tally(&counts));
        let total: u64 = counts.iter().sum();
        let mut places = std::collections::BTreeSet::new();
        for j in 0..12u64 {
            for k in 0..4u64 {
                let position = k + j * 4;
                let place = d.place(position);
                assert!(places.insert(place), "place {place} twice");
                assert_eq!(d.is_entry(position), j < counts[k as usize]);
                // A late place needs no seed.
                let late = tally(&counts).late_place(position);
                assert_eq!(late.is_none(), d.is_entry(position));
                if let Some(l) = late {
                    assert_eq!(l, place);
                }
                if d.is_entry(position) {
                    assert!(place < total);
                } else {
                    assert!(place >= total);
                }
            }
        }
        // Late arrivals keep their arrival order among themselves, per shard.
        assert!(d.place(3 + 7 * 4) < d.place(3 + 8 * 4));
    }

    #[test]
    fn another_seed_or_another_entry_gives_another_order() {
        let t = tally(&[500, 500]);
        let a = Draw::new(&[1; 32], "drop-1", &t);
        let b = Draw::new(&[2; 32], "drop-1", &t);
        let mut t2 = t.clone();
        t2.shards[1].head = "changed".into();
        let c = Draw::new(&[1; 32], "drop-1", &t2);
        let same_b = (0..1_000)
            .filter(|g| a.permute(*g) == b.permute(*g))
            .count();
        let same_c = (0..1_000)
            .filter(|g| a.permute(*g) == c.permute(*g))
            .count();
        // A random permutation of 1000 keeps about one point fixed.
        assert!(same_b < 10 && same_c < 10, "{same_b} {same_c}");
    }

    /// Spearman's rank correlation of two equally long lists without ties.
    fn spearman(a: &[u64], b: &[u64]) -> f64 {
        let rank = |v: &[u64]| {
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by_key(|i| v[*i]);
            let mut r = vec![0f64; v.len()];
            for (rank, i) in idx.into_iter().enumerate() {
                r[i] = rank as f64;
            }
            r
        };
        let (ra, rb) = (rank(a), rank(b));
        let n = a.len() as f64;
        let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
        1.0 - 6.0 * d2 / (n * (n * n - 1.0))
    }

    #[test]
    fn within_the_pre_queue_place_is_independent_of_arrival() {
        // 12,000 joins over 8 shards, in arrival order (join i lands at the shard its challenge
        // hashes to), for several seeds.
        for seed in 0u8..5 {
            let shards = 8usize;
            let mut counts = vec![0u64; shards];
            let mut positions = Vec::new();
            for i in 0..12_000u64 {
                let k = (sha(&[b"shard", &[seed], &i.to_be_bytes()])[0] as usize) % shards;
                positions.push(k as u64 + counts[k] * shards as u64);
                counts[k] += 1;
            }
            let d = Draw::new(&[seed; 32], "drop-1", &tally(&counts));
            let arrival: Vec<u64> = (0..positions.len() as u64).collect();
            let places: Vec<u64> = positions.iter().map(|p| d.place(*p)).collect();
            let mut sorted = places.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), places.len(), "places are unique");
            let rho = spearman(&arrival, &places);
            assert!(rho.abs() < 0.02, "seed {seed}: rho {rho}");
        }
    }

    fn record(counts: &[usize]) -> DrawRecord {
        let shards = counts
            .iter()
            .enumerate()
            .map(|(k, n)| {
                (0..*n)
                    .map(|j| {
                        let digest = entry_digest(&format!("visitor-{k}-{j}"));
                        (digest, 1_000 + (j * counts.len() + k) as u64)
                    })
                    .collect()
            })
            .collect();
        DrawRecord::assemble("drop-1", &[9u8; 32], 1_000_000, shards)
    }

    #[test]
    fn a_true_record_verifies_and_finds_its_entries() {
        let r = record(&[4, 6, 5]);
        let v = r.verify().unwrap();
        assert_eq!(v.entries, 15);
        let (k, j, place) = r.find(&entry_digest("visitor-1-2")).unwrap();
        assert_eq!((k, j), (1, 2));
        assert!(place.unwrap() < 15);
        assert_eq!(r.find(&entry_digest("nobody")), None);
    }

    #[test]
    fn every_alteration_is_detected() {
        let good = record(&[4, 6, 5]);

        let mut swapped = good.clone();
        let a = swapped.shards[0].entries[0].place;
        swapped.shards[0].entries[0].place = swapped.shards[2].entries[1].place;
        swapped.shards[2].entries[1].place = a;
        assert!(matches!(swapped.verify(), Err(DrawError::Place { .. })));

        let mut added = good.clone();
        added.shards[1].entries.push(Entry {
            digest: entry_digest("intruder"),
            at_ms: 5_000,
            place: Some(0),
        });
        assert!(matches!(added.verify(), Err(DrawError::Count { .. })));
        // Added with the count and head made to match: every place moves.
        added.shards[1].tally.count += 1;
        added.shards[1].tally.head =
            chain(&good.shards[1].tally.head, &entry_digest("intruder"), 5_000);
        assert!(matches!(added.verify(), Err(DrawError::Place { .. })));

        let mut moved = good.clone();
        moved.shards[1].entries.swap(0, 1);
        assert_eq!(moved.verify(), Err(DrawError::Chain { shard: 1 }));

        let mut reseeded = good.clone();
        reseeded.seed = hex::encode([8u8; 32]);
        assert_eq!(reseeded.verify(), Err(DrawError::Commitment));

        let mut recommitted = reseeded.clone();
        recommitted.commitment = commitment(&[8u8; 32]);
        assert!(matches!(recommitted.verify(), Err(DrawError::Place { .. })));

        let mut late = good.clone();
        late.closes_at_ms = 1_002;
        assert!(matches!(late.verify(), Err(DrawError::AfterClose { .. })));

        let mut bad = good;
        bad.seed = "zz".into();
        assert_eq!(bad.verify(), Err(DrawError::BadSeed));
    }
}
