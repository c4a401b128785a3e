//! The refusal table: every refusal a herdgate service can answer with, as a stable
//! machine-readable [`ErrorCode`], the HTTP status that fits it ([`ErrorCode::status`]) and a
//! sentence for people ([`ErrorCode::message`]).
//!
//! The edge, the origin and the page share this one table. Clients branch on the code; the
//! sentence may change. The JSON body a refusal is sent in is [`crate::wire::ErrorBody`].

use serde::{Deserialize, Serialize};

use crate::token::TokenError;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $message:literal),)*) => {
        /// A typed refusal: stable code, fitting HTTP status, human sentence.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable machine-readable code.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status that fits the refusal.
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// A sentence for people.
            pub const fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message,)* }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON of the expected shape.
    InvalidBody = ("invalid_body", 400, "The request body is not valid JSON of the expected shape."),
    /// The body is larger than the service accepts.
    BodyTooLarge = ("body_too_large", 413, "The request body is too large."),
    /// The request's body did not arrive in full within the service's time limit.
    RequestTimeout = ("request_timeout", 408, "The request did not arrive in full in time: send it again."),
    /// A sale id in the path is not a valid id.
    InvalidSaleId = ("invalid_sale_id", 400, "The sale id may contain only letters, digits, '_' and '-' (at most 64)."),
    /// Sale settings are out of range.
    InvalidSaleConfig = ("invalid_sale_config", 422, "The sale settings are out of range: stock and per-visitor limit must be at least 1, the admission rate at least 1 per second, and a pre-queue must open before the start (at most a week) with a draw window of at most ten minutes; stock shards are 1 to 16; countries are at most 250 two-letter codes such as DE."),
    /// The sale is not sold where the visitor is: not in their country, or not in their
    /// region (the edge's geofence, see [`crate::region`]).
    NotSoldHere = ("not_sold_here", 403, "This sale is not sold where you are."),
    /// No sale has this id.
    UnknownSale = ("unknown_sale", 404, "There is no sale with this id."),
    /// The sale's pre-queue is not open yet: nobody can join before it opens.
    PrequeueNotOpen = ("prequeue_not_open", 409, "The line for this sale is not open yet: come back when it opens; everyone who joins before the draw has the same chance."),
    /// The sale has no pre-queue, so no draw.
    NoDraw = ("no_draw", 404, "This sale has no pre-queue, so there is no draw: its line is first come, first served."),
    /// The draw's entries are published once it has closed.
    DrawNotMade = ("draw_not_made", 409, "The draw has not been made yet: its entries are published once it closes."),
    /// A query parameter is not valid.
    InvalidQuery = ("invalid_query", 400, "A query parameter is missing or out of range."),
    /// A pre-queue is set when the sale is created; once open it stays (and its opening), and
    /// once its draw has closed, so does the close.
    DrawFixed = ("draw_fixed", 409, "A sale's pre-queue is set when the sale is created; once it has opened it cannot be removed or its opening moved, and once its draw has closed the close cannot move."),
    /// The route does not exist.
    NotFound = ("not_found", 404, "There is nothing at this address."),
    /// The route exists but not for this method.
    MethodNotAllowed = ("method_not_allowed", 405, "This address does not accept this method."),
    /// The admin bearer secret is missing or wrong.
    Unauthorized = ("unauthorized", 401, "This needs the operator's bearer token."),
    /// A console request that changes something came without its page's CSRF token.
    CsrfRequired = ("csrf_required", 403, "A console request that changes something must carry the console page's CSRF token (X-CSRF-Token): reload the console."),
    /// A seat map that does not hold together.
    InvalidSeatMap = ("invalid_seat_map", 422, "The seat map is not valid: 1 to 100,000 seats; section, row and tier ids of 1 to 16 letters, digits, '_' or '-', unique where they are; rows of 1 to 500 positions; every seat of a priced tier; at most 62 tiers, each 0 to 10^9 minor units; a hold of 5 to 3,600 seconds."),
    /// Seats are held or sold: the map cannot be replaced, nor a held or sold seat withdrawn.
    SeatMapLocked = ("seat_map_locked", 409, "Seats of this sale are held or sold: the map can no longer be replaced, and a held or sold seat cannot be withdrawn."),
    /// The sale has started: its prices stay as they are.
    SaleStarted = ("sale_started", 409, "The sale has started: its seat map's prices and seats can no longer change."),
    /// A seat or tier named is not on the sale's map.
    UnknownSeat = ("unknown_seat", 422, "A seat or tier named is not on this sale's seat map (seats are <section>/<row>/<position>), or is named twice."),
    /// A seated sale's stock changed by hand.
    SeatedStock = ("seated_stock", 409, "A seated sale's stock is its seat map: withdraw seats or load another map instead."),
    /// A seated sale's price below a tier of its map, or taken away once seats are held.
    SeatedPrice = ("seated_price", 409, "A seated sale's price is what its card holds authorise for each seat: no tier of its seat map may cost more than it, and it stays while seats are held or sold."),
    /// A visitor made as many seat holds as one may.
    SeatHoldLimit = ("seat_hold_limit", 429, "You have held seats as many times as one visit may: buy the seats you hold, or leave them."),
    /// A seat route on a sale without a seat map.
    NotSeated = ("not_seated", 409, "This sale has no seat map: buy with a purchase instead."),
    /// A purchase of a seated sale.
    SeatsRequired = ("seats_required", 409, "This sale sells seats: hold seats, then confirm the hold."),
    /// Some seats asked for are held or sold.
    SeatsTaken = ("seats_taken", 409, "Some of these seats were just taken: nothing was held. Choose others, or take the alternatives offered."),
    /// No block of that many adjacent free seats.
    NoAdjacentSeats = ("no_adjacent_seats", 409, "There is no block of that many free seats side by side: ask for fewer, or in another section or tier."),
    /// The visitor holds seats already.
    SeatHoldExists = ("seat_hold_exists", 409, "You already hold seats in this sale: confirm or release them first."),
    /// The hold ran out before its confirmation.
    SeatHoldExpired = ("seat_hold_expired", 409, "Your seats' hold ran out and they went back on sale: choose again."),
    /// No such hold of this visitor.
    NoSeatHold = ("no_seat_hold", 404, "There is no hold of yours with this id: it was released, confirmed, or never made."),
    /// The visitor has an order in this sale already.
    AlreadyBought = ("already_bought", 409, "You have already bought in this sale."),
    /// The purchase carries no admission pass.
    MissingPass = ("missing_pass", 401, "A purchase needs an admission pass: join the queue and wait to be admitted."),
    /// The pass is not a well-formed token.
    PassMalformed = ("pass_malformed", 401, "The admission pass is not in a form this service reads."),
    /// The pass is of a format version this service does not read.
    PassUnsupportedVersion = ("pass_unsupported_version", 401, "The admission pass is of a version this service does not read."),
    /// A token of another kind (ticket, challenge) was offered as a pass.
    PassWrongKind = ("pass_wrong_kind", 401, "This token is not an admission pass."),
    /// The pass names a key this service does not hold.
    PassUnknownKey = ("pass_unknown_key", 401, "The admission pass was signed by a key this service does not know."),
    /// The pass signature does not verify: forged or tampered.
    PassForged = ("pass_forged", 401, "The admission pass signature is not valid."),
    /// The pass signature verifies but its claims do not parse.
    PassInvalidClaims = ("pass_invalid_claims", 401, "The admission pass carries claims this service cannot read."),
    /// The pass is for another sale.
    PassWrongSale = ("pass_wrong_sale", 403, "The admission pass is for another sale."),
    /// The pass was issued for another region's shop: a region's origin sells only to the
    /// visitors whose home region it is.
    PassWrongRegion = ("pass_wrong_region", 403, "The admission pass is for another region's shop: buy through the edge that issued it."),
    /// The pass's time slice has not started.
    PassNotYetValid = ("pass_not_yet_valid", 401, "The admission pass is not valid yet: wait for your time slice."),
    /// The pass has expired.
    PassExpired = ("pass_expired", 401, "The admission pass has expired: rejoin the queue."),
    /// The pass has already bought and its order was cancelled.
    PassSpent = ("pass_spent", 409, "This admission pass has already been used."),
    /// The shop's review cancelled this visitor's order; the visitor may not buy again.
    OrderCancelled = ("order_cancelled", 409, "Your order was cancelled by the shop's review of this sale, and this visit cannot buy again."),
    /// The quantity is outside 1..=per-visitor limit.
    OverLimit = ("over_limit", 422, "The quantity must be at least 1 and at most the sale's per-visitor limit."),
    /// The sale has not opened yet.
    SaleNotOpen = ("sale_not_open", 409, "The sale has not opened yet."),
    /// No stock is left.
    SoldOut = ("sold_out", 409, "Sold out: every item has been bought."),
    /// A sale's stock shards are set when it is created; a seated sale has none.
    StockShardsFixed = ("stock_shards_fixed", 409, "A sale's stock shards are set when it is created and never change, and a seat map cannot be loaded on a sale with stock shards."),
    /// An update would leave less stock than has already been sold.
    StockBelowSold = ("stock_below_sold", 409, "The stock cannot be set below the number of items already sold."),
    /// The service is at its in-flight limit; retry after the Retry-After header.
    Overloaded = ("overloaded", 503, "The service is busy: retry in a moment."),
    /// The inventory store is unreachable or too slow; nothing was changed that was not confirmed.
    StoreUnavailable = ("store_unavailable", 503, "The inventory store is unavailable: retry in a moment."),
    /// The visitor's region has sold what it held, and another region still has stock, which
    /// is being moved towards the regions that sell: the purchase is worth trying again.
    StockMoving = ("stock_moving", 503, "The items for your region ran out for now, and more are on their way from another region: try again in a moment."),
    /// A join or status request carries no queue ticket.
    MissingTicket = ("missing_ticket", 401, "This needs your queue ticket: join the queue first."),
    /// The ticket is not a well-formed token.
    TicketMalformed = ("ticket_malformed", 401, "The queue ticket is not in a form this service reads."),
    /// The ticket is of a format version this service does not read.
    TicketUnsupportedVersion = ("ticket_unsupported_version", 401, "The queue ticket is of a version this service does not read."),
    /// A token of another kind was offered as a ticket.
    TicketWrongKind = ("ticket_wrong_kind", 401, "This token is not a queue ticket."),
    /// The ticket names a key this service does not hold.
    TicketUnknownKey = ("ticket_unknown_key", 401, "The queue ticket was signed by a key this service does not know."),
    /// The ticket signature does not verify.
    TicketForged = ("ticket_forged", 401, "The queue ticket signature is not valid."),
    /// The ticket signature verifies but its claims do not parse.
    TicketInvalidClaims = ("ticket_invalid_claims", 401, "The queue ticket carries claims this service cannot read."),
    /// The ticket is for another sale.
    TicketWrongSale = ("ticket_wrong_sale", 403, "The queue ticket is for another sale."),
    /// The ticket is not valid yet.
    TicketNotYetValid = ("ticket_not_yet_valid", 401, "The queue ticket is not valid yet."),
    /// The ticket has expired.
    TicketExpired = ("ticket_expired", 401, "The queue ticket has expired: join the queue again."),
    /// The challenge is not a well-formed token.
    ChallengeMalformed = ("challenge_malformed", 400, "The challenge is not in a form this service reads."),
    /// The challenge is of a format version this service does not read.
    ChallengeUnsupportedVersion = ("challenge_unsupported_version", 400, "The challenge is of a version this service does not read."),
    /// A token of another kind was offered as a challenge.
    ChallengeWrongKind = ("challenge_wrong_kind", 400, "This token is not a proof-of-work challenge."),
    /// The challenge names a key this service does not hold.
    ChallengeUnknownKey = ("challenge_unknown_key", 400, "The challenge was signed by a key this service does not know."),
    /// The challenge signature does not verify: forged or tampered.
    ChallengeForged = ("challenge_forged", 400, "The challenge signature is not valid."),
    /// The challenge signature verifies but its claims do not parse.
    ChallengeInvalidClaims = ("challenge_invalid_claims", 400, "The challenge carries claims this service cannot read."),
    /// The challenge is for another sale.
    ChallengeWrongSale = ("challenge_wrong_sale", 403, "The challenge is for another sale."),
    /// The challenge is not valid yet.
    ChallengeNotYetValid = ("challenge_not_yet_valid", 400, "The challenge is not valid yet."),
    /// The challenge has expired.
    ChallengeExpired = ("challenge_expired", 400, "The challenge has expired: fetch a new one."),
    /// The challenge was already used to join.
    ChallengeSpent = ("challenge_spent", 409, "This challenge has already been used to join: fetch a new one."),
    /// The nonce does not solve the challenge.
    PowInsufficient = ("pow_insufficient", 403, "The proof of work does not solve the challenge."),
    /// This device joined the sale or failed a proof before: its join needs a harder
    /// challenge, which the answer carries ([`crate::wire::MoreWorkBody`]).
    MoreWorkRequired = ("more_work_required", 403, "This device has joined this sale or failed a proof before, so its join needs more work: solve the challenge in this answer and join with it."),
    /// A no-JavaScript lane token was issued to another client (IP prefix and browser).
    ClientMismatch = ("client_mismatch", 403, "This token was issued to another device or network: join from this one."),
    /// A request that needs the place's key (see [`crate::proof`]) carried no `DPoP` proof.
    ProofRequired = ("proof_required", 401, "This request must carry a proof signed by the key your place in line is bound to (the DPoP header)."),
    /// The `DPoP` proof is malformed, of an unsupported algorithm, badly signed, or made for
    /// another request or token.
    ProofInvalid = ("proof_invalid", 401, "The proof in the DPoP header is not valid for this request: sign a new one for this method, address and token."),
    /// The `DPoP` proof was made too long ago, or in the future by this service's clock.
    ProofExpired = ("proof_expired", 401, "The proof in the DPoP header is too old or dated in the future: sign a new one with the time from this answer's Date header."),
    /// The proof is signed by another key than the one the token is bound to: the token was
    /// copied, or the device lost its key.
    ProofKeyMismatch = ("proof_key_mismatch", 403, "This token is bound to another key than the one that signed the proof: only the device that joined can use it."),
    /// A browser sent this request from another site, or a no-JavaScript lane form without
    /// the token the lane's own page put in it (cross-site request forgery); nothing was done.
    CrossSiteRequest = ("cross_site_request", 403, "This request did not come from this site's own page, or the page was out of date: go back to the waiting room and try again."),
    /// A request that may carry its ticket or pass in a cookie sent a body that is not
    /// declared as JSON.
    UnsupportedMediaType = ("unsupported_media_type", 415, "Send the body as JSON, with Content-Type: application/json (or authenticate with Authorization: Bearer)."),
    /// This device has joined the sale as often as allowed.
    JoinLimitDevice = ("join_limit_device", 429, "This device already holds a place in line for this sale: keep the page that has it open, or wait for it to expire."),
    /// This network has joined the sale as often as allowed.
    JoinLimitNetwork = ("join_limit_network", 429, "Too many people on your network have joined this sale: try again from another network, such as mobile data."),
    /// A purchase with this pass is already under way.
    PurchaseInProgress = ("purchase_in_progress", 409, "A purchase with this pass is already under way: wait for it."),
    /// This sale (or this deployment) takes no card holds.
    PaymentsDisabled = ("payments_disabled", 404, "This sale does not take card holds."),
    /// A hold request names neither a payment method nor a card, or both, or an ill-formed one.
    InvalidPaymentMethod = ("invalid_payment_method", 400, "Send either a payment method id (pm_...) or card details."),
    /// The card number fails its check digit or has the wrong length.
    CardNumberInvalid = ("card_number_invalid", 422, "The card number is not valid: check the digits."),
    /// The card's expiry month is out of range or has passed.
    CardExpiryInvalid = ("card_expiry_invalid", 422, "The card's expiry date is not valid or has passed."),
    /// The card's security code is not 3 or 4 digits.
    CardCvcInvalid = ("card_cvc_invalid", 422, "The card's security code must be 3 or 4 digits."),
    /// The card processor declined the hold.
    CardDeclined = ("card_declined", 402, "Your card was declined: try another card."),
    /// The card wants the buyer's authentication (3-D Secure), which a hold taken in line cannot do.
    CardNeedsAuthentication = ("card_needs_authentication", 402, "Your card asks for an extra check that cannot be done while you wait in line: try another card."),
    /// The card processor did not answer or is rate limiting.
    PaymentUnavailable = ("payment_unavailable", 503, "The card processor is not answering: try again in a moment."),
    /// This place in line, device or network has tried as many cards as allowed.
    HoldAttemptsExceeded = ("hold_attempts_exceeded", 429, "Too many card attempts from this place in line, device or network: your place is kept, but no more cards can be tried from here."),
    /// The sale's budget of new card holds per second is spent (captures come first).
    HoldsBusy = ("holds_busy", 503, "Many cards are being put on hold right now: your place is kept, try again in a moment."),
    /// This sale takes card holds and the purchase's pass carries none.
    HoldRequired = ("hold_required", 402, "Put your card on hold before you buy."),
    /// The pass's hold is too close to the card networks' limit to be captured.
    HoldExpired = ("hold_expired", 402, "Your card hold has run out and was released: put your card on hold again."),
    /// Capturing the hold failed; what was bought went back on sale and nothing was charged.
    PaymentFailed = ("payment_failed", 402, "Your card could not be charged, so what you were buying went back on sale: put a card on hold again to buy."),
    /// The ticket has no card hold.
    NoHold = ("no_hold", 404, "There is no card hold for this place in line."),
    /// The origin could not be reached or did not answer in time.
    OriginUnavailable = ("origin_unavailable", 503, "The shop is not answering: retry in a moment."),
    /// Anything else. Details are in the service log, never in the response.
    Internal = ("internal", 500, "Something went wrong on our side."),
}

macro_rules! token_codes {
    ($fn:ident, $what:literal, $malformed:ident, $version:ident, $kind:ident, $key:ident, $forged:ident, $claims:ident, $sale:ident, $nbf:ident, $exp:ident) => {
        impl ErrorCode {
            #[doc = concat!("The refusal for a ", $what, " that failed verification.")]
            pub fn $fn(err: &TokenError) -> ErrorCode {
                match err {
                    TokenError::Malformed => ErrorCode::$malformed,
                    TokenError::UnsupportedVersion => ErrorCode::$version,
                    TokenError::WrongKind { .. } => ErrorCode::$kind,
                    TokenError::UnknownKey => ErrorCode::$key,
                    TokenError::BadSignature => ErrorCode::$forged,
                    TokenError::InvalidClaims => ErrorCode::$claims,
                    TokenError::WrongSale => ErrorCode::$sale,
                    TokenError::NotYetValid => ErrorCode::$nbf,
                    TokenError::Expired => ErrorCode::$exp,
                }
            }
        }
    };
}

token_codes!(
    for_pass,
    "admission pass",
    PassMalformed,
    PassUnsupportedVersion,
    PassWrongKind,
    PassUnknownKey,
    PassForged,
    PassInvalidClaims,
    PassWrongSale,
    PassNotYetValid,
    PassExpired
);
token_codes!(
    for_ticket,
    "queue ticket",
    TicketMalformed,
    TicketUnsupportedVersion,
    TicketWrongKind,
    TicketUnknownKey,
    TicketForged,
    TicketInvalidClaims,
    TicketWrongSale,
    TicketNotYetValid,
    TicketExpired
);
token_codes!(
    for_challenge,
    "proof-of-work challenge",
    ChallengeMalformed,
    ChallengeUnsupportedVersion,
    ChallengeWrongKind,
    ChallengeUnknownKey,
    ChallengeForged,
    ChallengeInvalidClaims,
    ChallengeWrongSale,
    ChallengeNotYetValid,
    ChallengeExpired
);

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_serialize_as_their_string() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
            assert!((400..600).contains(&code.status()));
            assert!(code.message().ends_with('.'));
        }
    }
}
