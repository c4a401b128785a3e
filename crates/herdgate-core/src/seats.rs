//! Seated sales: the seat map an operator loads, its checks, and how it is kept in Redis
//! (`lua/seats.lua`): one string per row, one character per seat position.
//!
//! A seat's id is `<section>/<row>/<n>`, `n` its position in the row from 1 (an aisle or a
//! missing seat keeps its position, so numbers match the venue's plan). A row of the map is a
//! list of positions, each a seat (its price tier and, for accessible places, what kind) or
//! `null` for no seat. Rows are listed best first: "best available" searches them in that
//! order, and within a row takes the free block nearest its middle.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// The most seats a map may hold.
pub const MAX_SEATS: usize = 100_000;
/// The most positions in one row.
pub const MAX_ROW: usize = 500;
/// The most price tiers (each is one character in Redis).
pub const MAX_TIERS: usize = 62;
/// The shortest and the longest a hold may last, seconds (a few seconds suits a test, a few
/// minutes a buyer).
pub const HOLD_SECS: std::ops::RangeInclusive<u64> = 5..=3_600;
/// The most one seat may cost, minor units (10^9): a hold of [`MAX_ROW`] seats then stays far
/// below 2^53, where the script's JSON stops counting exactly.
pub const MAX_SEAT_PRICE: u64 = 1_000_000_000;
/// How long a hold lasts unless the map says otherwise, seconds (8 minutes).
pub const DEFAULT_HOLD_SECS: u64 = 480;
/// How many people may choose seats at once ([`SeatMap::choosers`]).
pub const CHOOSERS: std::ops::RangeInclusive<u32> = 1..=10_000;
/// How many choose at once unless the map says otherwise.
pub const DEFAULT_CHOOSERS: u32 = 500;
/// How long an admitted person may look before they hold, seconds ([`SeatMap::choose_secs`]).
pub const CHOOSE_SECS: std::ops::RangeInclusive<u64> = 5..=3_600;
/// How long an admitted person may look unless the map says otherwise, seconds (3 minutes).
pub const DEFAULT_CHOOSE_SECS: u64 = 180;

/// A venue's seats for one sale (`PUT /admin/v1/sales/{sale}/seats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatMap {
    /// Price tiers by id: what one seat of the tier costs, in the sale's currency's minor
    /// units (0 for a free seat).
    pub tiers: BTreeMap<String, u64>,
    /// Sections, in the order best available tries them when no section is named.
    pub sections: Vec<Section>,
    /// Seconds a hold lasts before its seats go back on sale.
    #[serde(default = "default_hold_secs")]
    pub hold_secs: u64,
    /// Admission by concurrency: the edge admits the next person in line only while fewer
    /// than this many are choosing seats (admitted and neither bought, released nor lapsed).
    #[serde(default = "default_choosers")]
    pub choosers: u32,
    /// Seconds an admitted person counts as choosing before they hold seats; a hold counts
    /// them until it ends (bought, released or lapsed).
    #[serde(default = "default_choose_secs")]
    pub choose_secs: u64,
}

fn default_hold_secs() -> u64 {
    DEFAULT_HOLD_SECS
}

fn default_choosers() -> u32 {
    DEFAULT_CHOOSERS
}

fn default_choose_secs() -> u64 {
    DEFAULT_CHOOSE_SECS
}

/// A section of a [`SeatMap`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// `[A-Za-z0-9_-]{1,16}`, unique in the map.
    pub id: String,
    /// Rows, best first.
    pub rows: Vec<Row>,
}

/// A row of a [`Section`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// `[A-Za-z0-9_-]{1,16}`, unique in its section.
    pub id: String,
    /// Positions from 1: a seat, or `null` where there is none.
    pub seats: Vec<Option<Seat>>,
}

/// One seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seat {
    /// Its price tier (a key of [`SeatMap::tiers`]).
    pub tier: String,
    /// An accessible place, if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
}

/// An accessible place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// A wheelchair space.
    Wheelchair,
    /// A companion seat beside one.
    Companion,
}

/// Why a seat map is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// More seats than [`MAX_SEATS`], or none.
    #[error("a map holds 1 to {MAX_SEATS} seats")]
    SeatCount,
    /// An id outside `[A-Za-z0-9_-]{1,16}`, or one used twice.
    #[error("ids are 1 to 16 of A-Z a-z 0-9 _ -, unique where they are: {0:?}")]
    Id(String),
    /// A row empty or longer than [`MAX_ROW`].
    #[error("a row has 1 to {MAX_ROW} positions: {0:?}")]
    RowLength(String),
    /// A seat names a tier the map does not price.
    #[error("a seat's tier is not in the map's tiers: {0:?}")]
    UnknownTier(String),
    /// More tiers than [`MAX_TIERS`], or a price above [`MAX_SEAT_PRICE`].
    #[error("at most {MAX_TIERS} tiers, each priced 0 to 10^9 minor units")]
    Tiers,
    /// A hold time outside [`HOLD_SECS`].
    #[error("a hold lasts 5 to 3600 seconds")]
    HoldSecs,
    /// `choosers` outside [`CHOOSERS`] or `choose_secs` outside [`CHOOSE_SECS`].
    #[error("1 to 10000 choose at once, for 5 to 3600 seconds before they hold")]
    Choosing,
}

/// The characters tiers are kept as, in the order of the tiers' ids.
const TIER_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A map as `lua/seats.lua` keeps it (the `load` command's arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Seats on sale.
    pub seats: usize,
    /// `[{"id": section, "rows": ["<section>/<row>", …]}]`, rows best first.
    pub sections_json: String,
    /// `a:back=900,b:front=1500`: each tier's character, id and price.
    pub tiers: String,
    /// Per row: its key, its state (`.` a seat, `x` none), its tiers and its access, one
    /// character per position.
    pub rows: Vec<[String; 4]>,
    /// Each tier id's character.
    pub tier_chars: BTreeMap<String, char>,
}

/// Whether `id` is a valid section or row id.
pub fn is_part_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `id` reads as a seat id, `<section>/<row>/<n>` with n from 1.
pub fn is_seat_id(id: &str) -> bool {
    let mut parts = id.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(s), Some(r), Some(n), None) => {
            is_part_id(s)
                && is_part_id(r)
                && n.len() <= 4
                && n.parse::<u32>().is_ok_and(|n| n >= 1)
                && !n.starts_with('0')
        }
        _ => false,
    }
}

impl SeatMap {
    /// Checks the map and encodes it for Redis.
    pub fn encode(&self) -> Result<Encoded, MapError> {
        if !HOLD_SECS.contains(&self.hold_secs) {
            return Err(MapError::HoldSecs);
        }
        if !CHOOSERS.contains(&self.choosers) || !CHOOSE_SECS.contains(&self.choose_secs) {
            return Err(MapError::Choosing);
        }
        if self.tiers.len() > MAX_TIERS || self.tiers.values().any(|p| *p > MAX_SEAT_PRICE) {
            return Err(MapError::Tiers);
        }
        let mut tier_chars = BTreeMap::new();
        for (i, id) in self.tiers.keys().enumerate() {
            if !is_part_id(id) {
                return Err(MapError::Id(id.clone()));
            }
            tier_chars.insert(id.clone(), char::from(TIER_CHARS[i]));
        }
        let tiers = self
            .tiers
            .iter()
            .map(|(id, p)| format!("{}:{id}={p}", tier_chars[id]))
            .collect::<Vec<_>>()
            .join(",");
        let mut seats = 0usize;
        let mut rows = Vec::new();
        let mut sections = Vec::new();
        let mut section_ids = HashSet::new();
        for section in &self.sections {
            if !is_part_id(&section.id) || !section_ids.insert(section.id.as_str()) {
                return Err(MapError::Id(section.id.clone()));
            }
            let mut row_ids = HashSet::new();
            let mut keys = Vec::new();
            for row in &section.rows {
                if !is_part_id(&row.id) || !row_ids.insert(row.id.as_str()) {
                    return Err(MapError::Id(format!("{}/{}", section.id, row.id)));
                }
                let key = format!("{}/{}", section.id, row.id);
                if row.seats.is_empty() || row.seats.len() > MAX_ROW {
                    return Err(MapError::RowLength(key));
                }
                let (mut state, mut tiers, mut access) =
                    (String::new(), String::new(), String::new());
                for seat in &row.seats {
                    match seat {
                        None => {
                            state.push('x');
                            tiers.push('-');
                            access.push('.');
                        }
                        Some(s) => {
                            let c = *tier_chars
                                .get(&s.tier)
                                .ok_or_else(|| MapError::UnknownTier(s.tier.clone()))?;
                            state.push('.');
                            tiers.push(c);
                            access.push(match s.access {
                                None => '.',
                                Some(Access::Wheelchair) => 'w',
                                Some(Access::Companion) => 'c',
                            });
                            seats += 1;
                        }
                    }
                }
                keys.push(key.clone());
                rows.push([key, state, tiers, access]);
            }
            sections.push(serde_json::json!({ "id": section.id, "rows": keys }));
        }
        if seats == 0 || seats > MAX_SEATS {
            return Err(MapError::SeatCount);
        }
        Ok(Encoded {
            seats,
            sections_json: serde_json::Value::Array(sections).to_string(),
            tiers,
            rows,
            tier_chars,
        })
    }
}

/// What an operator changes in a map before the sale (`POST
/// /admin/v1/sales/{sale}/seats/changes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatMapChange {
    /// New prices of existing tiers, by tier id.
    #[serde(default)]
    pub prices: BTreeMap<String, u64>,
    /// Seats taken off sale (free seats only).
    #[serde(default)]
    pub withdraw: Vec<String>,
}

/// A request to hold seats (`POST /v1/sales/{sale}/seat-holds`): named seats, all or none, or the
/// best block of adjacent ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HoldRequest {
    /// These seats, all of them or none.
    Seats(Vec<String>),
    /// The best block of adjacent free seats.
    Best(BestRequest),
}

/// What "best available" looks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BestRequest {
    /// Seats side by side, 1 up to the per-visitor limit.
    pub count: u32,
    /// Only in this section (default: every section, in the map's order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// Only of this tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// A block with a wheelchair space (otherwise accessible places are left out).
    #[serde(default)]
    pub wheelchair: bool,
}

/// Seats held for a visitor until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatHold {
    /// The hold's id.
    pub hold: String,
    /// The visitor.
    pub visitor: String,
    /// The seats.
    pub seats: Vec<String>,
    /// What they cost together, minor units.
    pub amount: u64,
    /// When the seats go back on sale, unix ms.
    pub expires_at_ms: u64,
}

/// The answer to a hold some of whose seats are not free (`seats_taken`): nothing was held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatsTaken {
    /// The refusal.
    pub error: crate::wire::ErrorDetail,
    /// The seats asked for that are held or sold.
    pub taken: Vec<String>,
    /// The best block of as many adjacent free seats in the same section, if any.
    pub alternatives: Vec<String>,
}

/// The answer to a hold by a visitor who holds seats already (`seat_hold_exists`): nothing new
/// was held, and the live hold is named, so a page that lost it (a reload, another tab) takes
/// it up again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatHoldExists {
    /// The refusal.
    pub error: crate::wire::ErrorDetail,
    /// The visitor's live hold.
    pub hold: SeatHold,
}

/// A seated sale's seats as they stand (`GET /v1/sales/{sale}/seats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// The sale.
    pub sale: String,
    /// When it was read, unix ms.
    pub at_ms: u64,
    /// The price tiers, by the character the rows show them as.
    pub tiers: Vec<TierAvailability>,
    /// Sections in the map's order.
    pub sections: Vec<SectionAvailability>,
}

/// A price tier of [`Availability`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierAvailability {
    /// The tier's id in the map.
    pub id: String,
    /// The character its seats show in [`RowAvailability::tiers`].
    pub code: String,
    /// The price of one seat, minor units.
    pub price: u64,
}

/// One section of [`Availability`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionAvailability {
    /// The section.
    pub id: String,
    /// Free seats.
    pub free: u64,
    /// Held seats.
    pub held: u64,
    /// Sold seats.
    pub sold: u64,
    /// Rows best first: each position `.` free, `h` held, `s` sold, `x` none; the tier of each
    /// (a [`TierAvailability::code`], `-` for none) and its access (`w`, `c` or `.`).
    pub rows: Vec<RowAvailability>,
}

/// One row of [`SectionAvailability`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowAvailability {
    /// The row's id.
    pub id: String,
    /// One character per position (see [`SectionAvailability::rows`]).
    pub state: String,
    /// One tier character per position.
    pub tiers: String,
    /// One access character per position.
    pub access: String,
}

/// A seated sale's seats counted by section, without the rows: what the edge answers at
/// `GET /api/v1/sales/{sale}/seats` (and one section's rows with `?section=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatSummary {
    /// The sale.
    pub sale: String,
    /// When the origin read the seats, unix ms.
    pub at_ms: u64,
    /// The price tiers.
    pub tiers: Vec<TierAvailability>,
    /// Sections in the map's order.
    pub sections: Vec<SectionSummary>,
}

/// One section of a [`SeatSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionSummary {
    /// The section.
    pub id: String,
    /// Free seats.
    pub free: u64,
    /// Held seats.
    pub held: u64,
    /// Sold seats.
    pub sold: u64,
    /// Free seats by tier id (tiers with none free are left out).
    pub free_by_tier: BTreeMap<String, u64>,
    /// Free wheelchair spaces.
    pub free_wheelchair: u64,
}

impl Availability {
    /// The seats counted by section.
    pub fn summary(&self) -> SeatSummary {
        let tier_id = |c: char| {
            self.tiers
                .iter()
                .find(|t| t.code.starts_with(c))
                .map(|t| t.id.clone())
        };
        let sections = self
            .sections
            .iter()
            .map(|section| {
                let mut free_by_tier = BTreeMap::new();
                let mut free_wheelchair = 0;
                for row in &section.rows {
                    let seats = row
                        .state
                        .chars()
                        .zip(row.tiers.chars())
                        .zip(row.access.chars());
                    for ((state, tier), access) in seats {
                        if state != '.' {
                            continue;
                        }
                        if let Some(id) = tier_id(tier) {
                            *free_by_tier.entry(id).or_insert(0) += 1;
                        }
                        if access == 'w' {
                            free_wheelchair += 1;
                        }
                    }
                }
                SectionSummary {
                    id: section.id.clone(),
                    free: section.free,
                    held: section.held,
                    sold: section.sold,
                    free_by_tier,
                    free_wheelchair,
                }
            })
            .collect();
        SeatSummary {
            sale: self.sale.clone(),
            at_ms: self.at_ms,
            tiers: self.tiers.clone(),
            sections,
        }
    }

    /// The same seats with only the section `id` (`None`: the map has no such section).
    pub fn section(&self, id: &str) -> Option<Availability> {
        let section = self.sections.iter().find(|s| s.id == id)?;
        Some(Availability {
            sale: self.sale.clone(),
            at_ms: self.at_ms,
            tiers: self.tiers.clone(),
            sections: vec![section.clone()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_counts_each_sections_free_seats_by_tier() {
        let row = |state: &str, tiers: &str, access: &str| RowAvailability {
            id: "1".into(),
            state: state.into(),
            tiers: tiers.into(),
            access: access.into(),
        };
        let seats = Availability {
            sale: "gig".into(),
            at_ms: 7,
            tiers: vec![
                TierAvailability {
                    id: "back".into(),
                    code: "a".into(),
                    price: 10,
                },
                TierAvailability {
                    id: "front".into(),
                    code: "b".into(),
                    price: 20,
                },
            ],
            sections: vec![SectionAvailability {
                id: "A".into(),
                free: 3,
                held: 1,
                sold: 1,
                rows: vec![row(".hx.", "ab-b", "w..."), row(".s", "aa", ".c")],
            }],
        };
        let summary = seats.summary();
        let a = &summary.sections[0];
        assert_eq!((a.free, a.held, a.sold, a.free_wheelchair), (3, 1, 1, 1));
        assert_eq!(
            a.free_by_tier,
            BTreeMap::from([("back".to_owned(), 2), ("front".to_owned(), 1)])
        );
        assert_eq!(seats.section("A").unwrap().sections.len(), 1);
        assert!(seats.section("B").is_none());
    }

    fn map(json: serde_json::Value) -> SeatMap {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_map_encodes_row_by_row() {
        let m = map(serde_json::json!({
            "tiers": {"front": 9000, "back": 4000},
            "sections": [{"id": "A", "rows": [
                {"id": "1", "seats": [{"tier": "front"}, null, {"tier": "front", "access": "wheelchair"}]},
                {"id": "2", "seats": [{"tier": "back"}, {"tier": "back", "access": "companion"}]}
            ]}]
        }));
        let e = m.encode().unwrap();
        assert_eq!(e.seats, 4);
        // Tiers take characters in the order of their ids: back = a, front = b.
        assert_eq!(e.tiers, "a:back=4000,b:front=9000");
        assert_eq!(e.rows[0], ["A/1", ".x.", "b-b", "..w"].map(String::from));
        assert_eq!(e.rows[1], ["A/2", "..", "aa", ".c"].map(String::from));
        assert_eq!(e.sections_json, r#"[{"id":"A","rows":["A/1","A/2"]}]"#);
        assert_eq!(m.hold_secs, DEFAULT_HOLD_SECS);
    }

    #[test]
    fn bad_maps_are_refused() {
        let base = serde_json::json!({"tiers": {"t": 1}, "sections": [{"id": "A", "rows": [{"id": "1", "seats": [{"tier": "t"}]}]}]});
        assert!(map(base.clone()).encode().is_ok());
        let with = |path: &str, v: serde_json::Value| {
            let mut m = base.clone();
            *m.pointer_mut(path).unwrap() = v;
            map(m).encode().unwrap_err()
        };
        assert_eq!(
            with("/sections/0/id", "A/B".into()),
            MapError::Id("A/B".into())
        );
        assert_eq!(
            with("/sections/0/rows/0/seats/0/tier", "u".into()),
            MapError::UnknownTier("u".into())
        );
        assert_eq!(
            with("/sections/0/rows/0/seats", serde_json::json!([])),
            MapError::RowLength("A/1".into())
        );
        assert_eq!(
            with("/sections/0/rows/0/seats", serde_json::json!([null])),
            MapError::SeatCount
        );
        assert_eq!(
            with("/tiers/t", serde_json::json!(MAX_SEAT_PRICE + 1)),
            MapError::Tiers
        );
        let mut twice = base.clone();
        twice["sections"] = serde_json::json!([base["sections"][0], base["sections"][0]]);
        assert_eq!(map(twice).encode().unwrap_err(), MapError::Id("A".into()));
        let mut quick = base.clone();
        quick["hold_secs"] = 4.into();
        assert_eq!(map(quick).encode().unwrap_err(), MapError::HoldSecs);
        for (field, v) in [("choosers", 0), ("choosers", 10_001), ("choose_secs", 4)] {
            let mut m = base.clone();
            m[field] = v.into();
            assert_eq!(
                map(m).encode().unwrap_err(),
                MapError::Choosing,
                "{field} {v}"
            );
        }
        let row: Vec<_> = (0..=MAX_ROW)
            .map(|_| serde_json::json!({"tier": "t"}))
            .collect();
        assert_eq!(
            with("/sections/0/rows/0/seats", row.into()),
            MapError::RowLength("A/1".into())
        );
    }

    #[test]
    fn seat_ids_read_as_section_row_position() {
        assert!(is_seat_id("A/12/7") && is_seat_id("floor-1/row_b/500"));
        for bad in [
            "A/1",
            "A/1/0",
            "A/1/07",
            "A/1/x",
            "A//1",
            "A/1/1/1",
            "A b/1/1",
            "A/1/12345",
        ] {
            assert!(!is_seat_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_hold_request_is_seats_or_best() {
        let r: HoldRequest = serde_json::from_str(r#"{"seats": ["A/1/1", "A/1/2"]}"#).unwrap();
        assert_eq!(r, HoldRequest::Seats(vec!["A/1/1".into(), "A/1/2".into()]));
        let r: HoldRequest =
            serde_json::from_str(r#"{"best": {"count": 4, "section": "A"}}"#).unwrap();
        assert!(matches!(r, HoldRequest::Best(BestRequest { count: 4, .. })));
        assert!(
            serde_json::from_str::<HoldRequest>(r#"{"seats": [], "best": {"count": 1}}"#).is_err()
        );
    }
}
