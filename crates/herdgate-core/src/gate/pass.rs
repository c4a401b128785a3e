//! Step 5, admitted: the pass an admitted ticket gets, and the id every pass of a ticket
//! shares.
//!
//! The pass id is protocol: the edge's queue shards claim passes by it, so one ticket buys at
//! most once however many passes it is issued; `vectors.json` holds known answers for it.

use sha2::{Digest, Sha256};

use crate::admission::slice_of;
use crate::ids::{SaleId, VisitorId};
use crate::token::{PassClaims, TicketClaims};

/// The label pass ids are derived under; a new label would give every ticket a new pass id.
pub const PASS_ID_LABEL: &str = "herdgate/pass-id/v2";

/// How long passes last: the edge's `SLICE_SECS` and `PASS_TTL_SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassTerms {
    /// Admission time-slice length, seconds: a pass is valid from the start of its slice.
    pub slice_secs: u64,
    /// Pass lifetime from the start of its slice, seconds.
    pub ttl_secs: u64,
}

/// The id of every pass issued to `visitor` in `sale`: the first 16 bytes, as hex (32
/// characters), of SHA-256 over [`PASS_ID_LABEL`], a zero byte and `"{sale}/{visitor}"`.
pub fn pass_id(sale: &SaleId, visitor: &VisitorId) -> String {
    let mut h = Sha256::new();
    h.update(PASS_ID_LABEL.as_bytes());
    h.update([0]);
    h.update(format!("{sale}/{visitor}").as_bytes());
    crate::ids::to_hex(&h.finalize()[..16])
}

/// The pass of `ticket`, admitted at `now_ms` (the request's time, unix ms).
///
/// Its id is [`pass_id`] of the ticket's sale and visitor (unique to the ticket, and kept when
/// the ticket is re-signed to carry a card hold), so every pass a ticket ever gets shares one
/// id and buys at most once. It names the time slice `now_ms` falls in and is valid from the
/// slice's start for `terms.ttl_secs`. It carries the ticket's client, key, network, device and
/// card hold, and records when it was issued (`adm`): `issued_at_ms`, the moment of issue
/// rather than the request's start (never before `now_ms`), so a join's own work does not
/// count as the buyer's time to press "buy" in the audit.
pub fn issue(
    ticket: &TicketClaims,
    now_ms: u64,
    issued_at_ms: u64,
    terms: PassTerms,
) -> PassClaims {
    let slice = slice_of(now_ms, terms.slice_secs * 1000);
    let nbf = slice * terms.slice_secs;
    PassClaims {
        sale: ticket.sale.clone(),
        visitor: ticket.visitor.clone(),
        id: pass_id(&ticket.sale, &ticket.visitor),
        position: ticket.position,
        client: ticket.client.clone(),
        slice,
        nbf,
        exp: nbf + terms.ttl_secs,
        net: ticket.net.clone(),
        dev: ticket.dev.clone(),
        jkt: ticket.jkt.clone(),
        adm: issued_at_ms.max(now_ms),
        rcv: 0,
        ath: String::new(),
        shr: false,
        hold: ticket.hold.clone(),
        hat: ticket.hat,
        reg: ticket.reg.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::is_hex_id;

    const TERMS: PassTerms = PassTerms {
        slice_secs: 10,
        ttl_secs: 300,
    };

    fn ticket() -> TicketClaims {
        TicketClaims {
            sale: SaleId::parse("drop-1").unwrap(),
            visitor: VisitorId::parse("v-0001").unwrap(),
            position: 41,
            client: "61fa47695a9c3ffc239a3d713cd59d61".into(),
            iat: 1_790_000_000,
            exp: 1_790_021_600,
            net: "0011223344556677".into(),
            dev: "8899aabbccddeeff".into(),
            jkt: String::new(),
            hold: String::new(),
            hat: 0,
            reg: "eu".into(),
        }
    }

    #[test]
    fn a_pass_is_valid_from_the_start_of_its_slice_for_its_lifetime() {
        let pass = issue(&ticket(), 1_790_000_012_345, 1_790_000_012_400, TERMS);
        assert_eq!(pass.slice, 179_000_001);
        assert_eq!(pass.nbf, 1_790_000_010);
        assert_eq!(pass.exp, 1_790_000_310);
        // On a slice's first millisecond the pass names that slice.
        let edge = issue(&ticket(), 1_790_000_020_000, 1_790_000_020_000, TERMS);
        assert_eq!((edge.slice, edge.nbf), (179_000_002, 1_790_000_020));
    }

    #[test]
    fn a_pass_carries_the_tickets_facts_and_the_moment_of_issue() {
        let t = ticket();
        let pass = issue(&t, 1_790_000_012_345, 1_790_000_012_400, TERMS);
        assert_eq!(pass.sale, t.sale);
        assert_eq!(pass.visitor, t.visitor);
        assert_eq!(pass.position, 41);
        assert_eq!(pass.client, t.client);
        assert_eq!(pass.net, t.net);
        assert_eq!(pass.dev, t.dev);
        assert_eq!(pass.reg, "eu", "the pass buys in the ticket's home region");
        assert_eq!((pass.hold.as_str(), pass.hat), ("", 0));
        assert_eq!(pass.adm, 1_790_000_012_400);
        assert_eq!((pass.rcv, pass.shr), (0, false));
        // A clock read before the request's time never makes the pass older than the request.
        assert_eq!(
            issue(&t, 1_790_000_012_345, 5, TERMS).adm,
            1_790_000_012_345
        );
    }

    #[test]
    fn every_pass_of_a_ticket_shares_one_id_even_with_a_card_hold() {
        let t = ticket();
        let first = issue(&t, 1_790_000_012_345, 0, TERMS);
        let held = TicketClaims {
            hold: "pi_123".into(),
            hat: 1_790_000_100,
            ..t.clone()
        };
        let later = issue(&held, 1_790_000_200_000, 0, TERMS);
        assert_eq!(first.id, later.id);
        assert_eq!((later.hold.as_str(), later.hat), ("pi_123", 1_790_000_100));
        assert_eq!(first.id, pass_id(&t.sale, &t.visitor));
        assert_eq!(first.id.len(), 32);
        assert!(is_hex_id(&first.id));
    }

    #[test]
    fn pass_ids_differ_by_sale_and_by_visitor() {
        let sale = SaleId::parse("drop-1").unwrap();
        let other_sale = SaleId::parse("drop-2").unwrap();
        let visitor = VisitorId::parse("v-0001").unwrap();
        let other_visitor = VisitorId::parse("v-0002").unwrap();
        let id = pass_id(&sale, &visitor);
        assert_ne!(id, pass_id(&other_sale, &visitor));
        assert_ne!(id, pass_id(&sale, &other_visitor));
    }
}
