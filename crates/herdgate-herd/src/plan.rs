//! What to simulate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bots::BotMix;

/// When the buyers arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// Everyone within `within_ms` of the start (uniformly at random); the sale is open.
    Burst {
        /// The window, ms.
        within_ms: u64,
    },
    /// Arrivals spread evenly over `over_ms`; the sale is open.
    Ramp {
        /// The window, ms.
        over_ms: u64,
    },
    /// Everyone arrives in the first two thirds of `over_ms` and the sale starts `over_ms`
    /// after the herd starts: the last third leaves the last arrivals time to solve and join
    /// on a busy edge, so the queue is full when admission begins.
    BeforeStart {
        /// The window, ms.
        over_ms: u64,
    },
    /// A fair opening: the sale has a pre-queue that opens when the herd starts; everyone
    /// arrives in the first two thirds of `over_ms` (as [`Arrival::BeforeStart`]), the sale
    /// starts `over_ms` after the herd starts, and the draw closes `window_ms` after that.
    Prequeue {
        /// Until the start, ms.
        over_ms: u64,
        /// The draw window after the start, ms.
        window_ms: u64,
    },
}

impl Arrival {
    /// Parses `burst[:MS]`, `ramp:MS`, `before-start:MS` or `prequeue:MS[:WINDOW_MS]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("prequeue") {
            let mut parts = rest.split(':').skip(1);
            let mut ms = |default: u64| -> Result<u64, String> {
                parts.next().map_or(Ok(default), |v| {
                    v.parse::<u64>().map_err(|_| format!("bad duration in {s}"))
                })
            };
            return Ok(Arrival::Prequeue {
                over_ms: ms(20_000)?,
                window_ms: ms(2_000)?,
            });
        }
        let (kind, ms) = match s.split_once(':') {
            Some((k, v)) => (
                k,
                Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("bad duration in {s}"))?,
                ),
            ),
            None => (s, None),
        };
        match kind {
            "burst" => Ok(Arrival::Burst {
                within_ms: ms.unwrap_or(1_000),
            }),
            "ramp" => Ok(Arrival::Ramp {
                over_ms: ms.unwrap_or(10_000),
            }),
            "before-start" => Ok(Arrival::BeforeStart {
                over_ms: ms.unwrap_or(10_000),
            }),
            _ => Err(format!(
                "unknown arrival pattern {s:?}: burst[:MS], ramp:MS, before-start:MS, prequeue:MS[:WINDOW_MS]"
            )),
        }
    }

    /// When buyer `i` of `n` arrives, given a uniform random `u` in [0, 1).
    pub fn offset(&self, i: usize, n: usize, u: f64) -> Duration {
        let ms = match *self {
            Arrival::Burst { within_ms } => (u * within_ms as f64) as u64,
            Arrival::Ramp { over_ms } => over_ms * i as u64 / n.max(1) as u64,
            Arrival::BeforeStart { over_ms } | Arrival::Prequeue { over_ms, .. } => {
                (u * Self::arrivals_before(over_ms) as f64) as u64
            }
        };
        Duration::from_millis(ms)
    }

    /// How much of a before-start window `over_ms` the arrivals spread over.
    fn arrivals_before(over_ms: u64) -> u64 {
        over_ms * 2 / 3
    }

    /// A uniformly random moment in the arrival window, given a uniform random `u` in [0, 1).
    pub fn random_offset(&self, u: f64) -> Duration {
        let window = match *self {
            Arrival::Burst { within_ms } => within_ms,
            Arrival::Ramp { over_ms } => over_ms,
            Arrival::BeforeStart { over_ms } | Arrival::Prequeue { over_ms, .. } => {
                Self::arrivals_before(over_ms)
            }
        };
        Duration::from_millis((u * window as f64) as u64)
    }

    /// How long after the herd starts the sale opens.
    pub fn sale_opens_after(&self) -> Duration {
        match *self {
            Arrival::BeforeStart { over_ms } | Arrival::Prequeue { over_ms, .. } => {
                Duration::from_millis(over_ms)
            }
            _ => Duration::ZERO,
        }
    }

    /// The draw window, for a sale with a pre-queue.
    pub fn draw_window(&self) -> Option<Duration> {
        match *self {
            Arrival::Prequeue { window_ms, .. } => Some(Duration::from_millis(window_ms)),
            _ => None,
        }
    }

    /// How long after the herd starts admission begins: the start, or the draw's close.
    pub fn admission_opens_after(&self) -> Duration {
        self.sale_opens_after() + self.draw_window().unwrap_or_default()
    }
}

/// Everything a herd run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HerdConfig {
    /// The edge's base URL.
    pub edge: String,
    /// The origin's base URL (to create the sale and read its metrics).
    pub origin: String,
    /// The origin's admin token.
    #[serde(skip_serializing)]
    pub admin_token: String,
    /// The sale to create and sell.
    pub sale: String,
    /// Honest buyers.
    pub buyers: usize,
    /// Items on sale.
    pub items: u64,
    /// Admissions per second.
    pub rate: u32,
    /// How buyers arrive.
    pub arrival: Arrival,
    /// The bots beside them.
    pub bots: BotMix,
    /// HTTP requests in flight at once, for the whole herd.
    pub connections: usize,
    /// Give up after this long.
    pub deadline: Duration,
    /// Run the origin's audit (cancelling flagged orders) this often during the sale.
    pub audit_every: Option<Duration>,
    /// The audit's machine-speed threshold (ms from admission to purchase, on the edge's
    /// clock); `None` leaves the origin's default.
    #[serde(default)]
    pub audit_fast_ms: Option<u64>,
    /// Every bot arrives the moment the sale opens (else bots arrive like the crowd).
    pub bots_at_opening: bool,
    /// The sale takes card holds (a price of [`PREAUTH_PRICE`] minor units of EUR) and every
    /// honest buyer puts a card on hold right after joining.
    #[serde(default)]
    pub preauth: bool,
    /// The sale's stock is split over this many stock shards (see the README, "Stock
    /// shards"); `None`: one place.
    #[serde(default)]
    pub stock_shards: Option<u32>,
    /// The regions the sale is sold in (README, "Regions"), each with its own origin and
    /// allocation; empty: one region, at [`HerdConfig::origin`], with all the items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<HerdRegion>,
}

/// One region of a sale sold in several: its origin, its allocation, and the buyers who come
/// from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HerdRegion {
    /// The region's name, as the edge's `REGIONS` names it.
    pub name: String,
    /// Its origin's base URL (the same admin token as [`HerdConfig::admin_token`]).
    pub origin: String,
    /// The items it holds at the start.
    pub items: u64,
    /// Its share of the honest buyers, from 0 to 1 (the shares add up to 1).
    pub demand: f64,
    /// Where its buyers come from, as `request.cf` says (`DE`, `EU`): the edge maps that
    /// place to this region.
    pub country: String,
    /// See `country`.
    pub continent: String,
}

impl HerdConfig {
    /// The region of honest buyer `i`, by the regions' demand: the same `i` always the same
    /// region, and the buyers of each region spread over the whole arrival.
    pub fn region_of(&self, i: usize) -> Option<&HerdRegion> {
        if self.regions.is_empty() {
            return None;
        }
        // A fixed, well-spread number in [0, 1) from i (the golden ratio's fractional part).
        let u = (i as f64 * 0.618_033_988_749_895).fract();
        let mut acc = 0.0;
        for r in &self.regions {
            acc += r.demand;
            if u < acc {
                return Some(r);
            }
        }
        self.regions.last()
    }
}

/// The price of one item when the herd runs with card holds, in cents.
pub const PREAUTH_PRICE: u64 = 1500;
