//! The waiting room's words, in the languages a launch needs, chosen from `Accept-Language`.
//!
//! Every sentence the page shows lives in one [`Strings`] table per language. The server uses
//! the table to render the no-JavaScript pages and hands the same table to the page's script,
//! so both lanes say the same thing. To add a language, add a table and list it in
//! [`LANGUAGES`]; `{n}`, `{sale}` and `{order}` are placeholders.

use serde::Serialize;

/// One language's sentences.
#[derive(Debug, Serialize)]
pub struct Strings {
    /// BCP 47 tag, for `<html lang>`.
    pub lang: &'static str,
    /// The page title, before the sale's name.
    pub title: &'static str,
    /// The line above the headline: `{sale}` is the sale.
    pub sale_line: &'static str,
    /// Headline and sentence while the page asks for a place.
    pub joining: [&'static str; 2],
    /// Headline and sentence while the browser solves the proof of work.
    pub solving: [&'static str; 2],
    /// Label of the proof-of-work progress bar.
    pub progress: &'static str,
    /// Headline and sentence while waiting in line.
    pub waiting: [&'static str; 2],
    /// Headline and sentence in the pre-queue before the draw: `{time}` is the draw's time.
    pub entered: [&'static str; 2],
    /// Headline and sentence before the pre-queue opens: `{time}` is its opening.
    pub not_open: [&'static str; 2],
    /// The visitor's entry in the public draw (`{entry}`), and how anyone can check the draw.
    pub entry: [&'static str; 2],
    /// The honest odds: `{remaining}` items left and `{ahead}` people ahead; the chance
    /// (`{pct}`) that an item is left at the visitor's turn; the same under 1 %; the passes out
    /// covering the stock.
    pub odds: [&'static str; 4],
    /// Headline and sentence while the operator has paused admission.
    pub paused: [&'static str; 2],
    /// Headline and sentence once admitted.
    pub admitted: [&'static str; 2],
    /// The buy button.
    pub buy: &'static str,
    /// Headline and sentence while the purchase is under way.
    pub buying: [&'static str; 2],
    /// Headline and sentence after buying: `{order}` is the order number.
    pub bought: [&'static str; 2],
    /// Headline and sentence when nothing is left.
    pub sold_out: [&'static str; 2],
    /// Headline of a refusal, and what to do next.
    pub refused: [&'static str; 2],
    /// Labels of the numbers: position, people ahead, estimated wait.
    pub numbers: [&'static str; 3],
    /// The estimated wait: "now", seconds (`{n}`) and minutes (`{n}`).
    pub eta: [&'static str; 3],
    /// The no-JavaScript lane: headline and sentence before joining (`{n}` seconds).
    pub lane_joining: [&'static str; 2],
    /// The no-JavaScript lane: "this page refreshes every {n} seconds" and the link to refresh.
    pub lane_refresh: [&'static str; 2],
    /// The link from the page to the no-JavaScript lane.
    pub lane_link: &'static str,
    /// The card form: legend, number, expiry (MM/YY), security code, submit button, and the
    /// note on what a hold is.
    pub card: [&'static str; 6],
    /// The card hold (`{amount}`): on hold, charged, released, being released.
    pub hold: [&'static str; 4],
    /// Headline and sentence once admitted to a seated sale, in place of `admitted`.
    pub choose: [&'static str; 2],
    /// Headline and sentence while seats are held for the buyer.
    pub holding: [&'static str; 2],
    /// The sentence of the no-JavaScript lane's seat form (best available only).
    pub lane_choose: &'static str,
    /// The seat chooser: its name (for screen readers); the best-available form's legend,
    /// number of seats, section, "any section", price, "any price", wheelchair space and
    /// submit button; a section with its free seats (`{section}`, `{n}`).
    pub seats: [&'static str; 10],
    /// The seat map: its heading, its name (`{section}`), how to use it with keys, the list
    /// of free seats, a row (`{row}`), a seat (`{n}`), the seats selected (`{seats}`) or
    /// none, the hold button, and the most seats one may choose (`{n}`).
    pub seat_map: [&'static str; 10],
    /// The map's legend: free, selected, held, sold, wheelchair space, and what the letters
    /// on the seats mean (`{tiers}`).
    pub seat_legend: [&'static str; 6],
    /// A seat in words: where it is (`{section}`, `{row}`, `{n}`); free, held, sold; a
    /// wheelchair space, a companion seat.
    pub seat_name: [&'static str; 6],
    /// The seats held: the heading, their total (`{amount}`), the time left (`{time}`), the
    /// time left as announced (`{n}` seconds), the buy and give-back buttons, and what the
    /// page says when the hold ran out or was given back.
    pub seat_hold: [&'static str; 8],
    /// Seats offered in place of taken ones (`{seats}`), and the button that holds them.
    pub seat_offer: [&'static str; 2],
    /// Sentences for the refusals a buyer can meet, by error code; other codes use the
    /// service's own sentence.
    pub errors: &'static [(&'static str, &'static str)],
}

/// English.
pub const EN: Strings = Strings {
    lang: "en",
    title: "Waiting room",
    sale_line: "Sale: {sale}",
    joining: ["Getting you a place in line", "One moment, please."],
    solving: [
        "Checking your browser",
        "Your browser is doing a short calculation that keeps bots out. It takes a few seconds; keep this page open.",
    ],
    progress: "Check progress",
    waiting: [
        "You are in line",
        "Keep this page open. It updates by itself, and you keep your place.",
    ],
    entered: [
        "You're in",
        "The draw is at {time}. Everyone here by then has the same chance: coming early gives no advantage, and you lose nothing by coming back just before then. Your place is drawn then.",
    ],
    not_open: [
        "The line opens soon",
        "The line for this sale opens at {time}. Everyone who joins before the draw has the same chance, so there is no need to be early. This page joins for you when it opens.",
    ],
    entry: [
        "Your entry in the public draw: {entry}",
        "Anyone can check the draw after it is made: the shop publishes its seed, committed to in advance, and every entry.",
    ],
    odds: [
        "Items left: {remaining}. People ahead of you: {ahead}.",
        "Chance that an item is left at your turn: about {pct} %.",
        "Chance that an item is left at your turn: under 1 %. We are sorry: you keep your place if you stay, but it is very unlikely to come to you.",
        "The people let in before you are likely to buy what is left. You keep your place: if items come back, the line moves again.",
    ],
    paused: [
        "The sale is paused",
        "You keep your place in line. We continue in a moment.",
    ],
    admitted: [
        "It's your turn",
        "You can buy now. Your turn is held for a few minutes.",
    ],
    buy: "Buy now",
    buying: ["Buying…", "Please wait and do not reload the page."],
    bought: ["You bought it", "Your order number is {order}."],
    sold_out: ["Sold out", "Everything has been sold. Thank you for waiting."],
    refused: [
        "We could not let you in",
        "Reload the page to try again.",
    ],
    numbers: ["Your position", "People ahead of you", "Estimated wait"],
    eta: ["any moment now", "about {n} seconds", "about {n} minutes"],
    lane_joining: [
        "Joining the line",
        "Without JavaScript you join the line {n} seconds after the sale opens or after you arrive, whichever is later. Keep this page open.",
    ],
    lane_refresh: ["This page refreshes itself every {n} seconds.", "Refresh now"],
    lane_link: "No JavaScript? Use the simple waiting room.",
    card: [
        "Pay in one click when it's your turn",
        "Card number",
        "Expiry (MM/YY)",
        "Security code",
        "Put card on hold",
        "We hold the amount on your card while you wait. It is charged only if you buy, and released if you don't.",
    ],
    hold: [
        "Card on hold: {amount}. Charged only if you buy.",
        "Charged: {amount}.",
        "Hold released: nothing was charged.",
        "Your card hold is being released: nothing was charged.",
    ],
    choose: [
        "Choose your seats",
        "It's your turn. Let us find the best seats, or pick them on the map: they are held for you for a few minutes while you buy.",
    ],
    holding: [
        "Your seats are held",
        "Buy them before the time runs out, or give them back for someone else.",
    ],
    lane_choose: "It's your turn. Tell us how many seats you want: we find the best ones side by side and hold them for you for a few minutes while you buy.",
    seats: [
        "Seats",
        "Best available",
        "Number of seats",
        "Section",
        "Any section",
        "Price",
        "Any price",
        "Include a wheelchair space",
        "Find seats",
        "{section}: {n} free",
    ],
    seat_map: [
        "Or choose on the map",
        "Seats of section {section}",
        "Arrow keys move from seat to seat; Space or Enter selects a free seat. The list of free seats below does the same.",
        "List of free seats",
        "Row {row}",
        "Seat {n}",
        "Selected: {seats}.",
        "No seats selected yet.",
        "Hold selected seats",
        "You can choose up to {n} seats.",
    ],
    seat_legend: [
        "Free",
        "Selected",
        "Held by someone",
        "Sold",
        "Wheelchair space",
        "Letters on the seats show their price: {tiers}.",
    ],
    seat_name: [
        "Section {section}, row {row}, seat {n}",
        "free",
        "held",
        "sold",
        "wheelchair space",
        "companion seat",
    ],
    seat_hold: [
        "Held for you",
        "Total: {amount}",
        "Time left to buy: {time}",
        "{n} seconds left to buy your seats.",
        "Buy these seats",
        "Give them back",
        "Your hold ran out and the seats went back on sale. Choose again.",
        "You gave the seats back. Choose again if you like.",
    ],
    seat_offer: [
        "Free seats side by side instead: {seats}.",
        "Hold these instead",
    ],
    errors: &[
        ("unknown_sale", "There is no sale at this address. Check the link you followed."),
        ("prequeue_not_open", "The line for this sale is not open yet. Come back when it opens: everyone who joins before the draw has the same chance."),
        ("sold_out", "Everything has been sold."),
        ("not_sold_here", "This sale is not sold where you are."),
        ("stock_moving", "The items for your region ran out for now, and more are on their way. Your place is kept: try again in a moment."),
        ("client_mismatch", "Your place in line belongs to another device or network. Join again from this one."),
        ("proof_required", "This page could not prove it holds your place in line: this browser may block the storage or cryptography it needs. Try the waiting room without JavaScript instead."),
        ("proof_key_mismatch", "Your place in line belongs to another device or browser. Join again from this one."),
        ("proof_expired", "This device's clock is far off. Set it right and reload the page: your place is kept."),
        ("ticket_expired", "Your place in line has expired. Join again."),
        ("pass_expired", "Your turn to buy has expired. Join the line again."),
        ("purchase_in_progress", "Your purchase is already under way in another tab."),
        ("cross_site_request", "This form did not come from this site's own page, or the page was out of date: nothing was done. Go back to the waiting room and try again."),
        ("origin_unavailable", "The shop is not answering. Try again in a moment."),
        ("overloaded", "The shop is busy. Try again in a moment."),
        ("join_limit_device", "This device already has a place in line for this sale. Keep the page that has it open."),
        ("join_limit_network", "Too many people on your network have joined this sale. Try again from another network, such as mobile data."),
        ("order_cancelled", "Your order was cancelled by the shop's review of this sale."),
        ("card_number_invalid", "The card number is not valid. Check the digits."),
        ("card_expiry_invalid", "The expiry date is not valid or has passed."),
        ("card_cvc_invalid", "The security code has 3 or 4 digits."),
        ("card_declined", "Your card was declined. Try another card."),
        ("card_needs_authentication", "Your card asks for an extra check that cannot be done while you wait. Try another card."),
        ("payment_unavailable", "The card processor is not answering. Try again in a moment."),
        ("hold_attempts_exceeded", "Too many card attempts from here. Your place is kept, but no more cards can be tried."),
        ("holds_busy", "Many cards are being put on hold right now. Your place is kept; try again in a moment."),
        ("hold_required", "Put your card on hold, then buy."),
        ("hold_expired", "Your card hold ran out and was released. Put your card on hold again."),
        ("payment_failed", "Your card could not be charged and nothing was taken. Put a card on hold again to buy."),
        ("seats_taken", "Some of these seats were just taken: nothing was held. Choose others, or take the seats offered."),
        ("no_adjacent_seats", "There are not that many free seats side by side. Ask for fewer seats, or try another section or price."),
        ("seat_hold_exists", "You already hold seats in this sale, perhaps in another tab: buy them there, or wait until their hold runs out."),
        ("seat_hold_expired", "Your hold ran out and the seats went back on sale. Choose again."),
        ("seat_hold_limit", "You have held seats as many times as one visit may: buy the seats you hold, or leave them."),
        ("over_limit", "That is more than one buyer may have in this sale."),
        ("unknown_seat", "One of these seats is not on this sale's map. Reload the page and choose again."),
        ("no_seat_hold", "This hold no longer exists: it was bought, given back or ran out."),
        ("already_bought", "You have already bought in this sale."),
    ],
};

/// German.
pub const DE: Strings = Strings {
    lang: "de",
    title: "Warteraum",
    sale_line: "Verkauf: {sale}",
    joining: ["Wir reihen Sie ein", "Einen Moment, bitte."],
    solving: [
        "Ihr Browser wird geprüft",
        "Ihr Browser führt eine kurze Rechnung aus, die Bots fernhält. Das dauert einige Sekunden; lassen Sie diese Seite geöffnet.",
    ],
    progress: "Fortschritt der Prüfung",
    waiting: [
        "Sie stehen in der Warteschlange",
        "Lassen Sie diese Seite geöffnet. Sie aktualisiert sich selbst, und Ihr Platz bleibt erhalten.",
    ],
    entered: [
        "Sie sind dabei",
        "Die Verlosung ist um {time}. Alle, die bis dahin hier sind, haben dieselbe Chance: Früh zu kommen bringt keinen Vorteil, und Sie verlieren nichts, wenn Sie kurz vorher wiederkommen. Dann wird Ihr Platz ausgelost.",
    ],
    not_open: [
        "Die Warteschlange öffnet bald",
        "Die Warteschlange für diesen Verkauf öffnet um {time}. Alle, die vor der Verlosung beitreten, haben dieselbe Chance; Sie müssen also nicht früh da sein. Diese Seite reiht Sie ein, sobald sie öffnet.",
    ],
    entry: [
        "Ihr Los in der öffentlichen Verlosung: {entry}",
        "Jede und jeder kann die Verlosung nachprüfen, sobald sie gezogen ist: Der Shop veröffentlicht den vorab zugesagten Startwert und alle Lose.",
    ],
    odds: [
        "Verbleibende Artikel: {remaining}. Personen vor Ihnen: {ahead}.",
        "Chance, dass bei Ihnen noch ein Artikel übrig ist: etwa {pct} %.",
        "Chance, dass bei Ihnen noch ein Artikel übrig ist: unter 1 %. Es tut uns leid: Ihr Platz bleibt erhalten, aber es ist sehr unwahrscheinlich, dass noch etwas für Sie bleibt.",
        "Die Personen vor Ihnen, die schon eingelassen wurden, kaufen wahrscheinlich den Rest. Ihr Platz bleibt erhalten: Kommen Artikel zurück, geht es weiter.",
    ],
    paused: [
        "Der Verkauf ist pausiert",
        "Ihr Platz in der Warteschlange bleibt erhalten. Es geht gleich weiter.",
    ],
    admitted: [
        "Sie sind an der Reihe",
        "Sie können jetzt kaufen. Ihr Platz wird einige Minuten für Sie reserviert.",
    ],
    buy: "Jetzt kaufen",
    buying: ["Kauf läuft…", "Bitte warten Sie und laden Sie die Seite nicht neu."],
    bought: ["Gekauft", "Ihre Bestellnummer lautet {order}."],
    sold_out: ["Ausverkauft", "Alles ist verkauft. Danke fürs Warten."],
    refused: [
        "Wir konnten Sie nicht einlassen",
        "Laden Sie die Seite neu, um es noch einmal zu versuchen.",
    ],
    numbers: ["Ihre Position", "Personen vor Ihnen", "Geschätzte Wartezeit"],
    eta: ["jeden Moment", "etwa {n} Sekunden", "etwa {n} Minuten"],
    lane_joining: [
        "Sie werden eingereiht",
        "Ohne JavaScript werden Sie {n} Sekunden nach Verkaufsbeginn oder nach Ihrer Ankunft eingereiht, je nachdem, was später ist. Lassen Sie diese Seite geöffnet.",
    ],
    lane_refresh: ["Diese Seite aktualisiert sich alle {n} Sekunden.", "Jetzt aktualisieren"],
    lane_link: "Kein JavaScript? Nutzen Sie den einfachen Warteraum.",
    card: [
        "Mit einem Klick bezahlen, wenn Sie dran sind",
        "Kartennummer",
        "Gültig bis (MM/JJ)",
        "Prüfziffer",
        "Betrag reservieren",
        "Wir reservieren den Betrag auf Ihrer Karte, während Sie warten. Belastet wird er nur, wenn Sie kaufen; sonst wird die Reservierung aufgehoben.",
    ],
    hold: [
        "Auf Ihrer Karte reserviert: {amount}. Belastet nur, wenn Sie kaufen.",
        "Belastet: {amount}.",
        "Reservierung aufgehoben: Es wurde nichts abgebucht.",
        "Die Reservierung wird aufgehoben: Es wurde nichts abgebucht.",
    ],
    choose: [
        "Wählen Sie Ihre Plätze",
        "Sie sind an der Reihe. Lassen Sie uns die besten Plätze suchen, oder wählen Sie sie im Saalplan: Sie werden einige Minuten für Sie reserviert, während Sie kaufen.",
    ],
    holding: [
        "Ihre Plätze sind reserviert",
        "Kaufen Sie sie, bevor die Zeit abläuft, oder geben Sie sie für andere frei.",
    ],
    lane_choose: "Sie sind an der Reihe. Sagen Sie uns, wie viele Plätze Sie möchten: Wir suchen die besten nebeneinander und reservieren sie einige Minuten für Sie, während Sie kaufen.",
    seats: [
        "Plätze",
        "Beste verfügbare Plätze",
        "Anzahl der Plätze",
        "Block",
        "Beliebiger Block",
        "Preis",
        "Beliebiger Preis",
        "Mit Rollstuhlplatz",
        "Plätze suchen",
        "{section}: {n} frei",
    ],
    seat_map: [
        "Oder im Saalplan wählen",
        "Plätze in Block {section}",
        "Mit den Pfeiltasten gehen Sie von Platz zu Platz; Leertaste oder Eingabetaste wählt einen freien Platz. Die Liste der freien Plätze darunter tut dasselbe.",
        "Liste der freien Plätze",
        "Reihe {row}",
        "Platz {n}",
        "Ausgewählt: {seats}.",
        "Noch keine Plätze ausgewählt.",
        "Ausgewählte Plätze reservieren",
        "Sie können bis zu {n} Plätze wählen.",
    ],
    seat_legend: [
        "Frei",
        "Ausgewählt",
        "Von jemandem reserviert",
        "Verkauft",
        "Rollstuhlplatz",
        "Die Buchstaben auf den Plätzen zeigen den Preis: {tiers}.",
    ],
    seat_name: [
        "Block {section}, Reihe {row}, Platz {n}",
        "frei",
        "reserviert",
        "verkauft",
        "Rollstuhlplatz",
        "Begleitplatz",
    ],
    seat_hold: [
        "Für Sie reserviert",
        "Summe: {amount}",
        "Zeit zum Kaufen: noch {time}",
        "Noch {n} Sekunden, um Ihre Plätze zu kaufen.",
        "Diese Plätze kaufen",
        "Plätze freigeben",
        "Ihre Reservierung ist abgelaufen, und die Plätze sind wieder im Verkauf. Wählen Sie erneut.",
        "Sie haben die Plätze freigegeben. Wählen Sie erneut, wenn Sie möchten.",
    ],
    seat_offer: [
        "Stattdessen frei und nebeneinander: {seats}.",
        "Diese stattdessen reservieren",
    ],
    errors: &[
        ("unknown_sale", "Unter dieser Adresse gibt es keinen Verkauf. Prüfen Sie den Link."),
        ("prequeue_not_open", "Die Warteschlange für diesen Verkauf ist noch nicht geöffnet. Kommen Sie wieder, wenn sie öffnet: Alle, die vor der Verlosung beitreten, haben dieselbe Chance."),
        ("sold_out", "Alles ist verkauft."),
        ("not_sold_here", "Dieser Verkauf ist dort, wo Sie sind, nicht erhältlich."),
        ("stock_moving", "Die Artikel für Ihre Region sind gerade vergriffen, Nachschub ist unterwegs. Ihr Platz bleibt: versuchen Sie es gleich noch einmal."),
        ("client_mismatch", "Ihr Platz gehört zu einem anderen Gerät oder Netz. Reihen Sie sich von diesem aus neu ein."),
        ("proof_required", "Diese Seite konnte nicht nachweisen, dass sie Ihren Platz hält: Ihr Browser blockiert vielleicht den Speicher oder die Kryptografie, die sie braucht. Versuchen Sie stattdessen den Warteraum ohne JavaScript."),
        ("proof_key_mismatch", "Ihr Platz gehört zu einem anderen Gerät oder Browser. Reihen Sie sich von diesem aus neu ein."),
        ("proof_expired", "Die Uhr dieses Geräts geht stark falsch. Stellen Sie sie richtig und laden Sie die Seite neu: Ihr Platz bleibt erhalten."),
        ("ticket_expired", "Ihr Platz in der Warteschlange ist abgelaufen. Reihen Sie sich neu ein."),
        ("pass_expired", "Ihre Zeit zum Kaufen ist abgelaufen. Reihen Sie sich neu ein."),
        ("purchase_in_progress", "Ihr Kauf läuft bereits in einem anderen Tab."),
        ("cross_site_request", "Dieses Formular kam nicht von der Seite dieses Shops, oder die Seite war veraltet: Es ist nichts geschehen. Gehen Sie zurück in den Warteraum und versuchen Sie es erneut."),
        ("origin_unavailable", "Der Shop antwortet nicht. Versuchen Sie es gleich noch einmal."),
        ("overloaded", "Der Shop ist ausgelastet. Versuchen Sie es gleich noch einmal."),
        ("join_limit_device", "Dieses Gerät hat schon einen Platz in der Warteschlange. Lassen Sie die Seite mit diesem Platz geöffnet."),
        ("join_limit_network", "Zu viele Personen in Ihrem Netz haben sich eingereiht. Versuchen Sie es über ein anderes Netz, etwa mobile Daten."),
        ("order_cancelled", "Ihre Bestellung wurde bei der Prüfung dieses Verkaufs storniert."),
        ("card_number_invalid", "Die Kartennummer ist ungültig. Prüfen Sie die Ziffern."),
        ("card_expiry_invalid", "Das Ablaufdatum ist ungültig oder vorbei."),
        ("card_cvc_invalid", "Die Prüfziffer hat 3 oder 4 Stellen."),
        ("card_declined", "Ihre Karte wurde abgelehnt. Versuchen Sie eine andere Karte."),
        ("card_needs_authentication", "Ihre Karte verlangt eine zusätzliche Prüfung, die in der Warteschlange nicht möglich ist. Versuchen Sie eine andere Karte."),
        ("payment_unavailable", "Der Kartendienst antwortet nicht. Versuchen Sie es gleich noch einmal."),
        ("hold_attempts_exceeded", "Zu viele Kartenversuche von hier. Ihr Platz bleibt, aber weitere Karten können nicht versucht werden."),
        ("holds_busy", "Gerade werden sehr viele Karten vorgemerkt. Ihr Platz bleibt; versuchen Sie es gleich noch einmal."),
        ("hold_required", "Reservieren Sie den Betrag auf Ihrer Karte, dann kaufen Sie."),
        ("hold_expired", "Die Reservierung auf Ihrer Karte ist abgelaufen und wurde aufgehoben. Reservieren Sie erneut."),
        ("payment_failed", "Ihre Karte konnte nicht belastet werden; es wurde nichts abgebucht. Reservieren Sie erneut, um zu kaufen."),
        ("seats_taken", "Einige dieser Plätze wurden gerade vergeben; es wurde nichts reserviert. Wählen Sie andere, oder nehmen Sie die angebotenen Plätze."),
        ("no_adjacent_seats", "So viele freie Plätze nebeneinander gibt es nicht. Wählen Sie weniger Plätze, einen anderen Block oder einen anderen Preis."),
        ("seat_hold_exists", "Sie haben in diesem Verkauf schon Plätze reserviert, vielleicht in einem anderen Tab: Kaufen Sie sie dort, oder warten Sie, bis die Reservierung abläuft."),
        ("seat_hold_expired", "Ihre Reservierung ist abgelaufen, und die Plätze sind wieder im Verkauf. Wählen Sie erneut."),
        ("seat_hold_limit", "Sie haben so oft Plätze reserviert, wie es bei einem Besuch möglich ist: Kaufen Sie die reservierten Plätze, oder lassen Sie sie."),
        ("over_limit", "Das ist mehr, als eine Person in diesem Verkauf haben darf."),
        ("unknown_seat", "Einer dieser Plätze ist nicht im Saalplan dieses Verkaufs. Laden Sie die Seite neu und wählen Sie erneut."),
        ("no_seat_hold", "Diese Reservierung gibt es nicht mehr: Sie wurde gekauft, freigegeben oder ist abgelaufen."),
        ("already_bought", "Sie haben in diesem Verkauf bereits gekauft."),
    ],
};

/// The languages served, the first being the fallback.
pub const LANGUAGES: &[&Strings] = &[&EN, &DE];

impl Strings {
    /// The sentence for refusal `code`: this language's own, or else `fallback` (the
    /// service's English sentence).
    pub fn error<'a>(&'a self, code: &str, fallback: &'a str) -> &'a str {
        self.errors
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(fallback, |(_, text)| text)
    }

    /// The honest-odds sentences of a waiter: items left and people ahead, then the chance
    /// (or that the passes out cover what is left).
    pub fn odds_words(&self, remaining: u64, ahead: u64, chance_pct: u8, covered: bool) -> String {
        let first = self.odds[0]
            .replace("{remaining}", &remaining.to_string())
            .replace("{ahead}", &ahead.to_string());
        let second = if covered {
            self.odds[3].to_owned()
        } else if chance_pct == 0 {
            self.odds[2].to_owned()
        } else {
            self.odds[1].replace("{pct}", &chance_pct.to_string())
        };
        format!("{first} {second}")
    }

    /// The estimated wait of `eta_ms`, in words.
    pub fn eta_words(&self, eta_ms: u64) -> String {
        let secs = eta_ms.div_ceil(1000);
        if secs <= 1 {
            self.eta[0].to_owned()
        } else if secs < 90 {
            self.eta[1].replace("{n}", &secs.to_string())
        } else {
            self.eta[2].replace("{n}", &secs.div_ceil(60).to_string())
        }
    }
}

/// The language for a request: an explicit `?lang=` choice if served, else the best match
/// of `Accept-Language` (by q-value, then order; `de-AT` matches `de`), else English.
pub fn choose(query_lang: Option<&str>, accept_language: &str) -> &'static Strings {
    if let Some(tag) = query_lang.and_then(served) {
        return tag;
    }
    let mut best: Option<(f32, &'static Strings)> = None;
    for item in accept_language.split(',').take(16) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q.is_nan() || q <= 0.0 {
            continue;
        }
        if let Some(strings) = served(tag) {
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, strings));
            }
        }
    }
    best.map_or(&EN, |(_, s)| s)
}

/// The table for language tag `tag` (`de`, `de-CH`, `EN`), if served.
fn served(tag: &str) -> Option<&'static Strings> {
    let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
    LANGUAGES.iter().copied().find(|s| s.lang == primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_quality_then_order() {
        assert_eq!(choose(None, "").lang, "en");
        assert_eq!(choose(None, "de-DE,de;q=0.9,en;q=0.8").lang, "de");
        assert_eq!(choose(None, "fr-FR, en;q=0.5, de;q=0.7").lang, "de");
        assert_eq!(choose(None, "en, de").lang, "en");
        assert_eq!(choose(None, "de;q=0, en;q=0.1").lang, "en");
        assert_eq!(choose(None, "fr, es").lang, "en");
        assert_eq!(choose(None, ";;;,q=,de;q=abc").lang, "de");
        assert_eq!(choose(Some("de"), "en").lang, "de");
        assert_eq!(choose(Some("xx"), "de").lang, "de");
    }

    #[test]
    fn every_language_has_every_error_sentence() {
        for lang in LANGUAGES {
            assert_eq!(lang.errors.len(), EN.errors.len(), "{}", lang.lang);
            for (code, _) in EN.errors {
                assert!(
                    lang.errors.iter().any(|(c, _)| c == code),
                    "{} {code}",
                    lang.lang
                );
            }
        }
    }

    /// The seat chooser's sentences take the same placeholders in every language: the page
    /// fills them by name, and one a translation lacks would leave a blank.
    #[test]
    fn every_language_has_the_seat_placeholders() {
        fn placeholders(text: &str) -> Vec<&str> {
            let mut out: Vec<&str> = text
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
                .collect();
            out.sort_unstable();
            out
        }
        fn groups(s: &Strings) -> Vec<&'static str> {
            [
                &s.choose[..],
                &s.holding[..],
                &s.seats[..],
                &s.seat_map[..],
                &s.seat_legend[..],
                &s.seat_name[..],
                &s.seat_hold[..],
                &s.seat_offer[..],
            ]
            .concat()
        }
        for lang in LANGUAGES {
            for (en, other) in groups(&EN).into_iter().zip(groups(lang)) {
                assert_eq!(
                    placeholders(en),
                    placeholders(other),
                    "{}: {other}",
                    lang.lang
                );
            }
        }
    }

    #[test]
    fn eta_in_words() {
        assert_eq!(EN.eta_words(0), "any moment now");
        assert_eq!(EN.eta_words(12_300), "about 13 seconds");
        assert_eq!(DE.eta_words(600_000), "etwa 10 Minuten");
    }
}
