//! Card details as a buyer types them, checked before they go anywhere.
//!
//! A [`Card`] only lives long enough to be turned into a payment method at the gateway. Its
//! `Debug` shows the last four digits and nothing else, so it cannot end up in a log whole.

use std::fmt;

use serde::Deserialize;

/// Card details: number, expiry and security code, checked by [`Card::parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct Card {
    number: String,
    exp_month: u8,
    exp_year: u16,
    cvc: String,
}

/// Card details as they arrive (JSON): the number may contain spaces or dashes, the year may
/// have two digits.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// The card number.
    pub number: String,
    /// Expiry month, 1–12.
    pub exp_month: u32,
    /// Expiry year (`27` or `2027`).
    pub exp_year: u32,
    /// The security code.
    pub cvc: String,
}

impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardInput(<redacted>)")
    }
}

/// What is wrong with typed card details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// Not 12–19 digits, or the check digit is wrong.
    #[error("the card number is not valid")]
    Number,
    /// The month is not 1–12, or the card has expired.
    #[error("the card's expiry date is not valid or has passed")]
    Expiry,
    /// The security code is not 3 or 4 digits.
    #[error("the card's security code is not valid")]
    Cvc,
}

impl Card {
    /// Checks `input` at (`year`, `month`), the current month: the number passes the Luhn check,
    /// the card has not expired, the code has 3–4 digits.
    pub fn parse(input: &CardInput, (year, month): (u16, u8)) -> Result<Card, CardError> {
        let number: String = input
            .number
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        if !(12..=19).contains(&number.len())
            || !number.bytes().all(|b| b.is_ascii_digit())
            || !luhn(&number)
        {
            return Err(CardError::Number);
        }
        let exp_month = u8::try_from(input.exp_month)
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or(CardError::Expiry)?;
        let exp_year = match input.exp_year {
            y @ 0..=99 => 2000 + y,
            y @ 2000..=2199 => y,
            _ => return Err(CardError::Expiry),
        };
        let exp_year = u16::try_from(exp_year).map_err(|_| CardError::Expiry)?;
        if (exp_year, exp_month) < (year, month) {
            return Err(CardError::Expiry);
        }
        let cvc = input.cvc.trim();
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::Cvc);
        }
        Ok(Card {
            number,
            exp_month,
            exp_year,
            cvc: cvc.to_owned(),
        })
    }

    /// The digits of the number.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The expiry month.
    pub fn exp_month(&self) -> u8 {
        self.exp_month
    }

    /// The expiry year (four digits).
    pub fn exp_year(&self) -> u16 {
        self.exp_year
    }

    /// The security code.
    pub fn cvc(&self) -> &str {
        &self.cvc
    }

    /// The last four digits, to show the buyer which card is on hold.
    pub fn last4(&self) -> &str {
        &self.number[self.number.len() - 4..]
    }
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Card(…{})", self.last4())
    }
}

/// The Luhn check over ASCII digits.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}
