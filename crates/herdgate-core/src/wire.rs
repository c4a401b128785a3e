//! JSON types exchanged over HTTP, and the typed refusals every herdgate service answers with.
//!
//! Every refusal is an [`ErrorBody`]: a stable machine-readable [`ErrorCode`], the HTTP status
//! that fits it ([`ErrorCode::status`]) and a sentence for people ([`ErrorCode::message`]).
//! Clients branch on the code; the sentence may change.

use serde::{Deserialize, Serialize};

use crate::ids::{SaleId, VisitorId};
use crate::token::TokenError;

/// A sale's settings, as an operator creates or updates them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleConfig {
    /// Items on sale in total (sold + remaining). Updating it never drops below what was sold.
    pub stock: u64,
    /// The most items one visitor may buy (in their one order).
    pub per_visitor_limit: u32,
    /// When the sale opens, unix milliseconds.
    pub starts_at_ms: u64,
    /// Buyers admitted from the queue per second.
    pub admission_rate: u32,
    /// The price of one item, when buyers' cards are held while they queue (see
    /// `herdgate-pay`). Without it the sale takes no card holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

/// The price of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// In the currency's minor unit (cents for EUR and USD), at least 1.
    pub amount: u64,
    /// ISO 4217 code, lower case (`eur`).
    pub currency: String,
}

impl Price {
    /// The most a price may be: 10^12 minor units, far above any card limit.
    pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

    /// Whether the amount is 1..=[`Self::MAX_AMOUNT`] and the currency three lower-case
    /// letters.
    pub fn is_valid(&self) -> bool {
        (1..=Self::MAX_AMOUNT).contains(&self.amount)
            && self.currency.len() == 3
            && self.currency.bytes().all(|b| b.is_ascii_lowercase())
    }

    /// The amount held for one visitor: `quantity` items.
    pub fn times(&self, quantity: u32) -> u64 {
        self.amount.saturating_mul(u64::from(quantity))
    }
}

/// Where a sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SaleStatus {
    /// Not open yet.
    Scheduled,
    /// Open, with stock left.
    Open,
    /// No stock left.
    SoldOut,
}

impl SaleStatus {
    /// The status of a sale with `remaining` items that opens at `starts_at_ms`, at `now_ms`.
    pub fn at(remaining: u64, starts_at_ms: u64, now_ms: u64) -> Self {
        if remaining == 0 {
            SaleStatus::SoldOut
        } else if now_ms < starts_at_ms {
            SaleStatus::Scheduled
        } else {
            SaleStatus::Open
        }
    }
}

/// The public state of a sale: what every edge location polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleState {
    /// The sale.
    pub sale: SaleId,
    /// Where it stands.
    pub status: SaleStatus,
    /// Items left.
    pub remaining: u64,
    /// Items sold.
    pub sold: u64,
    /// When it opens, unix milliseconds.
    pub starts_at_ms: u64,
    /// Buyers admitted per second.
    pub admission_rate: u32,
    /// The most items one visitor may buy.
    #[serde(default = "one")]
    pub per_visitor_limit: u32,
    /// The price of one item, if the sale takes card holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

/// Everything the origin knows about a sale, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSaleState {
    /// The sale's settings.
    pub config: SaleConfig,
    /// Its public state.
    pub state: SaleState,
    /// Orders recorded (one per visitor).
    pub orders: u64,
    /// Entries in the sale's order stream (for downstream consumers).
    pub stream_length: u64,
}

/// The body of a purchase request. An empty body means one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    /// Items to buy, 1 up to the sale's per-visitor limit.
    #[serde(default = "one")]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

impl Default for PurchaseRequest {
    fn default() -> Self {
        PurchaseRequest { quantity: 1 }
    }
}

/// An order: proof that a visitor bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Unique within the sale, in the order they were taken (`<sale>-<n>`).
    pub order_id: String,
    /// The sale.
    pub sale: SaleId,
    /// The buyer.
    pub visitor: VisitorId,
    /// Items bought.
    pub quantity: u32,
    /// The id of the pass that bought it.
    pub pass_id: String,
    /// When it was taken, unix milliseconds (origin clock).
    pub created_at_ms: u64,
}

/// Where a buyer's card hold stands, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Authorised and held: "card on hold".
    OnHold,
    /// Captured for an order: "charged".
    Charged,
    /// Cancelled at the processor: "hold released".
    Released,
}

/// A buyer's card hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldView {
    /// Where it stands.
    pub state: HoldState,
    /// The hold (a PaymentIntent id).
    pub hold: String,
    /// The amount held, in the currency's minor unit.
    pub amount: u64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// When it was authorised, unix ms.
    pub authorised_at_ms: u64,
    /// By when it is released at the latest if it does not buy, unix ms (see the README's
    /// "Card holds" for the bound).
    pub release_by_ms: u64,
}

/// The answer to placing a card hold: the hold, the queue ticket re-signed to carry it (also
/// set as the ticket cookie), and where the ticket stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldResponse {
    /// The hold.
    pub hold: HoldView,
    /// The new queue ticket.
    pub ticket: String,
    /// Where it stands (with a pass that carries the hold, once admitted).
    pub status: QueueStatus,
}

/// The card payment of an order: its hold, captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The amount taken, in the currency's minor unit.
    pub amount: u64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// The hold that was captured (a PaymentIntent id).
    pub hold: String,
}

/// The answer to a purchase: 201 with `created: true`, or 200 with the same order again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseResponse {
    /// Whether this request created the order (false: it already existed).
    pub created: bool,
    /// The order.
    pub order: Order,
    /// Items left after it.
    pub remaining: u64,
    /// The card payment taken for it, when the sale takes card holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged: Option<Charge>,
}

/// A proof-of-work challenge, as the edge hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// The challenge token: solve it with [`crate::pow`], then join with it.
    pub challenge: String,
    /// Required leading zero bits.
    pub bits: u8,
    /// When the challenge expires, unix seconds.
    pub expires_at: u64,
}

/// A request to join a sale's queue with a solved challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The challenge token.
    pub challenge: String,
    /// A nonce that solves it.
    pub nonce: u64,
}

/// The answer to a join: a queue ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The signed queue ticket (also set as a cookie).
    pub ticket: String,
    /// The visitor id the ticket is for.
    pub visitor: VisitorId,
    /// 0-based queue position.
    pub position: u64,
    /// The status right after joining.
    pub status: QueueStatus,
}

/// Where a queued visitor stands, as the status endpoint and the waiting room report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum QueueStatus {
    /// Waiting: not admitted yet.
    Queued {
        /// The visitor's queue position.
        position: u64,
        /// Positions admitted before this one that are not yet admitted.
        ahead: u64,
        /// Estimated milliseconds until admission.
        eta_ms: u64,
        /// Poll again after this many milliseconds.
        poll_after_ms: u64,
    },
    /// Admission is paused by the operator.
    Paused {
        /// The visitor's queue position.
        position: u64,
        /// Poll again after this many milliseconds.
        poll_after_ms: u64,
    },
    /// Admitted: buy with the pass before it expires.
    Admitted {
        /// The visitor's queue position.
        position: u64,
        /// The admission pass (also set as a cookie).
        pass: String,
        /// When the pass expires, unix seconds.
        pass_expires_at: u64,
    },
    /// Nothing left to buy.
    SoldOut,
}

/// An operator's change to a sale's admission at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ControlRequest {
    /// Stop admitting; positions already admitted stay admitted.
    Pause,
    /// Admit again at the configured rate.
    Resume,
    /// Admit at a new rate (per second) from now on.
    SetRate {
        /// Positions admitted per second, at least 1.
        rate: u32,
    },
}

/// A sale's admission control at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlState {
    /// The admission schedule in force.
    pub schedule: crate::admission::Schedule,
    /// Whether admission is paused.
    pub paused: bool,
    /// The configured rate (what resume restores).
    pub rate: u32,
}

impl ControlState {
    /// The control of a sale that opens at `starts_at_ms` and admits `rate` per second.
    pub fn starting(starts_at_ms: u64, rate: u32) -> Self {
        ControlState {
            schedule: crate::admission::Schedule::starting(starts_at_ms, rate),
            paused: false,
            rate,
        }
    }

    /// Applies an operator's change at `now_ms`. Positions already admitted stay admitted;
    /// the frontier never moves back. A rate of 0 is taken as a pause.
    pub fn apply(&self, request: &ControlRequest, now_ms: u64) -> ControlState {
        let mut next = self.clone();
        match *request {
            ControlRequest::Pause => {
                if !self.paused {
                    next.schedule = self.schedule.with_rate(now_ms, 0);
                    next.paused = true;
                }
            }
            ControlRequest::Resume => {
                if self.paused {
                    next.schedule = self.schedule.with_rate(now_ms, self.rate);
                    next.paused = false;
                }
            }
            ControlRequest::SetRate { rate } => {
                if rate == 0 {
                    return self.apply(&ControlRequest::Pause, now_ms);
                }
                next.rate = rate;
                if !self.paused {
                    next.schedule = self.schedule.with_rate(now_ms, rate);
                }
            }
        }
        next
    }
}

/// The JSON body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The refusal.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable.
    pub code: ErrorCode,
    /// For people; may change between versions.
    pub message: String,
}

impl From<ErrorCode> for ErrorBody {
    fn from(code: ErrorCode) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: code.message().to_owned(),
            },
        }
    }
}

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
    /// A sale id in the path is not a valid id.
    InvalidSaleId = ("invalid_sale_id", 400, "The sale id may contain only letters, digits, '_' and '-' (at most 64)."),
    /// Sale settings are out of range.
    InvalidSaleConfig = ("invalid_sale_config", 422, "The sale settings are out of range: stock and per-visitor limit must be at least 1 and the admission rate at least 1 per second."),
    /// No sale has this id.
    UnknownSale = ("unknown_sale", 404, "There is no sale with this id."),
    /// The route does not exist.
    NotFound = ("not_found", 404, "There is nothing at this address."),
    /// The route exists but not for this method.
    MethodNotAllowed = ("method_not_allowed", 405, "This address does not accept this method."),
    /// The admin bearer secret is missing or wrong.
    Unauthorized = ("unauthorized", 401, "This needs the operator's bearer token."),
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
    /// An update would leave less stock than has already been sold.
    StockBelowSold = ("stock_below_sold", 409, "The stock cannot be set below the number of items already sold."),
    /// The service is at its in-flight limit; retry after the Retry-After header.
    Overloaded = ("overloaded", 503, "The service is busy: retry in a moment."),
    /// The inventory store is unreachable or too slow; nothing was changed that was not confirmed.
    StoreUnavailable = ("store_unavailable", 503, "The inventory store is unavailable: retry in a moment."),
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
    /// A token was issued to another client (IP prefix and browser).
    ClientMismatch = ("client_mismatch", 403, "This token was issued to another device or network: join from this one."),
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
    /// This sale takes card holds and the purchase's pass carries none.
    HoldRequired = ("hold_required", 402, "Put your card on hold before you buy."),
    /// The pass's hold is too close to the card networks' limit to be captured.
    HoldExpired = ("hold_expired", 402, "Your card hold has run out and was released: put your card on hold again."),
    /// Capturing the hold failed; the item went back on sale and nothing was charged.
    PaymentFailed = ("payment_failed", 402, "Your card could not be charged, so the item went back on sale: put a card on hold again to buy."),
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

    #[test]
    fn purchase_request_defaults_to_one_item_and_refuses_unknown_fields() {
        let r: PurchaseRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r.quantity, 1);
        assert!(serde_json::from_str::<PurchaseRequest>("{\"qty\":2}").is_err());
        assert!(serde_json::from_str::<PurchaseRequest>("{\"quantity\":-1}").is_err());
    }

    #[test]
    fn control_pauses_resumes_and_changes_rate_without_moving_the_frontier_back() {
        let c = ControlState::starting(0, 100);
        let paused = c.apply(&ControlRequest::Pause, 10_000);
        assert!(paused.paused);
        assert_eq!(paused.schedule.frontier(10_000), 1_000);
        assert_eq!(paused.schedule.frontier(50_000), 1_000);
        // Pausing twice does not re-base.
        assert_eq!(paused.apply(&ControlRequest::Pause, 20_000), paused);
        // A new rate while paused is remembered, not applied.
        let rated = paused.apply(&ControlRequest::SetRate { rate: 200 }, 30_000);
        assert!(rated.paused);
        assert_eq!(rated.schedule.frontier(40_000), 1_000);
        let resumed = rated.apply(&ControlRequest::Resume, 60_000);
        assert!(!resumed.paused);
        assert_eq!(resumed.schedule.frontier(61_000), 1_200);
        let zero = resumed.apply(&ControlRequest::SetRate { rate: 0 }, 62_000);
        assert!(zero.paused);
        assert_eq!(zero.rate, 200);
        assert_eq!(zero.schedule.frontier(90_000), 1_400);
    }

    #[test]
    fn queue_status_and_control_requests_serialize_as_documented() {
        let s = QueueStatus::Queued {
            position: 5,
            ahead: 3,
            eta_ms: 100,
            poll_after_ms: 1000,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"state":"queued","position":5,"ahead":3,"eta_ms":100,"poll_after_ms":1000}"#
        );
        assert_eq!(
            serde_json::to_string(&QueueStatus::SoldOut).unwrap(),
            r#"{"state":"sold_out"}"#
        );
        let r: ControlRequest = serde_json::from_str(r#"{"action":"set_rate","rate":7}"#).unwrap();
        assert_eq!(r, ControlRequest::SetRate { rate: 7 });
        assert!(serde_json::from_str::<ControlRequest>(r#"{"action":"explode"}"#).is_err());
    }

    #[test]
    fn status_follows_stock_and_start() {
        assert_eq!(SaleStatus::at(0, 10, 0), SaleStatus::SoldOut);
        assert_eq!(SaleStatus::at(1, 10, 9), SaleStatus::Scheduled);
        assert_eq!(SaleStatus::at(1, 10, 10), SaleStatus::Open);
    }
}
