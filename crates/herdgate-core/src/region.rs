//! Regions: one sale sold on several continents, each region with its own Redis and origins
//! and its own allocation of the stock (README, "Regions").
//!
//! The edge gives each visitor a **home region** when they ask for a challenge, from where the
//! request came from (Cloudflare's `request.cf.country` and `request.cf.continent`), through
//! a [`RegionMap`]; it signs the region into the challenge, the queue ticket and the pass
//! (`reg`), and forwards the visitor's purchase to that region's origin, which refuses a pass
//! of another region. A sale is sold only in the regions whose origins have it, and only to
//! the countries its settings name, if it names any ([`sold_to`]): that is the geofence.
//!
//! The line is one line for the whole sale; what the edge's schedule follows is the sale's
//! state merged over its regions ([`merge`]): the settings of the first region that has it,
//! and the stock of all. A region that sold out while another it can reach still has stock
//! is not sold out for its visitors: stock is on its way ([`restocking`]).

use crate::wire::{SaleState, SaleStatus};

/// The longest region name.
pub const MAX_REGION_NAME: usize = 32;

/// Whether `name` may name a region: 1 to 32 of `a-z`, `0-9` and `-`.
pub fn valid_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REGION_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `code` is written as an ISO 3166-1 alpha-2 country code: two letters `A-Z`.
pub fn valid_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// The continent codes of `request.cf.continent`.
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// Which region serves a visitor: by country, then by continent, else the first region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMap {
    regions: Vec<String>,
    by_country: Vec<(String, usize)>,
    by_continent: Vec<(String, usize)>,
}

impl RegionMap {
    /// A map over `regions` (in order; the first is where a visitor goes whom nothing else
    /// places), from `by_country` (`GB=eu,US=us`: ISO country codes) and `by_continent`
    /// (`EU=eu,NA=us`: the continent codes of [`CONTINENTS`]). Says what is wrong.
    pub fn new(regions: Vec<String>, by_country: &str, by_continent: &str) -> Result<Self, String> {
        if regions.is_empty() {
            return Err("no region".into());
        }
        for (i, r) in regions.iter().enumerate() {
            if !valid_region_name(r) {
                return Err(format!(
                    "region name {r:?} must be 1 to 32 of a-z, 0-9 and '-'"
                ));
            }
            if regions[..i].contains(r) {
                return Err(format!("region {r:?} is named twice"));
            }
        }
        let pairs = |spec: &str, what: &str, valid: &dyn Fn(&str) -> bool| {
            let mut out: Vec<(String, usize)> = Vec::new();
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (code, region) = part
                    .split_once('=')
                    .ok_or_else(|| format!("{what} entry {part:?} must be CODE=region"))?;
                let (code, region) = (code.trim(), region.trim());
                if !valid(code) {
                    return Err(format!("{what} code {code:?} is not one"));
                }
                let at = regions.iter().position(|r| r == region).ok_or_else(|| {
                    format!(
                        "{what} {code} names region {region:?}, which is not one of the regions"
                    )
                })?;
                if out.iter().any(|(c, _)| c == code) {
                    return Err(format!("{what} {code} is mapped twice"));
                }
                out.push((code.to_owned(), at));
            }
            Ok(out)
        };
        Ok(RegionMap {
            by_country: pairs(by_country, "country", &valid_country)?,
            by_continent: pairs(by_continent, "continent", &|c| CONTINENTS.contains(&c))?,
            regions,
        })
    }

    /// The regions, in order.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// The home region of a visitor from `country` on `continent` (either unknown: `None`).
    pub fn home(&self, country: Option<&str>, continent: Option<&str>) -> &str {
        let find = |table: &[(String, usize)], code: Option<&str>| {
            code.and_then(|c| table.iter().find(|(k, _)| k == c).map(|(_, i)| *i))
        };
        let at = find(&self.by_country, country)
            .or_else(|| find(&self.by_continent, continent))
            .unwrap_or(0);
        &self.regions[at]
    }
}

/// Whether a sale whose settings name `countries` (empty: every country) is sold to a visitor
/// from `country`. With a list, a visitor whose country is unknown (`None`, or Cloudflare's
/// `XX` and `T1`) is not.
pub fn sold_to(countries: &[String], country: Option<&str>) -> bool {
    countries.is_empty() || country.is_some_and(|c| countries.iter().any(|k| k == c))
}

/// One region's copy of a sale, as the edge last read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionCopy {
    /// The region.
    pub region: String,
    /// The sale's state there; `None`: the region has no such sale.
    pub state: Option<SaleState>,
    /// Whether the last read of it succeeded (else `state` is from an earlier read).
    pub reachable: bool,
}

/// The sale's state over its regions, or `None` if no region has it: the first region's copy
/// (its schedule, settings, draw and revision) with the stock of all (`remaining`, `sold`,
/// `pending`, `cancelled`, `given` and `received` summed; a region cut off with its last
/// copy), and as `moving` the items on their way (the moves under way, or [`in_flight`] if
/// more); sold out only when every region's copy is and no stock is on its way.
pub fn merge(copies: &[RegionCopy]) -> Option<SaleState> {
    let mut have = copies.iter().filter_map(|c| c.state.as_ref());
    let mut merged = have.next()?.clone();
    for s in have {
        merged.remaining += s.remaining;
        merged.sold += s.sold;
        merged.pending += s.pending;
        merged.cancelled += s.cancelled;
        merged.moving += s.moving;
        merged.given += s.given;
        merged.received += s.received;
        if merged.status == SaleStatus::SoldOut && s.status != SaleStatus::SoldOut {
            merged.status = s.status;
        }
    }
    merged.moving = merged.moving.max(in_flight(copies));
    if merged.status == SaleStatus::SoldOut && (merged.moving > 0 || unknown(copies)) {
        merged.status = SaleStatus::Open;
    }
    Some(merged)
}

/// Items given by one region and not yet received by another, as the copies say: what every
/// region gave less what every region received. The copies are read one after the other, so
/// an item can be in neither's stock as read (its destination read before the credit, its
/// source after the settle); it is counted here, since its source's gift is. (Read the other
/// way round, an item is in both stocks and this is 0: between two regions' copies, the error
/// is towards more stock.) It counts only the copies given: a gift to a region the edge does
/// not read stays "on its way".
pub fn in_flight(copies: &[RegionCopy]) -> u64 {
    let (given, received) = copies
        .iter()
        .filter_map(|c| c.state.as_ref())
        .fold((0u64, 0u64), |(g, r), s| {
            (g.saturating_add(s.given), r.saturating_add(s.received))
        });
    given.saturating_sub(received)
}

/// Whether a region has not been read yet and cannot be: what it holds is not known.
fn unknown(copies: &[RegionCopy]) -> bool {
    copies.iter().any(|c| !c.reachable && c.state.is_none())
}

/// Whether `home`, which has nothing left, is only out for now: another region still has
/// some, or stock is on its way between regions, which the rebalancer moves towards demand.
/// Its visitors are told to try again (`stock_moving`), not that the sale sold out. A region
/// cut off counts with its last copy (one never read, as possibly holding some): once the
/// partition heals, its stock moves again.
pub fn restocking(copies: &[RegionCopy], home: &str) -> bool {
    unknown(copies)
        || in_flight(copies) > 0
        || copies.iter().any(|c| {
            c.state.as_ref().is_some_and(|s| {
                s.seated.is_none() && (s.moving > 0 || (c.region != home && s.remaining > 0))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SaleId;

    fn map() -> RegionMap {
        RegionMap::new(
            vec!["us".into(), "eu".into(), "ap".into()],
            "GB=eu, JP=ap",
            "EU=eu,AS=ap,OC=ap",
        )
        .unwrap()
    }

    #[test]
    fn a_visitor_is_placed_by_country_then_continent_then_the_first_region() {
        let m = map();
        assert_eq!(m.home(Some("DE"), Some("EU")), "eu");
        assert_eq!(m.home(Some("GB"), Some("NA")), "eu", "the country wins");
        assert_eq!(m.home(Some("JP"), None), "ap");
        assert_eq!(m.home(Some("AU"), Some("OC")), "ap");
        assert_eq!(m.home(Some("BR"), Some("SA")), "us");
        assert_eq!(m.home(None, None), "us");
    }

    #[test]
    fn a_region_map_says_what_is_wrong() {
        let bad = |regions: &[&str], c: &str, k: &str| {
            RegionMap::new(regions.iter().map(|r| (*r).to_owned()).collect(), c, k).unwrap_err()
        };
        assert!(bad(&[], "", "").contains("no region"));
        assert!(bad(&["EU"], "", "").contains("a-z"));
        assert!(bad(&["eu", "eu"], "", "").contains("twice"));
        assert!(bad(&["eu"], "DE", "").contains("CODE=region"));
        assert!(bad(&["eu"], "de=eu", "").contains("not one"));
        assert!(bad(&["eu"], "DE=us", "").contains("not one of the regions"));
        assert!(bad(&["eu"], "", "XY=eu").contains("continent"));
        assert!(bad(&["eu"], "DE=eu,DE=eu", "").contains("twice"));
    }

    #[test]
    fn a_sale_with_countries_is_sold_only_to_them() {
        let list = vec!["DE".to_owned(), "FR".to_owned()];
        assert!(sold_to(&[], None));
        assert!(sold_to(&list, Some("FR")));
        assert!(!sold_to(&list, Some("US")));
        assert!(!sold_to(&list, Some("XX")));
        assert!(!sold_to(&list, None));
        assert!(valid_country("DE") && !valid_country("de") && !valid_country("DEU"));
    }

    fn state(remaining: u64, sold: u64, status: SaleStatus, rate: u32) -> SaleState {
        SaleState {
            sale: SaleId::parse("drop").unwrap(),
            status,
            remaining,
            sold,
            starts_at_ms: 1_000,
            admission_rate: rate,
            per_visitor_limit: 1,
            price: None,
            paused: false,
            revision: 7,
            cancelled: 1,
            pending: 0,
            draw: None,
            seated: None,
            countries: Vec::new(),
            moving: 0,
            given: 0,
            received: 0,
        }
    }

    fn copy(region: &str, state: Option<SaleState>, reachable: bool) -> RegionCopy {
        RegionCopy {
            region: region.into(),
            state,
            reachable,
        }
    }

    #[test]
    fn the_merged_sale_has_the_first_regions_settings_and_everyones_stock() {
        let copies = [
            copy("us", None, true),
            copy("eu", Some(state(0, 20, SaleStatus::SoldOut, 50)), true),
            copy("ap", Some(state(5, 3, SaleStatus::Open, 9)), false),
        ];
        let m = merge(&copies).unwrap();
        assert_eq!((m.remaining, m.sold, m.cancelled), (5, 23, 2));
        assert_eq!(
            m.admission_rate, 50,
            "the settings of the first region with the sale"
        );
        assert_eq!(
            m.status,
            SaleStatus::Open,
            "not sold out while a region has stock"
        );
        assert!(merge(&[copy("us", None, true)]).is_none());
        let out = [
            copy("eu", Some(state(0, 20, SaleStatus::SoldOut, 50)), true),
            copy("ap", Some(state(0, 8, SaleStatus::SoldOut, 9)), false),
        ];
        assert_eq!(merge(&out).unwrap().status, SaleStatus::SoldOut);
    }

    #[test]
    fn a_region_out_of_stock_is_restocking_while_another_has_some_even_cut_off() {
        let copies = [
            copy("eu", Some(state(0, 20, SaleStatus::SoldOut, 50)), true),
            copy("us", Some(state(4, 0, SaleStatus::Open, 50)), true),
        ];
        assert!(restocking(&copies, "eu"));
        assert!(!restocking(&copies, "us"), "a region is not its own donor");
        // Cut off, the US still holds its stock: once the partition heals, it moves.
        let cut_off = [
            copies[0].clone(),
            copy("us", copies[1].state.clone(), false),
        ];
        assert!(restocking(&cut_off, "eu"));
        let all_out = [
            copies[0].clone(),
            copy("us", Some(state(0, 4, SaleStatus::SoldOut, 50)), false),
        ];
        assert!(!restocking(&all_out, "eu"));
        // A region never read (cut off since the isolate started) may hold stock.
        let never_read = [copies[0].clone(), copy("us", None, false)];
        assert!(restocking(&never_read, "eu"));
        assert_eq!(merge(&never_read).unwrap().status, SaleStatus::Open);
    }

    #[test]
    fn stock_on_its_way_between_regions_is_not_sold_out() {
        let moving = |n| SaleState {
            moving: n,
            ..state(0, 20, SaleStatus::SoldOut, 50)
        };
        let copies = [
            copy("eu", Some(moving(0)), true),
            copy("us", Some(moving(1)), true),
        ];
        assert_eq!(merge(&copies).unwrap().status, SaleStatus::Open);
        assert!(restocking(&copies, "eu") && restocking(&copies, "us"));
        let done = [copies[0].clone(), copy("us", Some(moving(0)), true)];
        assert_eq!(merge(&done).unwrap().status, SaleStatus::SoldOut);
        assert!(!restocking(&done, "eu"));
    }

    #[test]
    fn an_item_between_two_reads_is_on_its_way_not_sold_out() {
        // The US gave the EU 3 items, and 1 more now: the EU was read before that credit,
        // the US after its settle. Neither copy holds the item, and neither says a move is
        // under way.
        let eu = SaleState {
            received: 3,
            ..state(0, 23, SaleStatus::SoldOut, 50)
        };
        let us = SaleState {
            given: 4,
            ..state(0, 16, SaleStatus::SoldOut, 50)
        };
        let torn = [
            copy("eu", Some(eu.clone()), true),
            copy("us", Some(us), true),
        ];
        assert_eq!(in_flight(&torn), 1);
        let m = merge(&torn).unwrap();
        assert_eq!((m.status, m.moving, m.unsold()), (SaleStatus::Open, 1, 1));
        assert!(restocking(&torn, "eu") && restocking(&torn, "us"));
        // Read once the item has arrived (and sold): sold out.
        let eu_after = SaleState {
            received: 4,
            sold: 24,
            ..eu
        };
        let whole = [copy("eu", Some(eu_after), true), torn[1].clone()];
        assert_eq!(in_flight(&whole), 0);
        assert_eq!(merge(&whole).unwrap().status, SaleStatus::SoldOut);
        assert!(!restocking(&whole, "eu"));
    }
}
