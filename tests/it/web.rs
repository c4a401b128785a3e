//! Web hardening, through the real worker under workerd: every page's security headers and
//! Content-Security-Policy, cookies only this host can set, and requests that another site
//! makes a buyer's browser send refused (with a typed refusal) before they change anything:
//! the no-JavaScript lane's forms and the JSON API's posts.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use herdgate_core::wire::{Price, SaleConfig};
use herdgate_core::{ErrorCode, SaleId};
use herdgate_testkit::Localstripe;
use reqwest::header::HeaderMap;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::edge_support::{self, pass_of, Stack};
use crate::support::{alone, bounded, code, read_stock};

/// Another site, as the requests it makes a browser send name it.
const EVIL: &str = "https://evil.example";

/// Where a request says it comes from.
#[derive(Debug, Clone, Copy)]
enum From {
    /// The edge's own page, as a current browser says it: `Sec-Fetch-Site: same-origin` and
    /// the page's `Origin`.
    ThisPage,
    /// Another site, as a current browser says it.
    OtherSite,
    /// Another site, as a browser without Fetch Metadata says it: only its `Origin`.
    OtherSiteOldBrowser,
    /// Nothing about where: not a browser, or one too old to send either header.
    Unsaid,
}

impl From {
    fn apply(self, request: reqwest::RequestBuilder, edge: &str) -> reqwest::RequestBuilder {
        match self {
            From::ThisPage => request
                .header("sec-fetch-site", "same-origin")
                .header("origin", edge),
            From::OtherSite => request
                .header("sec-fetch-site", "cross-site")
                .header("origin", EVIL),
            From::OtherSiteOldBrowser => request.header("origin", EVIL),
            From::Unsaid => request,
        }
    }
}

/// An answer of the edge.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The page's state (`<main data-state>`).
    fn state(&self) -> &str {
        between(&self.body, r#"<main id="room" data-state=""#, "\"").unwrap_or("")
    }

    /// The token in the page's form.
    fn form_token(&self) -> String {
        between(&self.body, r#"name="form_token" value=""#, "\"")
            .unwrap_or_else(|| panic!("no form token in {}", self.body))
            .to_owned()
    }

    /// Whether the page is the lane's refusal page for `code`, in English.
    fn refuses(&self, code: ErrorCode, sentence: &str) -> bool {
        self.status == code.status() && self.state() == "refused" && self.body.contains(sentence)
    }
}

/// The text between the first `open` and the next `close` after it.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

/// What the no-JavaScript lane's refusal page says for `cross_site_request` (the English
/// table's sentence, with its apostrophe escaped as the page escapes it).
const CROSS_SITE_SENTENCE: &str = "This form did not come from this site&#39;s own page";

/// A browser without JavaScript as far as the edge can tell: it keeps the cookies the edge
/// sets as a browser would (a `__Host-` cookie only if `Secure`, `Path=/` and without
/// `Domain`; browsers, like reqwest's cookie store, count `http://127.0.0.1` as secure) and
/// sends them back, and it says where its form posts come from as [`From`] tells it.
struct Visitor {
    http: reqwest::Client,
    edge: String,
    ua: String,
    jar: Mutex<BTreeMap<String, String>>,
    /// Every `Set-Cookie` line it was sent.
    set_cookies: Mutex<Vec<String>>,
}

impl Visitor {
    fn new(s: &Stack, ua: &str) -> Self {
        assert!(s.edge.url().starts_with("http://127.0.0.1:"));
        Visitor {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            edge: s.edge.url().to_owned(),
            ua: ua.to_owned(),
            jar: Mutex::new(BTreeMap::new()),
            set_cookies: Mutex::new(Vec::new()),
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    fn keep(&self, line: &str) {
        self.set_cookies.lock().unwrap().push(line.to_owned());
        let mut parts = line.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
            return;
        };
        let attrs: Vec<String> = parts.map(|a| a.trim().to_ascii_lowercase()).collect();
        let has = |a: &str| attrs.iter().any(|x| x == a);
        let host_only =
            has("secure") && has("path=/") && !attrs.iter().any(|a| a.starts_with("domain="));
        if name.starts_with("__Host-") && !host_only {
            return;
        }
        let mut jar = self.jar.lock().unwrap();
        if value.is_empty() || has("max-age=0") {
            jar.remove(name);
        } else {
            jar.insert(name.to_owned(), value.to_owned());
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let cookies = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = request
            .header("user-agent", &self.ua)
            .header("accept", "text/html");
        if !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        let r = request.send().await.unwrap();
        for line in r.headers().get_all("set-cookie") {
            self.keep(line.to_str().unwrap());
        }
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.edge)))
            .await
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)], from: From) -> Answer {
        let request = self.http.post(format!("{}{path}", self.edge)).form(fields);
        self.send(from.apply(request, &self.edge)).await
    }

    /// Reloads `path` (a lane page, which refreshes itself) until it is in state `want`.
    async fn until(&self, path: &str, want: &str) -> Answer {
        let mut last = String::new();
        for _ in 0..120 {
            let a = self.get(path).await;
            if a.state() == want {
                return a;
            }
            last = format!("{} {}", a.status, a.state());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{path} never reached {want}: last {last}");
    }
}

/// A sale of `stock` items open since a minute ago at 1000/s, with `price` (minor units of
/// EUR) if any.
async fn open_sale(s: &Stack, sale: &str, stock: u64, price: Option<u64>) -> SaleId {
    let config = SaleConfig {
        admission_rate: 1_000,
        price: price.map(|amount| Price {
            amount,
            currency: "eur".into(),
        }),
        ..crate::support::open_config(stock)
    };
    s.admin().put_sale(sale, &config).await.unwrap();
    SaleId::parse(sale).unwrap()
}

async fn orders(s: &Stack, sale: &SaleId) -> (u64, u64, u64) {
    read_stock(&s.redis.url(), sale).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lane_forms_sent_from_another_site_are_refused_and_change_nothing() {
    // Card holds against localstripe and the shards' sweeps: alone, as the payments tests.
    alone(Duration::from_secs(240), async {
        let ls = Localstripe::start().await.unwrap();
        let builder = edge_support::builder().localstripe(&ls).vars(json!({
            "NOJS_DELAY_SECS": "1",
            "NOJS_REFRESH_SECS": "1",
            "HOLD_SWEEP_SECS": "1",
        }));
        let s = Stack::start_from(builder).await.unwrap();
        let sale = open_sale(&s, "forms", 2, Some(1500)).await;
        let me = Visitor::new(&s, "Mozilla/5.0 (herdgate web test) me");
        let other = Visitor::new(&s, "Mozilla/5.0 (herdgate web test) other");
        let admitted = me.until("/queue/forms", "admitted").await;
        let buy_token = admitted.form_token();
        let other_buy_token = other.until("/queue/forms", "admitted").await.form_token();
        let card = me.get("/queue/forms/card").await;
        assert_eq!((card.status, card.state()), (200, "card"), "{}", card.body);
        let hold_token = card.form_token();
        assert_ne!(hold_token, buy_token, "one token per form");
        assert_ne!(buy_token, other_buy_token, "one token per visitor");

        // A card put on hold from another site: refused before the card goes anywhere.
        let card_form = |token: &str| {
            vec![
                ("number", "4242424242424242".to_owned()),
                ("exp", "12/30".to_owned()),
                ("cvc", "123".to_owned()),
                ("form_token", token.to_owned()),
            ]
        };
        for (from, token) in [
            (From::OtherSite, hold_token.as_str()),
            (From::OtherSiteOldBrowser, hold_token.as_str()),
            (From::ThisPage, ""),
            (From::Unsaid, ""),
            (From::ThisPage, buy_token.as_str()),
        ] {
            let fields = card_form(token);
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let a = me.post_form("/queue/forms/hold", &fields, from).await;
            assert!(
                a.refuses(ErrorCode::CrossSiteRequest, CROSS_SITE_SENTENCE),
                "hold {from:?} {token:?}: {} {}",
                a.status,
                a.body
            );
        }
        assert_eq!(
            ls.intents().await.unwrap().len(),
            0,
            "a forged form reached the processor"
        );
        // The lane's own form puts the card on hold.
        let fields = card_form(&hold_token);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let held = me
            .post_form("/queue/forms/hold", &fields, From::ThisPage)
            .await;
        assert_eq!(
            (held.status, held.header("location")),
            (303, "/queue/forms"),
            "{}",
            held.body
        );
        let census = ls.census().await.unwrap();
        assert_eq!(census.get("requires_capture"), Some(&1), "{census:?}");

        // A purchase from another site, or with another form's or visitor's token: refused
        // before the pass is claimed or the origin hears of it.
        let purchases = s.origin_purchases().await;
        for (from, token) in [
            (From::OtherSite, buy_token.as_str()),
            (From::OtherSiteOldBrowser, buy_token.as_str()),
            (From::ThisPage, ""),
            (
                From::Unsaid,
                "e1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
            (From::ThisPage, hold_token.as_str()),
            (From::ThisPage, other_buy_token.as_str()),
        ] {
            let a = me
                .post_form("/queue/forms/buy", &[("form_token", token)], from)
                .await;
            assert!(
                a.refuses(ErrorCode::CrossSiteRequest, CROSS_SITE_SENTENCE),
                "buy {from:?} {token:?}: {} {}",
                a.status,
                a.body
            );
        }
        assert_eq!(s.origin_purchases().await, purchases);
        assert_eq!(orders(&s, &sale).await, (2, 0, 2));

        // The lane's own buy form buys, once: the refusals left the pass unspent.
        let page = me.until("/queue/forms", "admitted").await;
        assert_eq!(page.form_token(), buy_token, "the token is the visitor's");
        let bought = me
            .post_form(
                "/queue/forms/buy",
                &[("form_token", &buy_token)],
                From::ThisPage,
            )
            .await;
        assert_eq!(
            (bought.status, bought.state()),
            (200, "bought"),
            "{}",
            bought.body
        );
        assert_eq!(s.origin_purchases().await, purchases + 1.0);
        assert_eq!(orders(&s, &sale).await, (1, 1, 2));
        let census = ls.census().await.unwrap();
        assert_eq!(census.get("succeeded"), Some(&1), "{census:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_posts_from_another_site_or_with_undeclared_bodies_are_refused() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        let sale = open_sale(&s, "api", 3, None).await;
        let edge = s.edge.url().to_owned();
        let ua = "Mozilla/5.0 (herdgate web test) api";
        let me = s.buyer(ua);
        let ticket = me.solve_and_join("api", None).await.unwrap().ticket;
        let pass = pass_of(&me.status("api", &ticket).await.unwrap());
        let http = reqwest::Client::new();
        let post = |what: &str,
                    cookie: String,
                    site: Option<&str>,
                    origin: Option<&str>,
                    ctype: &str,
                    body: String| {
            let mut r = http
                .post(format!("{edge}/api/v1/sales/api/{what}"))
                .header("user-agent", ua)
                .header("content-type", ctype)
                .body(body);
            if !cookie.is_empty() {
                r = r.header("cookie", cookie);
            }
            if let Some(site) = site {
                r = r.header("sec-fetch-site", site);
            }
            if let Some(origin) = origin {
                r = r.header("origin", origin);
            }
            async move {
                let r = r.send().await.unwrap();
                herdgate_testkit::read_reply(r).await.unwrap()
            }
        };

        // The pass in its cookie (under the name this version sets, and the one versions
        // before it set, which is still read), sent the ways another site can make a browser
        // send it.
        let pass_cookie = format!("__Host-hg_pass_api={pass}");
        let purchases = s.origin_purchases().await;
        let forgeries = [
            // A form on another site (`enctype="text/plain"` can carry a JSON body).
            (
                Some("cross-site"),
                Some(EVIL),
                "text/plain",
                (403, "cross_site_request"),
            ),
            // Another site's script; a sibling subdomain's.
            (
                Some("cross-site"),
                Some(EVIL),
                "application/json",
                (403, "cross_site_request"),
            ),
            (
                Some("same-site"),
                Some("http://shop.127.0.0.1"),
                "application/json",
                (403, "cross_site_request"),
            ),
            // A browser without Fetch Metadata.
            (
                None,
                Some(EVIL),
                "application/json",
                (403, "cross_site_request"),
            ),
            (
                None,
                Some("null"),
                "application/json",
                (403, "cross_site_request"),
            ),
            // One without either header: its form posts are not JSON.
            (None, None, "text/plain", (415, "unsupported_media_type")),
            (
                None,
                None,
                "application/x-www-form-urlencoded",
                (415, "unsupported_media_type"),
            ),
            (
                None,
                None,
                "multipart/form-data; boundary=x",
                (415, "unsupported_media_type"),
            ),
        ];
        for cookie in [format!("hg_pass_api={pass}"), pass_cookie.clone()] {
            for (site, origin, ctype, want) in forgeries {
                let (status, body) =
                    post("purchase", cookie.clone(), site, origin, ctype, "{}".into()).await;
                assert_eq!(
                    (status, code(&body)),
                    want,
                    "{site:?} {origin:?} {ctype} {}: {body}",
                    &cookie[..12]
                );
            }
        }
        assert_eq!(
            s.origin_purchases().await,
            purchases,
            "a refused post reached the origin"
        );
        assert_eq!(orders(&s, &sale).await, (3, 0, 3));

        // A join from another site spends nothing: the same solved challenge joins afterwards.
        let other = s.buyer("Mozilla/5.0 (herdgate web test) joiner");
        let ch = other.challenge("api", None).await.unwrap();
        let nonce = herdgate_testkit::solve(&ch).await.unwrap();
        let join_body = json!({"challenge": ch.challenge, "nonce": nonce}).to_string();
        let joiner = "Mozilla/5.0 (herdgate web test) joiner";
        for (site, ctype, want) in [
            (
                Some("cross-site"),
                "application/json",
                (403, "cross_site_request"),
            ),
            (None, "text/plain", (415, "unsupported_media_type")),
        ] {
            let r = http
                .post(format!("{edge}/api/v1/sales/api/join"))
                .header("user-agent", joiner)
                .header("content-type", ctype)
                .body(join_body.clone());
            let r = match site {
                Some(site) => r.header("sec-fetch-site", site),
                None => r,
            };
            let (status, body) = herdgate_testkit::read_reply(r.send().await.unwrap())
                .await
                .unwrap();
            assert_eq!((status, code(&body)), want, "join {site:?} {ctype}: {body}");
        }
        let joined = other.join("api", &ch.challenge, nonce).await.unwrap();
        // A card hold and a challenge, the same.
        let (status, body) = post(
            "hold",
            format!("__Host-hg_tkt_api={ticket}"),
            None,
            None,
            "text/plain",
            r#"{"payment_method":"pm_card_visa"}"#.into(),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (415, "unsupported_media_type"),
            "{body}"
        );
        // From this page in a browser without Fetch Metadata (its `Origin` only), declared
        // JSON: past both checks, to the hold's own answer (this deployment takes no holds).
        let (status, body) = post(
            "hold",
            format!("__Host-hg_tkt_api={ticket}"),
            None,
            Some(&edge),
            "application/json",
            r#"{"payment_method":"pm_card_visa"}"#.into(),
        )
        .await;
        assert_eq!((status, code(&body)), (404, "payments_disabled"), "{body}");
        let (status, body) = post(
            "challenge",
            String::new(),
            Some("cross-site"),
            Some(EVIL),
            "application/json",
            "{}".into(),
        )
        .await;
        assert_eq!((status, code(&body)), (403, "cross_site_request"), "{body}");

        // The page's own way (cookie, JSON, same origin, and the proof of the place's key)
        // buys; so does an app's (a bearer token and its proof, whatever its body).
        let purchase_url = format!("{edge}/api/v1/sales/api/purchase");
        let proof = me
            .identity()
            .prove("POST", &purchase_url, Some(&pass))
            .unwrap();
        let r = http
            .post(&purchase_url)
            .header("user-agent", ua)
            .header("cookie", pass_cookie)
            .header("sec-fetch-site", "same-origin")
            .header("origin", &edge)
            .header("content-type", "application/json")
            .header("dpop", proof)
            .body("{}")
            .send()
            .await
            .unwrap();
        let (status, body) = herdgate_testkit::read_reply(r).await.unwrap();
        assert_eq!(status, 201, "{body}");
        let app_pass = pass_of(&other.status("api", &joined.ticket).await.unwrap());
        let proof = other
            .identity()
            .prove("POST", &purchase_url, Some(&app_pass));
        let r = http
            .post(&purchase_url)
            .header("user-agent", joiner)
            .bearer_auth(&app_pass)
            .header("dpop", proof.unwrap())
            .send()
            .await
            .unwrap();
        let (status, body) = herdgate_testkit::read_reply(r).await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(orders(&s, &sale).await, (1, 2, 3));
    })
    .await;
}

/// The value of directive `name` of a Content-Security-Policy, if present.
fn directive<'a>(csp: &'a str, name: &str) -> Option<&'a str> {
    csp.split(';').map(str::trim).find_map(|d| {
        let (n, v) = d.split_once(' ').unwrap_or((d, ""));
        (n == name).then_some(v.trim())
    })
}

fn csp_hash(content: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(content.as_bytes()))
    )
}

/// The contents of the inline `<script>` elements of `html` that a browser runs (a
/// `type="application/json"` block is data), and of its `<style>` elements.
fn inline(html: &str) -> (Vec<&str>, Vec<&str>) {
    let mut scripts = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<script") {
        let tag_end = at + rest[at..].find('>').unwrap();
        let tag = &rest[at..tag_end];
        let close = tag_end + rest[tag_end..].find("</script>").unwrap();
        assert!(!tag.contains("src="), "an external script: {tag}");
        if !tag.contains(r#"type="application/json""#) {
            scripts.push(&rest[tag_end + 1..close]);
        }
        rest = &rest[close..];
    }
    let mut styles = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<style>") {
        let close = at + rest[at..].find("</style>").unwrap();
        styles.push(&rest[at + "<style>".len()..close]);
        rest = &rest[close..];
    }
    (scripts, styles)
}

/// Every security header a page must carry, and a policy that lets run exactly its own inline
/// script and style.
fn check_page(name: &str, a: &Answer) {
    let csp = a.header("content-security-policy");
    assert!(a.header("content-type").starts_with("text/html"), "{name}");
    for (directive_name, want) in [
        ("default-src", "'none'"),
        ("frame-ancestors", "'none'"),
        ("base-uri", "'none'"),
        ("form-action", "'self'"),
        ("object-src", "'none'"),
    ] {
        assert_eq!(
            directive(csp, directive_name),
            Some(want),
            "{name}: {csp:?}"
        );
    }
    assert!(!csp.contains("unsafe"), "{name}: {csp}");
    let (scripts, styles) = inline(&a.body);
    let script_src = directive(csp, "script-src").unwrap_or("");
    if scripts.is_empty() {
        assert_eq!(script_src, "'none'", "{name}");
    } else {
        let allowed: Vec<String> = scripts.iter().map(|s| csp_hash(s)).collect();
        assert_eq!(script_src, allowed.join(" "), "{name}");
    }
    assert!(!styles.is_empty(), "{name}");
    let style_src = directive(csp, "style-src").unwrap_or("");
    for style in styles {
        assert!(style_src.contains(&csp_hash(style)), "{name}: {style_src}");
    }
    for (header, want) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(a.header(header), want, "{name}: {header}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_carries_its_policy_and_every_cookie_is_this_host_s_alone() {
    bounded(Duration::from_secs(180), async {
        // A payments key the card form needs to be shown; no hold is taken, so the processor
        // it names is never called.
        let s = Stack::start_with(json!({
            "NOJS_DELAY_SECS": "1",
            "NOJS_REFRESH_SECS": "1",
            // One queue shard: the lane's waiter is then strictly behind the 20 who joined
            // first.
            "QUEUE_SHARD_COUNT": "1",
            "STRIPE_SECRET_KEY": "sk_test_never_called",
            "STRIPE_API_BASE": "http://127.0.0.1:9",
        }))
        .await
        .unwrap();
        open_sale(&s, "pages", 1, None).await;
        let mut pages: Vec<(&str, Answer)> = Vec::new();
        let me = Visitor::new(&s, "Mozilla/5.0 (herdgate web test) pages");

        pages.push(("waiting room", me.get("/sales/pages").await));
        pages.push(("waiting room of no sale", me.get("/sales/nope").await));
        pages.push(("lane: joining", me.get("/queue/pages").await));
        pages.push(("lane: admitted", me.until("/queue/pages", "admitted").await));
        pages.push(("lane: card form", me.get("/queue/pages/card").await));
        pages.push(("lane of no sale", me.get("/queue/nope").await));
        let token = pages[3].1.form_token();
        pages.push((
            "lane: refused (another site)",
            me.post_form(
                "/queue/pages/buy",
                &[("form_token", &token)],
                From::OtherSite,
            )
            .await,
        ));
        pages.push((
            "lane: bought",
            me.post_form(
                "/queue/pages/buy",
                &[("form_token", &token)],
                From::ThisPage,
            )
            .await,
        ));
        pages.push(("lane: sold out", me.until("/queue/pages", "sold_out").await));

        // A line that moves at one a second behind 20 people, then stops.
        let config = SaleConfig {
            stock: 100,
            per_visitor_limit: 1,
            starts_at_ms: herdgate_testkit::now_ms(),
            admission_rate: 1,
            price: None,
            paused: None,
            prequeue: None,
            stock_shards: None,
            countries: Vec::new(),
        };
        s.admin().put_sale("slow", &config).await.unwrap();
        for i in 0..20 {
            s.buyer(&format!("herdgate web test ahead-{i}"))
                .solve_and_join("slow", None)
                .await
                .unwrap();
        }
        let waiter = Visitor::new(&s, "Mozilla/5.0 (herdgate web test) waiter");
        pages.push((
            "lane: waiting",
            waiter.until("/queue/slow", "waiting").await,
        ));
        let (status, body) = s.control("slow", Some(json!({"action": "pause"}))).await;
        assert_eq!(status, 200, "{body}");
        pages.push(("lane: paused", waiter.until("/queue/slow", "paused").await));

        let states: Vec<(&str, u16, &str)> = pages
            .iter()
            .map(|(n, a)| (*n, a.status, a.state()))
            .collect();
        assert_eq!(
            states,
            vec![
                ("waiting room", 200, "joining"),
                ("waiting room of no sale", 404, "refused"),
                ("lane: joining", 200, "joining"),
                ("lane: admitted", 200, "admitted"),
                ("lane: card form", 200, "card"),
                ("lane of no sale", 404, "refused"),
                ("lane: refused (another site)", 403, "refused"),
                ("lane: bought", 200, "bought"),
                ("lane: sold out", 200, "sold_out"),
                ("lane: waiting", 200, "waiting"),
                ("lane: paused", 200, "paused"),
            ]
        );
        for (name, answer) in &pages {
            check_page(name, answer);
        }
        // The waiting room runs its one script, by hash; the lane runs none.
        assert_eq!(inline(&pages[0].1.body).0.len(), 1);

        // Cookies: `__Host-`, so only this host, over a secure connection, may set them, and
        // the visitor kept every one the edge set (lane token, ticket, pass).
        let set = me.set_cookies.lock().unwrap().clone();
        assert!(set.len() >= 3, "{set:?}");
        for line in &set {
            assert!(line.starts_with("__Host-hg_"), "{line}");
            for attribute in ["; Path=/;", "; HttpOnly", "; Secure", "; SameSite=Lax"] {
                assert!(line.contains(attribute), "{line} without {attribute}");
            }
            assert!(!line.to_ascii_lowercase().contains("domain="), "{line}");
        }
        let ticket = me
            .cookie("__Host-hg_tkt_pages")
            .expect("the ticket cookie was kept");
        assert!(me.cookie("__Host-hg_pass_pages").is_some());
        // A ticket in the cookie an earlier version set (no prefix) still counts: a deploy
        // during a sale costs nobody their place.
        let r = me
            .http
            .get(format!("{}/api/v1/sales/pages/status", s.edge.url()))
            .header("user-agent", &me.ua)
            .header("cookie", format!("hg_tkt_pages={ticket}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let (status, body) = herdgate_testkit::read_reply(r).await.unwrap();
        assert_eq!(
            (status, &body["state"]),
            (200, &json!("sold_out")),
            "{body}"
        );
    })
    .await;
}

/// A seated sale in the no-JavaScript lane: best available only. The admitted visitor gets
/// the form (sections with their free seats), holds the best two, sees the hold (after a
/// reload too: a cookie remembers it), gives it back, holds again and buys; a form from
/// another site changes nothing; asking for more seats than any block holds shows the form
/// again with the reason. The origin's books agree at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lane_holds_the_best_seats_then_gives_them_back_or_buys_them() {
    bounded(Duration::from_secs(120), async {
        let builder = edge_support::builder().vars(json!({
            "NOJS_DELAY_SECS": "1",
            "NOJS_REFRESH_SECS": "1",
            "QUEUE_SHARD_COUNT": "1",
        }));
        let s = Stack::start_from(builder).await.unwrap();
        let config = json!({"stock": 0, "per_visitor_limit": 4, "starts_at_ms": herdgate_testkit::now_ms() - 1_000, "admission_rate": 100});
        let (status, body) = s.admin().put_sale_reply("gig", &config).await.unwrap();
        assert_eq!(status, 201, "{body}");
        let row = |n: usize| json!({"id": n.to_string(), "seats": vec![json!({"tier": "std"}); 3]});
        let map = json!({"tiers": {"std": 2500}, "hold_secs": 60, "sections": [{"id": "A", "rows": [row(1), row(2)]}]});
        let url = format!("{}/admin/v1/sales/gig/seats", s.origin.url());
        let reply = s.http.put(url).bearer_auth(&s.keys.admin_token).json(&map).send().await.unwrap();
        assert_eq!(reply.status(), 200);

        let me = Visitor::new(&s, "Mozilla/5.0 (herdgate web test) seats");
        let page = me.until("/queue/gig", "admitted").await;
        assert!(page.body.contains(r#"action="/queue/gig/seats""#), "{}", page.body);
        assert!(page.body.contains("A: 6 free"), "{}", page.body);
        let token = page.form_token();

        // From another site: nothing held.
        let evil = me
            .post_form("/queue/gig/seats", &[("count", "2"), ("form_token", &token)], From::OtherSite)
            .await;
        assert!(evil.refuses(ErrorCode::CrossSiteRequest, CROSS_SITE_SENTENCE), "{}", evil.body);
        // More than a row holds: the form again, with the reason.
        let four = me
            .post_form("/queue/gig/seats", &[("count", "4"), ("form_token", &token)], From::ThisPage)
            .await;
        assert_eq!((four.status, four.state()), (409, "admitted"), "{}", four.body);
        assert!(four.body.contains("There are not that many free seats side by side"), "{}", four.body);

        // The best two: held, shown after the redirect and on a reload.
        let held = me
            .post_form("/queue/gig/seats", &[("count", "2"), ("section", "A"), ("form_token", &token)], From::ThisPage)
            .await;
        assert_eq!(held.status, 303, "{}", held.body);
        let page = me.get("/queue/gig").await;
        assert_eq!(page.state(), "holding", "{}", page.body);
        assert!(page.body.contains("Section A, row 1, seat"), "{}", page.body);
        assert!(page.body.contains("Total: 50.00"), "{}", page.body);
        let confirm = between(&page.body, r#"<form method="post" action=""#, "\"")
            .unwrap()
            .to_owned();
        assert!(confirm.ends_with("/confirm"), "{confirm}");
        let release = confirm.replace("/confirm", "/release");
        // Given back: the form again, and all six seats free.
        let back = me.post_form(&release, &[("form_token", &token)], From::ThisPage).await;
        assert_eq!(back.status, 303, "{}", back.body);
        let page = me.get("/queue/gig").await;
        assert_eq!(page.state(), "admitted", "{}", page.body);
        assert!(page.body.contains("A: 6 free") || page.body.contains("A: 4 free"), "{}", page.body);

        // Held again and bought.
        let held = me
            .post_form("/queue/gig/seats", &[("count", "2"), ("form_token", &token)], From::ThisPage)
            .await;
        assert_eq!(held.status, 303, "{}", held.body);
        let page = me.get("/queue/gig").await;
        let first = between(&page.body, r#"<form method="post" action=""#, "\"").unwrap().to_owned();
        // The browser lost the hold's cookie: asking for seats again takes the same hold up.
        me.jar.lock().unwrap().remove("__Host-hg_seats_gig");
        assert_eq!(me.get("/queue/gig").await.state(), "admitted");
        let again = me
            .post_form("/queue/gig/seats", &[("count", "1"), ("form_token", &token)], From::ThisPage)
            .await;
        assert_eq!(again.status, 303, "{}", again.body);
        let page = me.get("/queue/gig").await;
        assert_eq!(page.state(), "holding", "{}", page.body);
        assert!(page.body.contains("Total: 50.00"), "{}", page.body);
        let confirm = between(&page.body, r#"<form method="post" action=""#, "\"").unwrap().to_owned();
        assert_eq!(confirm, first);
        let bought = me.post_form(&confirm, &[("form_token", &token)], From::ThisPage).await;
        assert_eq!((bought.status, bought.state()), (200, "bought"), "{}", bought.body);
        assert!(bought.body.contains("gig-"), "{}", bought.body);
        // The hold is forgotten: the lane no longer shows it.
        assert!(me.cookie("__Host-hg_seats_gig").is_none());

        // The origin's seats, read again until its one-second copy is past the purchase.
        let mut last = serde_json::Value::Null;
        for _ in 0..50 {
            let url = format!("{}/v1/sales/gig/seats", s.origin.url());
            last = s.http.get(url).send().await.unwrap().json().await.unwrap();
            let a = &last["sections"][0];
            if a["sold"].as_u64() == Some(2) {
                assert_eq!((a["free"].as_u64(), a["held"].as_u64()), (Some(4), Some(0)), "{last}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the origin never showed the two seats sold: {last}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lane_holds_seats_only_with_a_card_on_hold_and_charges_their_price() {
    // Card holds against localstripe and the shards' sweeps: alone, as the payments tests.
    alone(Duration::from_secs(180), async {
        let ls = Localstripe::start().await.unwrap();
        let builder = edge_support::builder().localstripe(&ls).vars(json!({
            "NOJS_DELAY_SECS": "1",
            "NOJS_REFRESH_SECS": "1",
            "QUEUE_SHARD_COUNT": "1",
        }));
        let s = Stack::start_from(builder).await.unwrap();
        // 4 seats at most, 25.00 a seat at most: a card holds 100.00.
        let config = json!({"stock": 0, "per_visitor_limit": 4, "starts_at_ms": herdgate_testkit::now_ms() - 1_000,
                            "admission_rate": 100, "price": {"amount": 2500, "currency": "eur"}});
        let (status, body) = s.admin().put_sale_reply("paidgig", &config).await.unwrap();
        assert_eq!(status, 201, "{body}");
        let row = |n: usize| json!({"id": n.to_string(), "seats": vec![json!({"tier": "std"}); 3]});
        let map = json!({"tiers": {"std": 2500}, "hold_secs": 60, "sections": [{"id": "A", "rows": [row(1), row(2)]}]});
        let url = format!("{}/admin/v1/sales/paidgig/seats", s.origin.url());
        let reply = s.http.put(url).bearer_auth(&s.keys.admin_token).json(&map).send().await.unwrap();
        assert_eq!(reply.status(), 200);

        let me = Visitor::new(&s, "Mozilla/5.0 (herdgate web test) paid seats");
        let page = me.until("/queue/paidgig", "admitted").await;
        assert!(page.body.contains(r#"href="/queue/paidgig/card""#), "{}", page.body);
        let token = page.form_token();
        // Without a card on hold: nothing held, the reason, and the card form offered.
        let refused = me
            .post_form("/queue/paidgig/seats", &[("count", "2"), ("form_token", &token)], From::ThisPage)
            .await;
        assert_eq!((refused.status, refused.state()), (402, "admitted"), "{}", refused.body);
        assert!(refused.body.contains("Put your card on hold"), "{}", refused.body);
        assert!(refused.body.contains(r#"href="/queue/paidgig/card""#), "{}", refused.body);

        // The card on hold, from the lane's card page.
        let card = me.get("/queue/paidgig/card").await;
        let hold_token = card.form_token();
        let fields = [
            ("number", "4242424242424242"),
            ("exp", "12/30"),
            ("cvc", "123"),
            ("form_token", hold_token.as_str()),
        ];
        let held = me.post_form("/queue/paidgig/hold", &fields, From::ThisPage).await;
        assert_eq!(held.status, 303, "{}", held.body);
        let page = me.get("/queue/paidgig").await;
        assert_eq!(page.state(), "admitted", "{}", page.body);
        assert!(page.body.contains("Card on hold: 100.00 EUR"), "{}", page.body);

        // Two seats held, then bought: the card is charged their 50.00 and no more.
        let seats = me
            .post_form("/queue/paidgig/seats", &[("count", "2"), ("form_token", &token)], From::ThisPage)
            .await;
        assert_eq!(seats.status, 303, "{}", seats.body);
        let page = me.get("/queue/paidgig").await;
        assert_eq!(page.state(), "holding", "{}", page.body);
        let confirm = between(&page.body, r#"<form method="post" action=""#, "\"").unwrap().to_owned();
        let bought = me.post_form(&confirm, &[("form_token", &token)], From::ThisPage).await;
        assert_eq!((bought.status, bought.state()), (200, "bought"), "{}", bought.body);
        let intents = ls.intents().await.unwrap();
        assert_eq!(intents.len(), 1, "{intents:?}");
        let charge = &intents[0]["charges"]["data"][0];
        assert_eq!(
            (&intents[0]["status"], &charge["amount"], &charge["amount_refunded"]),
            (&json!("succeeded"), &json!(10_000), &json!(5_000)),
            "{}",
            intents[0]
        );
    })
    .await;
}
