//! `lua/seats.lua`: a seated sale's map, holds, confirmations, releases and the sweep of
//! expired holds; and the plain read of the seats as they stand.

use std::collections::HashMap;

use herdgate_core::seats::{
    Availability, Encoded, RowAvailability, SeatHold, SectionAvailability, TierAvailability,
};
use herdgate_core::wire::Choosing;
use herdgate_core::SaleId;
use serde_json::Value as Json;

use super::settle_payment::{parse_payment, Payment};
use super::{int, text, SaleKeys, Store, StoreError};

pub(super) const LUA: &str = include_str!("../../../lua/seats.lua");

/// The keys of a seated sale, in the script's order.
fn keys(sale: &SaleId) -> Vec<String> {
    let k = SaleKeys::new(sale);
    let extra = |name: &str| format!("hg:{{{sale}}}:{name}");
    vec![
        k.sale,
        k.seat_rows,
        k.seat_tiers,
        extra("seat_access"),
        extra("seat_sections"),
        extra("holds"),
        extra("visitor_hold"),
        extra("hold_expiry"),
        k.orders,
        k.passes,
        k.log,
        extra("lapsed_holds"),
        extra("hold_counts"),
        k.payments,
        k.dead_holds,
        k.cancelled,
        k.facts,
    ]
}

/// One confirmation of a seat hold (`lua/seats.lua`'s `confirm`).
#[derive(Debug, Clone, Copy)]
pub struct ConfirmSeats<'a> {
    /// The sale.
    pub sale: &'a SaleId,
    /// The buyer.
    pub visitor: &'a str,
    /// Their seat hold's id.
    pub hold: &'a str,
    /// The pass spent by the order.
    pub pass_id: &'a str,
    /// The pass's card hold (`pi_…`, checked by the caller), or `""` without one.
    pub card: &'a str,
    /// What the audit needs of the order (JSON, stored as it is).
    pub facts: &'a str,
    /// The events channel.
    pub channel: &'a str,
    /// Now, unix ms.
    pub now_ms: u64,
}

/// How seats are asked for.
#[derive(Debug, Clone)]
pub enum Want<'a> {
    /// These seats, all or none.
    Seats(&'a [String]),
    /// The best block of `count` adjacent free seats.
    Best {
        /// Seats side by side.
        count: u32,
        /// Only in this section.
        section: Option<&'a str>,
        /// Only of this tier (its id).
        tier: Option<&'a str>,
        /// With a wheelchair space.
        wheelchair: bool,
    },
}

/// What a command of `lua/seats.lua` answered.
#[derive(Debug, Clone, PartialEq)]
pub enum SeatsReply {
    /// `loaded`: the map is in; this many seats are on sale.
    Loaded(u64),
    /// `changed`: prices and withdrawals made; the stock now.
    Changed(u64),
    /// `held`: the hold.
    Held(SeatHold),
    /// `seats_taken`: seats held or sold, and the best block of as many free in their section.
    SeatsTaken {
        /// The seats asked for that are taken.
        taken: Vec<String>,
        /// Free seats offered instead.
        alternatives: Vec<String>,
    },
    /// `no_adjacent`.
    NoAdjacent,
    /// `over_limit`.
    OverLimit,
    /// `hold_exists`: the visitor's live hold.
    HoldExists(SeatHold),
    /// `already_bought`: the visitor's order (JSON).
    AlreadyBought(Json),
    /// `created`: the order (JSON), the seats left, and its card payment (`pending`: the
    /// caller captures it) for a sale that takes card holds.
    Created(Json, u64, Option<Payment>),
    /// `existing`: the order made before (JSON), the seats left, and its card payment.
    Existing(Json, u64, Option<Payment>),
    /// `released`: seats given back.
    Released(u64),
    /// `swept`: expired holds released.
    Swept(u64),
    /// `hold_expired`.
    HoldExpired,
    /// `no_hold`.
    NoHold,
    /// `pass_spent`.
    PassSpent,
    /// `locked`.
    Locked,
    /// `sharded`: the sale's stock is split over stock shards; it cannot take a seat map.
    Sharded,
    /// `priced`: a tier would cost more than the sale's card hold per seat (that price).
    Priced(u64),
    /// `hold_required`: the sale takes card holds and the pass carries none.
    HoldRequired,
    /// `hold_dead`: the pass's card hold failed its capture before.
    HoldDead,
    /// `cancelled`: the audit cancelled the visitor's order.
    Cancelled,
    /// `hold_limit`: the visitor made as many holds as one may.
    HoldLimit,
    /// `started`.
    Started,
    /// `unknown_seat`: the seat or tier named.
    UnknownSeat(String),
    /// `not_open`.
    NotOpen,
    /// `sold_out`.
    SoldOut,
    /// `not_seated`.
    NotSeated,
    /// `unknown_sale`.
    UnknownSale,
}

fn json_of(s: &str) -> Result<Json, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Protocol(format!("seats.lua JSON: {e}")))
}

fn hold_of(s: &str) -> Result<SeatHold, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Protocol(format!("seats.lua hold: {e}")))
}

impl Store {
    async fn seats(
        &self,
        sale: &SaleId,
        command: &str,
        now_ms: u64,
        args: Vec<String>,
    ) -> Result<SeatsReply, StoreError> {
        let mut argv = vec![command.to_owned(), now_ms.to_string()];
        argv.extend(args);
        let reply = self.evalsha(&self.scripts.seats, keys(sale), argv).await?;
        let tag = text(&reply, 0)?;
        Ok(match tag.as_str() {
            "loaded" => SeatsReply::Loaded(int(&reply, 1)?),
            "changed" => SeatsReply::Changed(int(&reply, 1)?),
            "held" => SeatsReply::Held(hold_of(&text(&reply, 1)?)?),
            "seats_taken" => SeatsReply::SeatsTaken {
                taken: serde_json::from_str(&text(&reply, 1)?)
                    .map_err(|e| StoreError::Protocol(e.to_string()))?,
                alternatives: serde_json::from_str(&text(&reply, 2)?)
                    .map_err(|e| StoreError::Protocol(e.to_string()))?,
            },
            "no_adjacent" => SeatsReply::NoAdjacent,
            "over_limit" => SeatsReply::OverLimit,
            "hold_exists" => SeatsReply::HoldExists(hold_of(&text(&reply, 1)?)?),
            "already_bought" => SeatsReply::AlreadyBought(json_of(&text(&reply, 1)?)?),
            "created" => SeatsReply::Created(
                json_of(&text(&reply, 1)?)?,
                int(&reply, 2)?,
                parse_payment(&text(&reply, 3)?)?,
            ),
            "existing" => SeatsReply::Existing(
                json_of(&text(&reply, 1)?)?,
                int(&reply, 2)?,
                parse_payment(&text(&reply, 3)?)?,
            ),
            "hold_required" => SeatsReply::HoldRequired,
            "hold_dead" => SeatsReply::HoldDead,
            "cancelled" => SeatsReply::Cancelled,
            "released" => SeatsReply::Released(int(&reply, 1)?),
            "swept" => SeatsReply::Swept(int(&reply, 1)?),
            "hold_expired" => SeatsReply::HoldExpired,
            "no_hold" => SeatsReply::NoHold,
            "pass_spent" => SeatsReply::PassSpent,
            "locked" => SeatsReply::Locked,
            "sharded" => SeatsReply::Sharded,
            "priced" => SeatsReply::Priced(int(&reply, 1)?),
            "hold_limit" => SeatsReply::HoldLimit,
            "started" => SeatsReply::Started,
            "unknown_seat" => SeatsReply::UnknownSeat(text(&reply, 1)?),
            "not_open" => SeatsReply::NotOpen,
            "sold_out" => SeatsReply::SoldOut,
            "not_seated" => SeatsReply::NotSeated,
            "unknown_sale" => SeatsReply::UnknownSale,
            other => {
                return Err(StoreError::Protocol(format!(
                    "seats.lua returned {other:?}"
                )))
            }
        })
    }

    /// Loads `map` (checked and encoded) as the sale's seats, holds lasting `hold_ms`.
    pub async fn load_seat_map(
        &self,
        sale: &SaleId,
        map: &Encoded,
        choosing: Choosing,
        channel: &str,
        now_ms: u64,
    ) -> Result<SeatsReply, StoreError> {
        let mut args = vec![
            choosing.hold_ms.to_string(),
            map.sections_json.clone(),
            map.tiers.clone(),
            sale.to_string(),
            channel.to_owned(),
            choosing.choosers.to_string(),
            choosing.choose_ms.to_string(),
        ];
        for row in &map.rows {
            args.extend(row.iter().cloned());
        }
        self.seats(sale, "load", now_ms, args).await
    }

    /// New prices (by tier id) and seats withdrawn, before the sale starts.
    pub async fn change_seats(
        &self,
        sale: &SaleId,
        prices: &[(String, u64)],
        withdraw: &[String],
        now_ms: u64,
    ) -> Result<SeatsReply, StoreError> {
        let prices = prices
            .iter()
            .map(|(id, p)| format!("{id}={p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut args = vec![prices];
        args.extend(withdraw.iter().cloned());
        self.seats(sale, "change", now_ms, args).await
    }

    /// Holds seats for `visitor` under the new id `hold`; `card` is the pass's card hold
    /// (`pi_…`, or `""`), which a sale that takes card holds requires.
    pub async fn hold_seats(
        &self,
        sale: &SaleId,
        visitor: &str,
        hold: &str,
        card: &str,
        want: &Want<'_>,
        now_ms: u64,
    ) -> Result<SeatsReply, StoreError> {
        let mut args = vec![visitor.to_owned(), hold.to_owned(), card.to_owned()];
        match want {
            Want::Seats(seats) => {
                args.push("seats".into());
                args.extend(seats.iter().cloned());
            }
            Want::Best {
                count,
                section,
                tier,
                wheelchair,
            } => {
                args.push("best".into());
                args.push(count.to_string());
                args.push(section.unwrap_or("").to_owned());
                args.push(tier.unwrap_or("").to_owned());
                args.push(if *wheelchair { "1" } else { "0" }.to_owned());
            }
        }
        self.seats(sale, "hold", now_ms, args).await
    }

    /// Turns `visitor`'s hold `hold` into an order, spending `pass_id`; a sale that takes card
    /// holds records `card` (the pass's hold, `pi_…`, or `""`) as the order's pending payment.
    pub async fn confirm_seats(&self, call: &ConfirmSeats<'_>) -> Result<SeatsReply, StoreError> {
        let ConfirmSeats {
            sale,
            visitor,
            hold,
            pass_id,
            card,
            facts,
            channel,
            now_ms,
        } = *call;
        let args = vec![
            visitor.to_owned(),
            hold.to_owned(),
            pass_id.to_owned(),
            sale.to_string(),
            channel.to_owned(),
            card.to_owned(),
            facts.to_owned(),
        ];
        self.seats(sale, "confirm", now_ms, args).await
    }

    /// Gives `visitor`'s hold `hold` back.
    pub async fn release_seats(
        &self,
        sale: &SaleId,
        visitor: &str,
        hold: &str,
        now_ms: u64,
    ) -> Result<SeatsReply, StoreError> {
        let args = vec![visitor.to_owned(), hold.to_owned()];
        self.seats(sale, "release", now_ms, args).await
    }

    /// Releases the sale's holds whose time ran out.
    pub async fn sweep_seats(&self, sale: &SaleId, now_ms: u64) -> Result<SeatsReply, StoreError> {
        self.seats(sale, "sweep", now_ms, Vec::new()).await
    }

    /// The seats as they stand (after the sweep of `now_ms`, which the caller runs first);
    /// `None` for a sale without a seat map.
    pub async fn seat_availability(
        &self,
        sale: &SaleId,
        now_ms: u64,
    ) -> Result<Option<Availability>, StoreError> {
        use fred::prelude::*;
        let k = keys(sale);
        let client = self.pool.next();
        let sections: Option<String> = client.get(&k[4]).await?;
        let Some(sections) = sections else {
            return Ok(None);
        };
        let rows: HashMap<String, String> = client.hgetall(&k[1]).await?;
        let tiers: HashMap<String, String> = client.hgetall(&k[2]).await?;
        let access: HashMap<String, String> = client.hgetall(&k[3]).await?;
        #[derive(serde::Deserialize)]
        struct SectionRows {
            id: String,
            rows: Vec<String>,
        }
        let sections: Vec<SectionRows> = serde_json::from_str(&sections)
            .map_err(|e| StoreError::Protocol(format!("seat sections: {e}")))?;
        let mut out = Vec::with_capacity(sections.len());
        for s in sections {
            let (mut free, mut held, mut sold) = (0, 0, 0);
            let mut section_rows = Vec::with_capacity(s.rows.len());
            for key in s.rows {
                let state = rows.get(&key).cloned().unwrap_or_default();
                for c in state.bytes() {
                    match c {
                        b'.' => free += 1,
                        b'h' => held += 1,
                        b's' => sold += 1,
                        _ => {}
                    }
                }
                let id = key.rsplit('/').next().unwrap_or_default().to_owned();
                section_rows.push(RowAvailability {
                    id,
                    tiers: tiers.get(&key).cloned().unwrap_or_default(),
                    access: access.get(&key).cloned().unwrap_or_default(),
                    state,
                });
            }
            out.push(SectionAvailability {
                id: s.id,
                free,
                held,
                sold,
                rows: section_rows,
            });
        }
        let mut tier_list: Vec<TierAvailability> = tiers
            .iter()
            .filter_map(|(field, id)| {
                let code = field.strip_prefix("name:")?;
                let price = tiers.get(&format!("price:{code}"))?.parse().ok()?;
                Some(TierAvailability {
                    id: id.clone(),
                    code: code.to_owned(),
                    price,
                })
            })
            .collect();
        tier_list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Some(Availability {
            sale: sale.to_string(),
            at_ms: now_ms,
            tiers: tier_list,
            sections: out,
        }))
    }
}
