//! Cross-site request forgery: which browser requests came from another site, and the tokens
//! the no-JavaScript lane's forms carry.
//!
//! A buyer's place and pass ride in cookies, and a browser attaches cookies to a request that
//! another site makes it send. So a state-changing request is taken only when it shows it came
//! from the edge's own page:
//!
//! - **The lane's forms** (buy, put a card on hold) carry a [`form_token`] in a hidden field: a
//!   MAC, under the edge's ticket keys, over the form, the sale and the visitor id of the
//!   ticket or pass that the form acts with. Another site knows neither the key nor the
//!   visitor id (it is inside an `HttpOnly` cookie), so it cannot make one.
//! - **Every browser** request that changes something must also pass [`same_origin`]: Fetch
//!   Metadata (`Sec-Fetch-Site`) where the browser sends it, else the `Origin` header.

use crate::ids::{SaleId, VisitorId};
use crate::token::Keyring;

/// A form of the no-JavaScript lane that changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LaneForm {
    /// `POST /queue/{sale}/buy`: buys with the pass.
    Buy,
    /// `POST /queue/{sale}/hold`: puts a card on hold for the ticket.
    Hold,
}

impl LaneForm {
    fn label(self) -> &'static [u8] {
        match self {
            LaneForm::Buy => b"buy",
            LaneForm::Hold => b"hold",
        }
    }
}

/// The label of the lane forms' MACs (see [`Keyring::tag`]).
const FORM_LABEL: &str = "herdgate/lane-form/v1";

fn form_message(form: LaneForm, sale: &SaleId, visitor: &VisitorId) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + sale.as_str().len() + visitor.as_str().len());
    m.extend_from_slice(form.label());
    m.push(0);
    m.extend_from_slice(sale.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(visitor.as_str().as_bytes());
    m
}

/// The token of `form` for `visitor` in `sale`, signed with the current key of `keys` (the
/// edge's ticket keys): what the lane puts in the form's hidden field.
///
/// It is bound to the visitor of the ticket (or pass) the form acts with, which is drawn at
/// random per join, so a token is worthless to anyone else and to any other form; it lasts as
/// long as that place in line, and through a key rotation while its key stays in the ring.
pub fn form_token(keys: &Keyring, form: LaneForm, sale: &SaleId, visitor: &VisitorId) -> String {
    keys.tag(FORM_LABEL, &form_message(form, sale, visitor))
}

/// Whether `token` is the [`form_token`] of `form` for `visitor` in `sale` under any key of
/// `keys`; compared in constant time.
pub fn form_token_matches(
    keys: &Keyring,
    form: LaneForm,
    sale: &SaleId,
    visitor: &VisitorId,
    token: &str,
) -> bool {
    keys.verify_tag(FORM_LABEL, &form_message(form, sale, visitor), token)
}

/// Whether a browser request that changes something may be taken, from what it says about
/// where it came from: `sec_fetch_site` (the `Sec-Fetch-Site` header), `origin` (the `Origin`
/// header) and `own_origin` (the origin of the request's own URL, `scheme://host[:port]`).
///
/// - With Fetch Metadata (every current browser sends it), only `same-origin` and `none` (the
///   person's own action, such as a bookmark) are taken; `same-site` (a sibling subdomain,
///   whose requests carry `SameSite=Lax` cookies) and `cross-site` are not.
/// - Without it, an `Origin` must be `own_origin`; `null` (an opaque origin: a sandboxed frame,
///   a redirect from elsewhere) is not.
/// - With neither, the request is not from a browser that could be led astray (or from one
///   too old to say): it is taken, and the lane's form tokens and the API's JSON content type
///   are what stand in its way.
pub fn same_origin(sec_fetch_site: Option<&str>, origin: Option<&str>, own_origin: &str) -> bool {
    if let Some(site) = sec_fetch_site {
        let site = site.trim();
        return site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none");
    }
    match origin {
        Some(origin) => origin.trim().eq_ignore_ascii_case(own_origin),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Secret;

    fn ring(keys: &[(&str, u8)]) -> Keyring {
        Keyring::new(
            keys.iter()
                .map(|(kid, b)| ((*kid).to_owned(), Secret::new(vec![*b; 32]).unwrap()))
                .collect(),
        )
        .unwrap()
    }

    fn ids() -> (SaleId, VisitorId) {
        (
            SaleId::parse("drop-1").unwrap(),
            VisitorId::parse("v0123abcd").unwrap(),
        )
    }

    #[test]
    fn a_form_token_verifies_for_its_form_sale_and_visitor_only() {
        let keys = ring(&[("e1", 1)]);
        let (sale, visitor) = ids();
        let token = form_token(&keys, LaneForm::Buy, &sale, &visitor);
        assert!(token.starts_with("e1."), "{token}");
        assert!(form_token_matches(
            &keys,
            LaneForm::Buy,
            &sale,
            &visitor,
            &token
        ));
        let other_visitor = VisitorId::parse("v0123abce").unwrap();
        let other_sale = SaleId::parse("drop-2").unwrap();
        for (form, s, v) in [
            (LaneForm::Hold, &sale, &visitor),
            (LaneForm::Buy, &other_sale, &visitor),
            (LaneForm::Buy, &sale, &other_visitor),
        ] {
            assert!(!form_token_matches(&keys, form, s, v, &token));
        }
        // Another key, or the same tag with its last character changed, or nothing.
        let stranger = ring(&[("e1", 2)]);
        assert!(!form_token_matches(
            &stranger,
            LaneForm::Buy,
            &sale,
            &visitor,
            &token
        ));
        let last = token.chars().last().unwrap();
        let flipped = format!(
            "{}{}",
            &token[..token.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        );
        for bad in [
            flipped.as_str(),
            "",
            "e1.",
            "e1",
            ".",
            "x.AAAA",
            &"e1.A".repeat(40),
        ] {
            assert!(
                !form_token_matches(&keys, LaneForm::Buy, &sale, &visitor, bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_form_token_outlives_a_rotation_while_its_key_is_kept() {
        let (sale, visitor) = ids();
        let old = form_token(&ring(&[("e1", 1)]), LaneForm::Hold, &sale, &visitor);
        let rotated = ring(&[("e2", 2), ("e1", 1)]);
        assert!(form_token_matches(
            &rotated,
            LaneForm::Hold,
            &sale,
            &visitor,
            &old
        ));
        assert!(form_token(&rotated, LaneForm::Hold, &sale, &visitor).starts_with("e2."));
        let retired = ring(&[("e2", 2)]);
        assert!(!form_token_matches(
            &retired,
            LaneForm::Hold,
            &sale,
            &visitor,
            &old
        ));
    }

    #[test]
    fn a_form_tag_never_passes_for_a_token_tag() {
        // The same key signs tickets: the lane form's label keeps the two apart.
        let keys = ring(&[("e1", 1)]);
        let (sale, visitor) = ids();
        let message = form_message(LaneForm::Buy, &sale, &visitor);
        let tagged = keys.tag(FORM_LABEL, &message);
        assert!(!keys.verify_tag("herdgate/other/v1", &message, &tagged));
        assert!(keys.verify_tag(FORM_LABEL, &message, &tagged));
    }

    #[test]
    fn fetch_metadata_decides_then_origin_then_nothing() {
        let own = "https://shop.example";
        for (site, origin, taken) in [
            (Some("same-origin"), None, true),
            (Some("none"), None, true),
            (Some("Same-Origin"), Some("https://evil.example"), true),
            (Some("same-site"), Some(own), false),
            (Some("cross-site"), Some(own), false),
            (Some("cross-site"), None, false),
            (Some(""), None, false),
            (None, Some(own), true),
            (None, Some("https://shop.example:8443"), false),
            (None, Some("http://shop.example"), false),
            (None, Some("https://evil.example"), false),
            (None, Some("null"), false),
            (None, None, true),
        ] {
            assert_eq!(same_origin(site, origin, own), taken, "{site:?} {origin:?}");
        }
    }
}
