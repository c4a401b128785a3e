//! Bot defences that are pure policy: how hard a proof of work to ask for, and which orders an
//! audit flags.
//!
//! The edge measures (its join rate, a device's earlier joins and failed proofs) and the
//! origin records (who bought, from which network and device, how fast); these functions turn
//! the measurements into decisions, so both are deterministic and tested here.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// How the proof-of-work difficulty adapts. Expected work is `2^bits` hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowPolicy {
    /// Difficulty of an ordinary first visit when the sale is calm.
    pub base_bits: u8,
    /// Never more than this.
    pub max_bits: u8,
    /// Joins per second (as one edge isolate sees them) above which difficulty rises: one bit
    /// more at the knee and one per doubling above it, at most `rate_max_extra`.
    pub rate_knee: u32,
    /// The most bits the join rate adds.
    pub rate_max_extra: u8,
    /// Bits added per earlier join by the same device in this sale.
    pub repeat_bits: u8,
    /// Bits added per failed proof by the same device (counted up to 4).
    pub failure_bits: u8,
}

impl Default for PowPolicy {
    fn default() -> Self {
        PowPolicy {
            base_bits: 16,
            max_bits: 26,
            rate_knee: 200,
            rate_max_extra: 4,
            repeat_bits: 2,
            failure_bits: 1,
        }
    }
}

/// What the edge knows about a device's past in one sale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Joins so far.
    pub joins: u32,
    /// Proofs that did not solve their challenge.
    pub failures: u32,
}

impl PowPolicy {
    /// The difficulty for a challenge issued while joins arrive at `rate_per_sec`, to a device
    /// with `history`.
    pub fn bits(&self, rate_per_sec: f64, history: History) -> u8 {
        self.capped(
            self.rate_extra(rate_per_sec)
                .saturating_add(self.history_extra(history)),
        )
    }

    /// The bits the challenge rate adds: 1 at the knee, +1 per doubling, at most
    /// `rate_max_extra`.
    fn rate_extra(&self, rate_per_sec: f64) -> u32 {
        let knee = f64::from(self.rate_knee.max(1));
        if !(rate_per_sec.is_finite() && rate_per_sec >= knee) {
            return 0;
        }
        let doublings = (rate_per_sec / knee).log2().floor();
        (doublings as u32)
            .saturating_add(1)
            .min(u32::from(self.rate_max_extra))
    }

    /// The bits a device's history adds.
    fn history_extra(&self, history: History) -> u32 {
        history
            .joins
            .saturating_mul(u32::from(self.repeat_bits))
            .saturating_add(history.failures.min(4) * u32::from(self.failure_bits))
    }

    /// The base plus `extra`, at most `max_bits`.
    fn capped(&self, extra: u32) -> u8 {
        let bits = u32::from(self.base_bits).saturating_add(extra);
        u8::try_from(bits.min(u32::from(self.max_bits))).unwrap_or(self.max_bits)
    }

    /// Whether a challenge of `bits`, of which `hx` were asked by a device's history, is work
    /// enough for a device with `history` joining while challenges are issued at
    /// `rate_per_sec`: `Err((bits, hx))` of the challenge it needs if not.
    ///
    /// A challenge is issued at the difficulty of a first visit at the time (the base and the
    /// rate, [`Self::bits`] with no history), without asking anything of the device's past;
    /// the join, which counts the device anyway, checks its past here. A device without one
    /// (almost every person) has done enough. A device that joined or failed a proof before
    /// needs the base, the rate's bits (the higher of those its challenge was issued with,
    /// `bits - hx - base`, and those of the rate now) and its history's; it is given a
    /// challenge of that many, which records its history's share as its `hx`. That need does
    /// not grow with the bits solved, so the harder challenge is enough unless the rate rose
    /// meanwhile.
    pub fn enough(
        &self,
        bits: u8,
        hx: u8,
        rate_per_sec: f64,
        history: History,
    ) -> Result<(), (u8, u8)> {
        if history == History::default() {
            return Ok(());
        }
        let issued_rate = u32::from(bits)
            .saturating_sub(u32::from(hx))
            .saturating_sub(u32::from(self.base_bits));
        let rate = issued_rate.max(self.rate_extra(rate_per_sec));
        let from_history = self.history_extra(history);
        let needed = self.capped(rate.saturating_add(from_history));
        if bits >= needed {
            Ok(())
        } else {
            Err((needed, u8::try_from(from_history).unwrap_or(u8::MAX)))
        }
    }
}

/// Per-sale join limits at the edge; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinLimits {
    /// Joins per device (its key; a lane visitor's network and browser digest) per sale.
    pub per_device: u32,
    /// Joins per network (IP prefix) per sale.
    pub per_network: u32,
}

/// Which limit refused a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limited {
    /// The device has joined `per_device` times.
    Device,
    /// The network has joined `per_network` times.
    Network,
}

impl JoinLimits {
    /// Whether one more join is allowed for a device with `device_joins` and a network with
    /// `network_joins` so far.
    pub fn check(&self, device_joins: u32, network_joins: u32) -> Result<(), Limited> {
        if self.per_device > 0 && device_joins >= self.per_device {
            return Err(Limited::Device);
        }
        if self.per_network > 0 && network_joins >= self.per_network {
            return Err(Limited::Network);
        }
        Ok(())
    }
}

/// What the origin recorded about one order, for the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFacts {
    /// The order.
    pub order_id: String,
    /// Its visitor.
    pub visitor: String,
    /// Items in it.
    pub quantity: u64,
    /// Client binding (network, browser) the pass was issued to.
    pub client: String,
    /// Network digest (IP prefix).
    pub net: String,
    /// Device-signal digest from the page.
    pub dev: String,
    /// When the edge admitted the visitor, unix ms (0 if unknown).
    pub admitted_ms: u64,
    /// When the order was taken, unix ms.
    pub created_ms: u64,
    /// The pass was also offered from another client before it bought.
    #[serde(default)]
    pub shared_pass: bool,
}

/// How the audit scores orders. An order is flagged at `flag_score` or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPolicy {
    /// A purchase this soon after admission (ms) is machine speed: a person has to see the
    /// button and press it.
    pub fast_ms: u64,
    /// Orders from one network above this many make the network a cluster.
    pub network_cluster: usize,
    /// Orders sharing one device digest within one network, at least this many, make a cluster.
    pub device_cluster: usize,
    /// Score at which an order is flagged.
    pub flag_score: u32,
}

impl Default for AuditPolicy {
    fn default() -> Self {
        AuditPolicy {
            fast_ms: 300,
            network_cluster: 20,
            device_cluster: 3,
            flag_score: 3,
        }
    }
}

/// Why an order scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Bought faster after admission than a person can (+3).
    MachineSpeed,
    /// Another order came from the same device (its key; a lane visitor's network and browser
    /// digest) under another visitor (+3).
    SharedClient,
    /// The pass that bought had been offered from another client first (+3).
    SharedPass,
    /// Part of a cluster of identical device signals on one network (+1).
    DeviceCluster,
    /// Part of a network with more orders than `network_cluster` (+1).
    NetworkCluster,
}

impl Reason {
    /// The reason's weight in the score.
    pub fn weight(self) -> u32 {
        match self {
            Reason::MachineSpeed | Reason::SharedClient | Reason::SharedPass => 3,
            Reason::DeviceCluster | Reason::NetworkCluster => 1,
        }
    }
}

/// One scored order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    /// The order.
    pub order_id: String,
    /// Its visitor.
    pub visitor: String,
    /// Items in it.
    pub quantity: u64,
    /// Sum of the reasons' weights.
    pub score: u32,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// A group of orders sharing a network or a device digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// `network` or `device`.
    pub kind: String,
    /// The digest (never a raw address).
    pub key: String,
    /// Orders in it.
    pub orders: usize,
}

/// The audit of one sale's orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// The policy used.
    pub policy: AuditPolicy,
    /// Orders examined.
    pub orders: usize,
    /// Orders at or above the flag score, highest first.
    pub flagged: Vec<Scored>,
    /// Orders with some score below the flag score (for review).
    pub watched: Vec<Scored>,
    /// The largest clusters (at most ten of each kind).
    pub clusters: Vec<Cluster>,
}

/// Scores `orders` under `policy`.
pub fn audit(orders: &[OrderFacts], policy: AuditPolicy) -> Audit {
    let mut by_client: HashMap<&str, usize> = HashMap::new();
    let mut by_net: HashMap<&str, usize> = HashMap::new();
    let mut by_dev: HashMap<(&str, &str), usize> = HashMap::new();
    for o in orders {
        if !o.client.is_empty() {
            *by_client.entry(&o.client).or_default() += 1;
        }
        if !o.net.is_empty() {
            *by_net.entry(&o.net).or_default() += 1;
            if !o.dev.is_empty() {
                *by_dev.entry((&o.net, &o.dev)).or_default() += 1;
            }
        }
    }
    let mut flagged = Vec::new();
    let mut watched = Vec::new();
    for o in orders {
        let mut reasons = Vec::new();
        if o.admitted_ms > 0 && o.created_ms.saturating_sub(o.admitted_ms) < policy.fast_ms {
            reasons.push(Reason::MachineSpeed);
        }
        if by_client.get(o.client.as_str()).copied().unwrap_or(0) > 1 {
            reasons.push(Reason::SharedClient);
        }
        if o.shared_pass {
            reasons.push(Reason::SharedPass);
        }
        if !o.net.is_empty()
            && !o.dev.is_empty()
            && by_dev
                .get(&(o.net.as_str(), o.dev.as_str()))
                .copied()
                .unwrap_or(0)
                >= policy.device_cluster
        {
            reasons.push(Reason::DeviceCluster);
        }
        if by_net.get(o.net.as_str()).copied().unwrap_or(0) > policy.network_cluster {
            reasons.push(Reason::NetworkCluster);
        }
        let score = reasons.iter().map(|r| r.weight()).sum();
        let scored = Scored {
            order_id: o.order_id.clone(),
            visitor: o.visitor.clone(),
            quantity: o.quantity,
            score,
            reasons,
        };
        if score >= policy.flag_score {
            flagged.push(scored);
        } else if score > 0 {
            watched.push(scored);
        }
    }
    let order = |a: &Scored, b: &Scored| b.score.cmp(&a.score).then(a.order_id.cmp(&b.order_id));
    flagged.sort_by(order);
    watched.sort_by(order);
    let mut clusters = Vec::new();
    let mut top = |kind: &str, counts: BTreeMap<String, usize>| {
        let mut v: Vec<_> = counts.into_iter().filter(|(_, n)| *n > 1).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (key, n) in v.into_iter().take(10) {
            clusters.push(Cluster {
                kind: kind.to_owned(),
                key,
                orders: n,
            });
        }
    };
    top(
        "network",
        by_net.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    );
    top(
        "device",
        by_dev
            .iter()
            .map(|((n, d), v)| (format!("{n}/{d}"), *v))
            .collect(),
    );
    Audit {
        policy,
        orders: orders.len(),
        flagged,
        watched,
        clusters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calm_first_visits_get_the_base_difficulty() {
        let p = PowPolicy::default();
        assert_eq!(p.bits(0.0, History::default()), 16);
        assert_eq!(p.bits(199.0, History::default()), 16);
    }

    #[test]
    fn difficulty_rises_with_the_join_rate_and_is_capped() {
        let p = PowPolicy::default();
        assert_eq!(p.bits(200.0, History::default()), 17);
        assert_eq!(p.bits(399.0, History::default()), 17);
        assert_eq!(p.bits(400.0, History::default()), 18);
        assert_eq!(p.bits(1_000_000.0, History::default()), 20);
        assert_eq!(p.bits(f64::NAN, History::default()), 16);
    }

    #[test]
    fn difficulty_rises_with_the_devices_history() {
        let p = PowPolicy::default();
        let h = |joins, failures| History { joins, failures };
        assert_eq!(p.bits(0.0, h(1, 0)), 18);
        assert_eq!(p.bits(0.0, h(2, 3)), 23);
        assert_eq!(p.bits(0.0, h(0, 100)), 20);
        assert_eq!(p.bits(1e9, h(u32::MAX, u32::MAX)), 26);
    }

    #[test]
    fn a_join_without_history_has_done_enough_and_one_with_history_needs_its_bits() {
        let p = PowPolicy::default();
        let none = History::default();
        let once = History {
            joins: 1,
            failures: 0,
        };
        // Whatever the challenge: a first visit's difficulty was set when it was issued.
        assert_eq!(p.enough(16, 0, 0.0, none), Ok(()));
        assert_eq!(p.enough(0, 0, 1e6, none), Ok(()));
        // One join before: 18 bits when calm (two of them for the history), 19 in a rush.
        assert_eq!(p.enough(16, 0, 0.0, once), Err((18, 2)));
        assert_eq!(p.enough(16, 0, 200.0, once), Err((19, 2)));
        // The rush the challenge was issued in counts, even if the join comes when it is
        // calm: 18 bits issued in a rush (base 16 + 2) need 20.
        assert_eq!(p.enough(18, 0, 0.0, once), Err((20, 2)));
        // The harder challenge is enough: the need does not grow with the bits solved.
        assert_eq!(p.enough(18, 2, 0.0, once), Ok(()));
        assert_eq!(p.enough(20, 2, 0.0, once), Ok(()));
        // At the ceiling, whatever the history says.
        let often = History {
            joins: 9,
            failures: 4,
        };
        assert_eq!(p.enough(16, 0, 0.0, often), Err((26, 22)));
        assert_eq!(p.enough(26, 22, 0.0, often), Ok(()));
    }

    #[test]
    fn limits() {
        let l = JoinLimits {
            per_device: 2,
            per_network: 10,
        };
        assert_eq!(l.check(0, 0), Ok(()));
        assert_eq!(l.check(1, 9), Ok(()));
        assert_eq!(l.check(2, 0), Err(Limited::Device));
        assert_eq!(l.check(0, 10), Err(Limited::Network));
        let off = JoinLimits {
            per_device: 0,
            per_network: 0,
        };
        assert_eq!(off.check(u32::MAX, u32::MAX), Ok(()));
    }

    fn order(n: usize, client: &str, net: &str, dev: &str, think_ms: u64) -> OrderFacts {
        OrderFacts {
            order_id: format!("s-{n}"),
            visitor: format!("v{n}"),
            quantity: 1,
            client: client.into(),
            net: net.into(),
            dev: dev.into(),
            admitted_ms: 1_000_000,
            created_ms: 1_000_000 + think_ms,
            shared_pass: false,
        }
    }

    #[test]
    fn audit_flags_machine_speed_shared_clients_and_farms_but_not_an_office() {
        let mut orders = Vec::new();
        // An office: 25 people on one network, three laptop models, people's speed.
        for i in 0..25 {
            let dev = ["d1", "d2", "d3"][i % 3];
            orders.push(order(
                i,
                &format!("c{i}"),
                "office",
                dev,
                1_500 + i as u64 * 10,
            ));
        }
        // A person somewhere else.
        orders.push(order(100, "home", "n-home", "d9", 2_000));
        // A fast bot on its own network.
        orders.push(order(200, "fast", "n-fast", "d8", 40));
        // One browser that bought as two visitors.
        orders.push(order(300, "twice", "n-t", "d7", 900));
        orders.push(order(301, "twice", "n-t", "d7", 950));
        // A pass that was offered from another client first, then bought at people's speed.
        let mut shared = order(500, "sharer", "n-s", "d6", 1_200);
        shared.shared_pass = true;
        orders.push(shared);
        // A farm: five clients, one network, identical device signals, people's speed.
        for i in 0..5 {
            orders.push(order(400 + i, &format!("f{i}"), "n-farm", "dfarm", 800));
        }
        let a = audit(&orders, AuditPolicy::default());
        let flagged: Vec<&str> = a.flagged.iter().map(|s| s.visitor.as_str()).collect();
        assert!(flagged.contains(&"v200"), "{flagged:?}");
        assert!(flagged.contains(&"v300") && flagged.contains(&"v301"));
        assert!(flagged.contains(&"v500"));
        // The office is a network cluster with device clusters (same laptops): 1 + 1, below
        // the flag score, so its people keep their orders.
        for i in 0..25 {
            assert!(
                !flagged.contains(&format!("v{i}").as_str()),
                "office v{i} flagged"
            );
        }
        assert!(!flagged.contains(&"v100"));
        assert!(a.watched.iter().any(|s| s.visitor == "v0" && s.score == 2));
        // A farm at people's speed is only watched (the edge's per-network limit bounds it).
        assert!(a
            .watched
            .iter()
            .any(|s| s.visitor == "v400" && s.score == 1));
        assert_eq!(a.orders, orders.len());
        assert_eq!(a.clusters[0].kind, "network");
        assert_eq!(a.clusters[0].orders, 25);
    }
}
