//! The no-JavaScript pages: server-rendered, refreshing themselves with
//! `<meta http-equiv="refresh">`, for feed readers and browsers without JavaScript.

use herdgate_core::ErrorCode;

use crate::config::Brand;
use crate::pages::i18n::Strings;
use crate::pages::render::{escape, layout, sale_line, Page};

/// What a no-JavaScript lane page shows.
#[derive(Debug, Clone)]
pub enum Lane {
    /// The visitor joins the line in `in_secs` seconds.
    Joining {
        /// Seconds until the visitor's lane token becomes valid.
        in_secs: u64,
    },
    /// In the pre-queue, before the draw.
    Entered {
        /// When the draw closes, unix ms.
        draw_at_ms: u64,
        /// The entry's public digest.
        entry: String,
    },
    /// In line.
    Waiting {
        /// 0-based queue position.
        position: u64,
        /// Positions ahead that are not admitted yet.
        ahead: u64,
        /// Estimated wait, ms.
        eta_ms: u64,
        /// Items left, the chance (whole percent) of one at this visitor's turn, and whether
        /// the passes out cover the stock, when the status says.
        odds: Option<(u64, u8, bool)>,
    },
    /// Admission is paused.
    Paused {
        /// 0-based queue position.
        position: u64,
    },
    /// Admitted: a form posts to `buy_url`.
    Admitted {
        /// Where the buy form posts.
        buy_url: String,
        /// The form's token against cross-site request forgery (see
        /// `herdgate_core::gate::csrf::form_token`).
        form_token: String,
    },
    /// Admitted to a seated sale: the best-available form posts to `action`.
    ChooseSeats {
        /// Where the form posts.
        action: String,
        /// The form's token against cross-site request forgery.
        form_token: String,
        /// The sections with free seats, and how many.
        sections: Vec<(String, u64)>,
        /// The most seats one may ask for.
        max: u32,
        /// Why the last request held nothing.
        error: Option<ErrorCode>,
    },
    /// Seats held for the visitor of a seated sale: buy or give them back.
    SeatsHeld {
        /// The seats.
        seats: Vec<String>,
        /// What they cost together, minor units.
        amount: u64,
        /// Seconds left before they go back on sale.
        left_secs: u64,
        /// Where "buy" posts.
        confirm: String,
        /// Where "give them back" posts.
        release: String,
        /// The forms' token against cross-site request forgery.
        form_token: String,
    },
    /// Bought.
    Bought {
        /// The order's id.
        order_id: String,
    },
    /// Nothing left.
    SoldOut,
    /// Refused, with the reason.
    Refused(ErrorCode),
    /// The card form (a page of its own, which does not refresh while the buyer types); it
    /// posts to `action`. `error`: why the last card was not put on hold.
    Card {
        /// Where the form posts.
        action: String,
        /// The refusal of the previous attempt.
        error: Option<ErrorCode>,
        /// The form's token against cross-site request forgery.
        form_token: String,
    },
}

/// What a no-JavaScript page says about the buyer's card, in a sale that takes card holds.
#[derive(Debug, Clone, Default)]
pub enum LanePayment {
    /// The sale takes no card holds.
    #[default]
    None,
    /// No card on hold yet: a link to the card form at this URL.
    Offer {
        /// The card form.
        card_url: String,
    },
    /// A card is on hold for this amount (already formatted).
    Held {
        /// E.g. `15.00 EUR`.
        amount: String,
    },
}

/// `amount` minor units of `currency` as `15.00 EUR` (no decimals for Stripe's zero-decimal
/// currencies).
pub fn money(amount: u64, currency: &str) -> String {
    const ZERO_DECIMAL: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency) {
        format!("{amount} {code}")
    } else {
        format!("{}.{:02} {code}", amount / 100, amount % 100)
    }
}

impl Lane {
    /// The same view with its forms' token (seat views; the others are unchanged).
    pub fn with_token(&self, token: String) -> Lane {
        let mut view = self.clone();
        if let Lane::ChooseSeats { form_token, .. } | Lane::SeatsHeld { form_token, .. } = &mut view
        {
            *form_token = token;
        }
        view
    }

    /// The state name, as `data-state` (the same names the script uses).
    pub fn state(&self) -> &'static str {
        match self {
            Lane::Joining { .. } => "joining",
            Lane::Entered { .. } => "entered",
            Lane::Waiting { .. } => "waiting",
            Lane::Paused { .. } => "paused",
            Lane::Admitted { .. } | Lane::ChooseSeats { .. } => "admitted",
            Lane::SeatsHeld { .. } => "holding",
            Lane::Bought { .. } => "bought",
            Lane::SoldOut => "sold_out",
            Lane::Refused(_) => "refused",
            Lane::Card { .. } => "card",
        }
    }
}

/// Why the last request of a form did nothing, as an alert above the form (nothing without
/// `code`).
fn error_line(t: &Strings, code: Option<ErrorCode>) -> String {
    code.map(|code| {
        format!(
            r#"<p class="error" role="alert">{}</p>"#,
            escape(t.error(code.as_str(), code.message()))
        )
    })
    .unwrap_or_default()
}

/// A seat id (`A/3/7`) in words: "Section A, row 3, seat 7".
fn seat_words(t: &Strings, id: &str) -> String {
    let mut parts = id.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(section), Some(row), Some(n)) => t.seat_name[0]
            .replace("{section}", section)
            .replace("{row}", row)
            .replace("{n}", n),
        _ => id.to_owned(),
    }
}

/// Minor units as a number with two decimals (a seated sale's tiers carry no currency).
fn decimal(amount: u64) -> String {
    format!("{}.{:02}", amount / 100, amount % 100)
}

/// Unix ms as `HH:MM UTC` (a page without script does not know the visitor's time zone).
pub fn utc_time(ms: u64) -> String {
    let minutes = ms / 60_000;
    format!("{:02}:{:02} UTC", (minutes / 60) % 24, minutes % 60)
}

/// The name of the hidden field that carries a form's token.
pub const FORM_TOKEN_FIELD: &str = "form_token";

fn token_field(token: &str) -> String {
    format!(
        r#"<input type="hidden" name="{FORM_TOKEN_FIELD}" value="{}">"#,
        escape(token)
    )
}

/// A no-JavaScript page in state `view`. With `refresh_secs`, the page reloads `self_url`
/// after that many seconds. The page runs no script.
pub fn lane(
    t: &Strings,
    brand: &Brand,
    sale: &str,
    view: &Lane,
    refresh_secs: Option<u64>,
    self_url: &str,
    payment: &LanePayment,
) -> Page {
    let (h, m) = match view {
        Lane::Joining { in_secs } => (
            t.lane_joining[0].to_owned(),
            t.lane_joining[1].replace("{n}", &in_secs.to_string()),
        ),
        Lane::Entered { draw_at_ms, .. } => (
            t.entered[0].to_owned(),
            t.entered[1].replace("{time}", &utc_time(*draw_at_ms)),
        ),
        Lane::Waiting { .. } => (t.waiting[0].to_owned(), t.waiting[1].to_owned()),
        Lane::Paused { .. } => (t.paused[0].to_owned(), t.paused[1].to_owned()),
        Lane::Admitted { .. } => (t.admitted[0].to_owned(), t.admitted[1].to_owned()),
        Lane::ChooseSeats { .. } => (t.choose[0].to_owned(), t.lane_choose.to_owned()),
        Lane::SeatsHeld { .. } => (t.holding[0].to_owned(), t.holding[1].to_owned()),
        Lane::Bought { order_id } => (
            t.bought[0].to_owned(),
            t.bought[1].replace("{order}", order_id),
        ),
        Lane::SoldOut => (t.sold_out[0].to_owned(), t.sold_out[1].to_owned()),
        Lane::Refused(code) => (
            t.refused[0].to_owned(),
            format!(
                "{} {}",
                t.error(code.as_str(), code.message()),
                t.refused[1]
            ),
        ),
        Lane::Card { .. } => (t.card[0].to_owned(), t.card[5].to_owned()),
    };
    let numbers = |position: u64, ahead: Option<u64>, eta: Option<u64>| {
        let dash = "–".to_owned();
        format!(
            "<dl>\n  <dt>{}</dt><dd>{}</dd>\n  <dt>{}</dt><dd>{}</dd>\n  <dt>{}</dt><dd>{}</dd>\n</dl>",
            escape(t.numbers[0]),
            position + 1,
            escape(t.numbers[1]),
            ahead.map_or(dash.clone(), |a| a.to_string()),
            escape(t.numbers[2]),
            eta.filter(|e| *e < herdgate_core::gate::status::UNKNOWN_ETA_MS)
                .map_or(dash, |e| escape(&t.eta_words(e))),
        )
    };
    let body = match view {
        Lane::Entered { entry, .. } => format!(
            r#"<p class="entry">{}</p><p class="note">{}</p>"#,
            escape(&t.entry[0].replace("{entry}", entry)),
            escape(t.entry[1])
        ),
        Lane::Waiting {
            position,
            ahead,
            eta_ms,
            odds,
        } => {
            let numbers = numbers(*position, Some(*ahead), Some(*eta_ms));
            match odds {
                Some((remaining, pct, covered)) => format!(
                    r#"{numbers}<p id="odds" class="odds">{}</p>"#,
                    escape(&t.odds_words(*remaining, *ahead, *pct, *covered))
                ),
                None => numbers,
            }
        }
        Lane::Paused { position } => numbers(*position, None, None),
        Lane::Admitted {
            buy_url,
            form_token,
        } => format!(
            r#"<form method="post" action="{}">{}<button class="buy" type="submit">{}</button></form>"#,
            escape(buy_url),
            token_field(form_token),
            escape(t.buy)
        ),
        Lane::ChooseSeats {
            action,
            form_token,
            sections,
            max,
            error,
        } => {
            let error = error_line(t, *error);
            let counts: String = (1..=(*max).clamp(1, 4))
                .map(|n| {
                    let selected = if n == 2.min(*max) { " selected" } else { "" };
                    format!(r#"<option value="{n}"{selected}>{n}</option>"#)
                })
                .collect();
            let sections: String = sections
                .iter()
                .map(|(id, free)| {
                    format!(
                        r#"<option value="{}">{}</option>"#,
                        escape(id),
                        escape(
                            &t.seats[9]
                                .replace("{section}", id)
                                .replace("{n}", &free.to_string())
                        )
                    )
                })
                .collect();
            format!(
                r#"<form class="seats" method="post" action="{action}">
  {token}
  {error}
  <fieldset>
    <legend>{legend}</legend>
    <label for="lane-count">{count}</label>
    <select id="lane-count" name="count">{counts}</select>
    <label for="lane-section">{section}</label>
    <select id="lane-section" name="section"><option value="">{any}</option>{sections}</select>
    <button class="buy" type="submit">{find}</button>
  </fieldset>
</form>"#,
                action = escape(action),
                token = token_field(form_token),
                legend = escape(t.seats[1]),
                count = escape(t.seats[2]),
                section = escape(t.seats[3]),
                any = escape(t.seats[4]),
                find = escape(t.seats[8]),
            )
        }
        Lane::SeatsHeld {
            seats,
            amount,
            left_secs,
            confirm,
            release,
            form_token,
        } => {
            let seats: String = seats
                .iter()
                .map(|id| format!("<li>{}</li>", escape(&seat_words(t, id))))
                .collect();
            let time = format!("{}:{:02}", left_secs / 60, left_secs % 60);
            format!(
                r#"<h2>{held}</h2>
<ul class="held">{seats}</ul>
<p>{total}</p>
<p>{left}</p>
<form method="post" action="{confirm}">{token}<button class="buy" type="submit">{buy}</button></form>
<form method="post" action="{release}">{token}<button class="secondary" type="submit">{back}</button></form>"#,
                held = escape(t.seat_hold[0]),
                total = escape(&t.seat_hold[1].replace("{amount}", &decimal(*amount))),
                left = escape(&t.seat_hold[2].replace("{time}", &time)),
                confirm = escape(confirm),
                release = escape(release),
                token = token_field(form_token),
                buy = escape(t.seat_hold[4]),
                back = escape(t.seat_hold[5]),
            )
        }
        Lane::Card {
            action,
            error,
            form_token,
        } => {
            let error = error_line(t, *error);
            format!(
                r#"<form class="card" method="post" action="{action}">
  {token}
  {error}
  <label for="cc-number">{c1}</label>
  <input id="cc-number" name="number" autocomplete="cc-number" inputmode="numeric" required>
  <div class="row">
    <span><label for="cc-exp">{c2}</label><input id="cc-exp" name="exp" autocomplete="cc-exp" inputmode="numeric" required></span>
    <span><label for="cc-csc">{c3}</label><input id="cc-csc" name="cvc" autocomplete="cc-csc" inputmode="numeric" required></span>
  </div>
  <button class="buy" type="submit">{c4}</button>
</form>"#,
                action = escape(action),
                token = token_field(form_token),
                c1 = escape(t.card[1]),
                c2 = escape(t.card[2]),
                c3 = escape(t.card[3]),
                c4 = escape(t.card[4]),
            )
        }
        _ => String::new(),
    };
    let shows_payment = matches!(
        view,
        Lane::Entered { .. }
            | Lane::Waiting { .. }
            | Lane::Paused { .. }
            | Lane::Admitted { .. }
            | Lane::ChooseSeats { .. }
    );
    let body = match payment {
        LanePayment::Offer { card_url } if shows_payment => format!(
            r#"{body}<p class="hold"><a href="{}">{}</a></p>"#,
            escape(card_url),
            escape(t.card[4])
        ),
        LanePayment::Held { amount } if shows_payment => format!(
            r#"{body}<p class="hold" data-hold="on_hold">{}</p>"#,
            escape(&t.hold[0].replace("{amount}", amount))
        ),
        _ => body,
    };
    let (head, note) = match refresh_secs {
        Some(secs) => (
            format!(
                "<meta http-equiv=\"refresh\" content=\"{secs}; url={}\">\n",
                escape(self_url)
            ),
            format!(
                r#"<p class="note">{} <a href="{}">{}</a></p>"#,
                escape(&t.lane_refresh[0].replace("{n}", &secs.to_string())),
                escape(self_url),
                escape(t.lane_refresh[1]),
            ),
        ),
        None => (String::new(), String::new()),
    };
    let main = format!(
        r#"<main id="room" data-state="{state}" aria-labelledby="headline">
{sale_line}
<h1 id="headline">{h}</h1>
<p class="message">{m}</p>
{body}
{note}
</main>"#,
        state = view.state(),
        sale_line = sale_line(t, sale),
        h = escape(&h),
        m = escape(&m),
    );
    layout(t, brand, sale, &head, &main, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::i18n::{DE, EN};

    use crate::pages::render::test_brand as brand;

    #[test]
    fn lane_pages_refresh_and_speak_the_language() {
        let waiting = Lane::Waiting {
            position: 41,
            ahead: 12,
            eta_ms: 30_000,
            odds: Some((5, 37, false)),
        };
        let html = lane(
            &DE,
            &brand(),
            "drop-1",
            &waiting,
            Some(5),
            "/queue/drop-1",
            &LanePayment::None,
        )
        .html;
        assert!(html.contains(r#"content="5; url=/queue/drop-1""#));
        assert!(html.contains(r#"data-state="waiting""#));
        assert!(html.contains("<dd>42</dd>") && html.contains("<dd>12</dd>"));
        assert!(html.contains("Sie stehen in der Warteschlange"));
        assert!(
            html.contains("Verbleibende Artikel: 5. Personen vor Ihnen: 12.")
                && html.contains("etwa 37 %"),
            "{html}"
        );
        // Before the draw: the draw's time and the entry anyone can find in the record.
        let entered = Lane::Entered {
            draw_at_ms: 36_000_000 + 30 * 60_000,
            entry: "ab".repeat(16),
        };
        let html = lane(
            &EN,
            &brand(),
            "drop-1",
            &entered,
            Some(5),
            "/queue/drop-1",
            &LanePayment::None,
        )
        .html;
        assert!(html.contains(r#"data-state="entered""#));
        assert!(html.contains("The draw is at 10:30 UTC."), "{html}");
        assert!(html.contains(&"ab".repeat(16)));
        let admitted = Lane::Admitted {
            buy_url: "/queue/drop-1/buy".into(),
            form_token: "e1.t<o>k".into(),
        };
        let page = lane(
            &EN,
            &brand(),
            "drop-1",
            &admitted,
            None,
            "/queue/drop-1",
            &LanePayment::None,
        );
        let html = page.html;
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert!(html.contains(concat!(
            r#"<form method="post" action="/queue/drop-1/buy">"#,
            r#"<input type="hidden" name="form_token" value="e1.t&lt;o&gt;k">"#
        )));
        // No script on a lane page, and forms post only here.
        assert!(!html.contains("<script"));
        assert!(page.csp.contains("script-src 'none'"), "{}", page.csp);
        assert!(page.csp.contains("form-action 'self'"), "{}", page.csp);
        let refused = lane(
            &EN,
            &brand(),
            "x",
            &Lane::Refused(ErrorCode::UnknownSale),
            None,
            "/queue/x",
            &LanePayment::None,
        )
        .html;
        assert!(refused.contains("There is no sale at this address"));
    }

    #[test]
    fn lane_pages_offer_and_show_the_card_hold() {
        let waiting = Lane::Waiting {
            position: 0,
            ahead: 0,
            eta_ms: 0,
            odds: None,
        };
        let offer = LanePayment::Offer {
            card_url: "/queue/drop-1/card".into(),
        };
        let html = lane(&EN, &brand(), "drop-1", &waiting, Some(5), "/q", &offer).html;
        assert!(html.contains(r#"<a href="/queue/drop-1/card">Put card on hold</a>"#));
        let held = LanePayment::Held {
            amount: money(1500, "eur"),
        };
        let html = lane(&EN, &brand(), "drop-1", &waiting, Some(5), "/q", &held).html;
        assert!(html.contains("Card on hold: 15.00 EUR."), "{html}");
        let card = Lane::Card {
            action: "/queue/drop-1/hold".into(),
            error: Some(ErrorCode::CardDeclined),
            form_token: "e1.hold".into(),
        };
        let html = lane(&DE, &brand(), "drop-1", &card, None, "/q", &held).html;
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert!(html.contains(r#"action="/queue/drop-1/hold""#));
        assert!(html.contains(r#"<input type="hidden" name="form_token" value="e1.hold">"#));
        assert!(html.contains("Ihre Karte wurde abgelehnt"));
        assert!(
            !html.contains("reserviert: 15.00"),
            "the form page shows no hold line"
        );
        assert_eq!(money(500, "jpy"), "500 JPY");
    }
}
