//! The edge's OpenAPI document, `docs/openapi.json`, against the edge itself.
//!
//! - The document's `ErrorCode` enum is `ErrorCode::ALL`, with each code's status, and every
//!   code a response lists (`x-herdgate-codes`) is sent with that response's status.
//! - Every documented operation is asked at least once (refusals the test can make without a
//!   purchase: no token, a bad sale id, a bad body, another site; and the buyer's whole path
//!   through the testkit client); each answer's status is documented for the operation, a JSON
//!   refusal's code is listed under that status, an answer's media type is one the response
//!   documents, and a 2xx JSON body has the documented schema's required keys and no other
//!   top-level key than its properties.
//! - An address the document does not list answers 404 `not_found`; another method on a
//!   listed address answers what its path item's `x-herdgate-other-methods` says.
//!
//! No JSON Schema crate: the schema check is the small hand-written one in [`keys_fit`].

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use herdgate_core::wire::{ChallengeResponse, QueueStatus};
use herdgate_core::ErrorCode;
use serde_json::{json, Value};

use crate::edge_support::{pass_of, Stack};
use crate::support::bounded;

const UA: &str = "Mozilla/5.0 (herdgate openapi test)";

/// The HTTP methods a path item may hold, as OpenAPI spells them.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    let path = herdgate_testkit::repo_root().join("docs/openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `v`, with every `$ref` (local: `#/…`) followed.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(target) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("not a local reference: {target}"));
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling reference {target}"));
    }
    panic!("a reference loop at {v}");
}

fn object<'a>(v: &'a Value, what: &str) -> &'a serde_json::Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"))
}

/// Every operation: (path template, method, operation).
fn operations(doc: &Value) -> Vec<(String, &'static str, &Value)> {
    let mut out = Vec::new();
    for (path, item) in object(&doc["paths"], "paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method, op));
            }
        }
    }
    out
}

/// Every response object that lists refusal codes, with its status key and where it is.
fn coded_responses(doc: &Value) -> Vec<(String, String, &Value)> {
    type Coded<'a> = Vec<(String, String, &'a Value)>;
    fn add<'a>(doc: &'a Value, out: &mut Coded<'a>, place: String, responses: &'a Value) {
        for (status, response) in object(responses, &place) {
            let response = resolve(doc, response);
            if response.get("x-herdgate-codes").is_some() {
                out.push((place.clone(), status.clone(), response));
            }
        }
    }
    let mut out = Vec::new();
    for (path, method, op) in operations(doc) {
        add(doc, &mut out, format!("{method} {path}"), &op["responses"]);
    }
    for (path, item) in object(&doc["paths"], "paths") {
        if let Some(other) = item.get("x-herdgate-other-methods") {
            add(doc, &mut out, format!("other methods of {path}"), other);
        }
    }
    for (name, response) in object(&doc["components"]["responses"], "components.responses") {
        if let Some(codes) = response.get("x-herdgate-codes") {
            // A named response carries no status of its own: its codes must agree on one.
            let statuses: BTreeSet<u16> = codes
                .as_array()
                .unwrap()
                .iter()
                .map(|c| code_of(c, name).status())
                .collect();
            assert_eq!(statuses.len(), 1, "{name} mixes statuses {statuses:?}");
        }
    }
    out
}

fn code_of(v: &Value, place: &str) -> ErrorCode {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|_| panic!("{place} lists {v}, which is no ErrorCode"))
}

fn codes_of<'a>(response: &'a Value, place: &str) -> Vec<&'a str> {
    response["x-herdgate-codes"]
        .as_array()
        .unwrap_or_else(|| panic!("{place}: x-herdgate-codes is not an array"))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}

/// (a) The document's codes are `ErrorCode::ALL`, each with its status, everywhere.
#[test]
fn the_document_lists_every_error_code_with_its_status() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
    let code_schema = resolve(
        &doc,
        &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"],
    );
    let documented: BTreeSet<&str> = code_schema["enum"]
        .as_array()
        .expect("the Error schema's code has an enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let all: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let missing: Vec<_> = all.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&all).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "the ErrorCode enum misses {missing:?} and has codes herdgate lacks {unknown:?}"
    );
    assert_eq!(
        documented.len(),
        code_schema["enum"].as_array().unwrap().len(),
        "a code is listed twice"
    );
    let statuses = object(&code_schema["x-herdgate-status"], "x-herdgate-status");
    for &code in ErrorCode::ALL {
        assert_eq!(
            statuses.get(code.as_str()).and_then(Value::as_u64),
            Some(u64::from(code.status())),
            "x-herdgate-status of {code}"
        );
    }

    // Every listed code is sent with the status it is listed under.
    let mut listed = HashSet::new();
    for (place, status, response) in coded_responses(&doc) {
        let status: u16 = status
            .parse()
            .unwrap_or_else(|_| panic!("{place}: codes under response {status}, not a status"));
        for name in codes_of(response, &place) {
            let code = code_of(&json!(name), &place);
            assert_eq!(
                code.status(),
                status,
                "{place}: {code} is listed under {status} but is sent with {}",
                code.status()
            );
            listed.insert(code);
        }
    }
    // And every code is answered somewhere, or said to be the origin's alone.
    let origin_only: HashSet<ErrorCode> = code_schema["x-herdgate-origin-only"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| code_of(c, "x-herdgate-origin-only"))
                .collect()
        })
        .unwrap_or_default();
    for &code in ErrorCode::ALL {
        assert!(
            listed.contains(&code) != origin_only.contains(&code),
            "{code} must be listed under some response, or else be origin-only (not both)"
        );
    }

    // Every operation documents its refusals as Error bodies or pages, and one success.
    for (path, method, op) in operations(&doc) {
        let responses = object(&op["responses"], &path);
        assert!(
            responses
                .keys()
                .any(|k| k.starts_with('2') || k.starts_with('3')),
            "{method} {path} documents no success"
        );
        assert!(
            op.get("operationId").is_some(),
            "{method} {path} has no operationId"
        );
    }
}

/// An answer of the edge, as the checks read it.
struct Answer {
    status: u16,
    /// The media type, without parameters; `None` when the test did not see the headers.
    media: Option<String>,
    body: Value,
}

/// Whether `body`'s top-level keys fit `schema`: its required properties are there, there is
/// no key it does not name, and a property it fixes (`const`) has that value. A `oneOf` fits if
/// one of its schemas does.
fn keys_fit(doc: &Value, schema: &Value, body: &Value) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
        let why: Vec<String> = alternatives
            .iter()
            .filter_map(|alt| keys_fit(doc, alt, body).err())
            .collect();
        return if why.len() < alternatives.len() {
            Ok(())
        } else {
            Err(format!("no alternative fits: {}", why.join("; ")))
        };
    }
    if schema.get("type").and_then(Value::as_str) == Some("null") {
        return if body.is_null() {
            Ok(())
        } else {
            Err("not null".into())
        };
    }
    let Some(fields) = body.as_object() else {
        return Err(format!("{body} is not an object"));
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = required.as_str().unwrap();
        if !fields.contains_key(name) {
            return Err(format!("required `{name}` is missing"));
        }
    }
    if let Some(properties) = properties {
        for (name, value) in fields {
            let Some(property) = properties.get(name) else {
                return Err(format!("`{name}` is not a documented property"));
            };
            if let Some(want) = resolve(doc, property).get("const") {
                if value != want {
                    return Err(format!("`{name}` is {value}, not {want}"));
                }
            }
        }
    }
    Ok(())
}

/// Checks a JSON answer (`status`, `body`) to `method` `template` against docs/openapi.json, as
/// the tests of other files see them: documented status, code and body shape.
pub(crate) fn check_documented(
    method: &str,
    template: &str,
    status: u16,
    body: &Value,
    what: &str,
) {
    let answer = Answer {
        status,
        media: Some(JSON.to_owned()),
        body: body.clone(),
    };
    check_answer(&document(), method, template, &answer, what);
}

/// Checks `answer` to `method template` against the document and returns the response object
/// it was found under.
fn check_answer<'a>(
    doc: &'a Value,
    method: &str,
    template: &str,
    answer: &Answer,
    what: &str,
) -> &'a Value {
    let place = format!("{method} {template} ({what})");
    let op = doc["paths"]
        .get(template)
        .and_then(|item| item.get(method))
        .unwrap_or_else(|| panic!("{place}: the document has no such operation"));
    let responses = object(&op["responses"], &place);
    let status = answer.status.to_string();
    let (key, response) = match responses.get(&status) {
        Some(r) => (status.as_str(), resolve(doc, r)),
        None => match responses.get("default") {
            Some(r) => ("default", resolve(doc, r)),
            None => panic!(
                "{place}: answered {status}, which is not documented (documented: {:?}); body {}",
                responses.keys().collect::<Vec<_>>(),
                answer.body
            ),
        },
    };
    if key == "default" {
        // Passed on as it is (the origin's answer below the room): nothing more is promised.
        return response;
    }
    let content = response.get("content").and_then(Value::as_object);
    if let (Some(media), Some(content)) = (&answer.media, content) {
        if method != "head" && !media.is_empty() {
            assert!(
                content.contains_key(media.as_str()),
                "{place}: answered {status} as {media}; documented: {:?}",
                content.keys().collect::<Vec<_>>()
            );
        }
    }
    let is_json = answer
        .media
        .as_deref()
        .map_or(answer.body.is_object(), |m| m == "application/json");
    if is_json {
        if let Some(code) = answer.body["error"]["code"].as_str() {
            let listed = response
                .get("x-herdgate-codes")
                .map(|_| codes_of(response, &place))
                .unwrap_or_default();
            assert!(
                listed.contains(&code),
                "{place}: refused {status} `{code}`, which that response does not list ({listed:?})"
            );
        } else if answer.status < 300 {
            let schema = content
                .and_then(|c| c.get("application/json"))
                .map(|m| &m["schema"])
                .unwrap_or_else(|| panic!("{place}: {status} has no JSON schema"));
            if let Err(why) = keys_fit(doc, schema, &answer.body) {
                panic!(
                    "{place}: the {status} body does not fit its schema: {why}; body {}",
                    answer.body
                );
            }
        }
    }
    response
}

// The documented paths the test asks.
const HEALTH: &str = "/healthz";
const SALE: &str = "/api/v1/sales/{sale}";
const CHALLENGE: &str = "/api/v1/sales/{sale}/challenge";
const JOIN: &str = "/api/v1/sales/{sale}/join";
const STATUS: &str = "/api/v1/sales/{sale}/status";
const HOLD: &str = "/api/v1/sales/{sale}/hold";
const PURCHASE: &str = "/api/v1/sales/{sale}/purchase";
const SEATS: &str = "/api/v1/sales/{sale}/seats";
const SEAT_HOLDS: &str = "/api/v1/sales/{sale}/seat-holds";
const SEAT_HOLD_CONFIRM: &str = "/api/v1/sales/{sale}/seat-holds/{hold}/confirm";
const SEAT_HOLD: &str = "/api/v1/sales/{sale}/seat-holds/{hold}";
const CONTROL: &str = "/admin/v1/sales/{sale}/control";
const STORAGE: &str = "/admin/v1/sales/{sale}/storage";
const COUNTERS: &str = "/admin/v1/sales/{sale}/counters";
const DRAW: &str = "/api/v1/sales/{sale}/draw";
const DRAW_ENTRIES: &str = "/api/v1/sales/{sale}/draw/entries";
const ROOM: &str = "/sales/{sale}";
const BELOW: &str = "/sales/{sale}/{path}";
const LANE: &str = "/queue/{sale}";
const LANE_BUY: &str = "/queue/{sale}/buy";
const LANE_CARD: &str = "/queue/{sale}/card";
const LANE_HOLD: &str = "/queue/{sale}/hold";
const LANE_SEATS: &str = "/queue/{sale}/seats";
const LANE_SEATS_CONFIRM: &str = "/queue/{sale}/seats/{hold}/confirm";
const LANE_SEATS_RELEASE: &str = "/queue/{sale}/seats/{hold}/release";

/// The test's `{hold}`: a seat hold id as the origin makes them (32 lowercase hex digits), of
/// no hold.
const HOLD_ID: &str = "0123456789abcdef0123456789abcdef";

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// A request of the test's own (never with a `DPoP` header: the proofs are the testkit
/// client's).
struct Probe {
    method: &'static str,
    template: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, String)>,
    what: &'static str,
}

/// `method` at `template`, with `sale` for `{sale}` (and `checkout` for `{path}`, [`HOLD_ID`] for
/// `{hold}`).
fn probe(method: &'static str, template: &'static str, sale: &str, what: &'static str) -> Probe {
    Probe {
        method,
        template,
        path: concrete(template, sale),
        headers: Vec::new(),
        body: None,
        what,
    }
}

/// `method` at `path` as it is, of no documented operation.
fn at(method: &'static str, path: &str, what: &'static str) -> Probe {
    Probe {
        method,
        template: "",
        path: path.to_owned(),
        headers: Vec::new(),
        body: None,
        what,
    }
}

impl Probe {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    fn query(mut self, query: &str) -> Self {
        self.path = format!("{}?{query}", self.path);
        self
    }

    fn body(mut self, content_type: &'static str, body: &str) -> Self {
        self.body = Some((content_type, body.to_owned()));
        self
    }

    fn json(self, body: &str) -> Self {
        self.body(JSON, body)
    }

    /// As a browser of another site sends it.
    fn cross_site(self) -> Self {
        self.header("origin", "https://elsewhere.example")
            .header("sec-fetch-site", "cross-site")
    }
}

async fn send(http: &reqwest::Client, edge: &str, p: &Probe) -> Answer {
    let method = reqwest::Method::from_bytes(p.method.to_uppercase().as_bytes()).unwrap();
    let request = || {
        let mut request = http
            .request(method.clone(), format!("{edge}{}", p.path))
            .header("user-agent", UA);
        for (name, value) in &p.headers {
            request = request.header(*name, value);
        }
        if let Some((content_type, body)) = &p.body {
            if !content_type.is_empty() {
                request = request.header("content-type", *content_type);
            }
            request = request.body(body.clone());
        }
        request
    };
    // A refusal sent before the body was read (one too large) can race the body on the same
    // connection and reach the client as a reset: such a probe is sent again, on a fresh
    // connection, a few times. A status is never retried.
    let mut sent = request().send().await;
    for _ in 0..3 {
        if sent.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        sent = request().send().await;
    }
    let response =
        sent.unwrap_or_else(|e| panic!("{} {} ({}): no answer: {e}", p.method, p.path, p.what));
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let text = response.text().await.unwrap_or_default();
    let body = if media == "application/json" {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    };
    Answer {
        status,
        media: Some(media),
        body,
    }
}

/// Whether `path` (no query) is one the template names: `{…}` is any one segment.
fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}')) || t == p)
}

/// The test's concrete address for a template.
fn concrete(template: &str, sale: &str) -> String {
    template
        .replace("{sale}", sale)
        .replace("{path}", "checkout")
        .replace("{hold}", HOLD_ID)
}

/// (b) and (c): every documented operation asked, and the addresses and methods it does not
/// list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_answers_as_its_openapi_document_says() {
    bounded(Duration::from_secs(150), async {
        let doc = document();
        let s = Stack::start().await.unwrap();
        let sale = "spec";
        s.sale(sale, 5, 60_000, 1_000).await;
        // A sale with a pre-queue that closes in an hour: its draw is committed, not made.
        let start = herdgate_testkit::now_ms() + 3_600_000;
        let drawn = herdgate_core::wire::SaleConfig {
            stock: 5,
            per_visitor_limit: 1,
            starts_at_ms: start,
            admission_rate: 10,
            price: None,
            paused: None,
            prequeue: Some(herdgate_core::wire::Prequeue {
                opens_at_ms: start - 3_600_000,
                draw_window_ms: 0,
            }),
            stock_shards: None,
            countries: Vec::new(),
        };
        s.admin().put_sale("drawn", &drawn).await.unwrap();
        let edge = s.edge.url().to_owned();
        // Redirects are answers too: not followed.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let a = s.keys.admin_token.as_str();
        let probes = vec![
            probe("get", HEALTH, "", "health"),
            probe("get", SALE, "spec", "the sale"),
            probe("get", SALE, "no-such-sale", "unknown sale"),
            probe("get", SALE, "bad.id", "invalid sale id"),
            // Without a proof: a challenge while binding is off, `proof_required` once on.
            probe("post", CHALLENGE, "spec", "no proof"),
            probe("post", CHALLENGE, "spec", "body not JSON").body("text/plain", "not json"),
            probe("post", CHALLENGE, "spec", "another site").cross_site(),
            probe("post", CHALLENGE, "no-such-sale", "unknown sale"),
            probe("post", JOIN, "spec", "body not declared JSON").body("", "{}"),
            probe("post", JOIN, "spec", "empty object").json("{}"),
            probe("post", JOIN, "spec", "not a challenge")
                .json(r#"{"challenge":"not-a-token","nonce":1}"#),
            probe("post", JOIN, "spec", "another site")
                .json("{}")
                .cross_site(),
            probe("get", STATUS, "spec", "no ticket"),
            probe("get", STATUS, "spec", "not a ticket").bearer("not-a-token"),
            probe("get", STATUS, "bad.id", "invalid sale id"),
            probe("post", HOLD, "spec", "no payments here").json("{}"),
            probe("post", HOLD, "spec", "body not declared JSON").body("text/plain", "{}"),
            probe("get", HOLD, "spec", "no ticket"),
            probe("post", PURCHASE, "spec", "no pass").json("{}"),
            probe("post", PURCHASE, "spec", "body not declared JSON").body("text/plain", "{}"),
            probe("post", PURCHASE, "spec", "broken JSON")
                .bearer("not-a-token")
                .json("{\"quantity\":"),
            probe("post", PURCHASE, "spec", "body too large")
                .json(&format!("{{\"pad\":\"{}\"}}", "x".repeat(5_000))),
            // The seat routes, at a sale of items: each refused before the sale is asked.
            probe("get", SEATS, "spec", "no pass"),
            probe("get", SEATS, "spec", "not a pass").bearer("not-a-token"),
            // The query is checked before the pass.
            probe("get", SEATS, "spec", "an unknown query parameter").query("x=1"),
            probe("get", SEATS, "spec", "a section twice").query("section=A&section=A"),
            probe("get", SEATS, "bad.id", "invalid sale id"),
            probe("post", SEAT_HOLDS, "spec", "no pass").json(r#"{"best":{"count":1}}"#),
            probe("post", SEAT_HOLDS, "spec", "body not declared JSON").body("text/plain", "{}"),
            probe("post", SEAT_HOLDS, "spec", "another site")
                .json(r#"{"seats":["A/1/1"]}"#)
                .cross_site(),
            probe("post", SEAT_HOLDS, "spec", "body too large")
                .json(&format!("{{\"pad\":\"{}\"}}", "x".repeat(5_000))),
            probe("post", SEAT_HOLD_CONFIRM, "spec", "no pass").json("{}"),
            probe("post", SEAT_HOLD_CONFIRM, "spec", "not declared JSON"),
            probe("post", SEAT_HOLD_CONFIRM, "spec", "another site")
                .json("{}")
                .cross_site(),
            probe("delete", SEAT_HOLD, "spec", "no pass"),
            probe("delete", SEAT_HOLD, "spec", "another site").cross_site(),
            probe("get", CONTROL, "spec", "no token"),
            probe("get", CONTROL, "spec", "operator").bearer(a),
            probe("post", CONTROL, "spec", "no such action")
                .bearer(a)
                .json(r#"{"action":"explode"}"#),
            probe("post", CONTROL, "spec", "resume")
                .bearer(a)
                .json(r#"{"action":"resume"}"#),
            probe("post", CONTROL, "spec", "no token").json(r#"{"action":"pause"}"#),
            probe("get", STORAGE, "spec", "no token"),
            probe("get", STORAGE, "spec", "operator").bearer(a),
            probe("get", COUNTERS, "spec", "no token"),
            probe("get", COUNTERS, "spec", "operator").bearer(a),
            probe("get", COUNTERS, "no-such-sale", "unknown sale").bearer(a),
            probe("get", DRAW, "drawn", "a draw not made yet"),
            probe("get", DRAW, "spec", "no draw"),
            probe("get", DRAW, "bad.id", "invalid sale id"),
            probe("get", DRAW_ENTRIES, "drawn", "not made yet").query("shard=0"),
            probe("get", DRAW_ENTRIES, "drawn", "no shard"),
            probe("get", DRAW_ENTRIES, "drawn", "shard out of range").query("shard=99"),
            probe("get", DRAW_ENTRIES, "spec", "no draw").query("shard=0"),
            probe("get", ROOM, "spec", "the room as a page"),
            probe("get", ROOM, "spec", "the room as JSON").header("accept", JSON),
            probe("get", ROOM, "no-such-sale", "unknown sale, page"),
            probe("get", ROOM, "no-such-sale", "unknown sale, JSON").header("accept", JSON),
            probe("head", ROOM, "spec", "the room, head"),
            probe("get", BELOW, "spec", "below the room, no pass"),
            probe("get", BELOW, "spec", "below the room, a bad pass")
                .header("cookie", "__Host-hg_pass_spec=not-a-token"),
            probe("head", BELOW, "spec", "below the room, head"),
            probe("get", LANE, "spec", "the lane"),
            probe("get", LANE, "spec", "the lane, in German").query("lang=de"),
            probe("get", LANE, "bad.id", "invalid sale id"),
            probe("get", LANE, "no-such-sale", "unknown sale"),
            probe("post", LANE_BUY, "spec", "no pass").body(FORM, "form_token=x"),
            probe("post", LANE_SEATS, "spec", "no pass").body(FORM, "count=2&form_token=x"),
            probe("post", LANE_SEATS, "spec", "another site")
                .body(FORM, "count=2&form_token=x")
                .cross_site(),
            probe("post", LANE_SEATS_CONFIRM, "spec", "no pass").body(FORM, "form_token=x"),
            probe("post", LANE_SEATS_RELEASE, "spec", "no pass").body(FORM, "form_token=x"),
            probe("post", LANE_BUY, "spec", "another site")
                .body(FORM, "form_token=x")
                .cross_site(),
            probe("get", LANE_CARD, "spec", "no payments here"),
            probe("post", LANE_HOLD, "spec", "no ticket").body(
                FORM,
                "number=4242424242424242&exp=12%2F40&cvc=123&form_token=x",
            ),
        ];

        // Every probe is of a documented operation, and every operation is probed.
        let mut asked = HashSet::new();
        for p in &probes {
            assert!(
                matches(p.template, p.path.split('?').next().unwrap()),
                "probe {} is not at {}",
                p.path,
                p.template
            );
            asked.insert((p.template.to_owned(), p.method));
        }
        for (template, method, _) in operations(&doc) {
            // The buyer's path below asks these too, with the testkit client.
            let asked_here = asked.contains(&(template.clone(), method));
            assert!(asked_here, "the test asks nothing of {method} {template}");
        }
        for (template, method) in &asked {
            assert!(
                doc["paths"]
                    .get(template)
                    .and_then(|i| i.get(*method))
                    .is_some(),
                "a probe asks {method} {template}, which the document does not list"
            );
        }

        for p in &probes {
            let answer = send(&http, &edge, p).await;
            check_answer(&doc, p.method, p.template, &answer, p.what);
        }

        // The buyer's whole path, through the testkit client (which adds the proofs).
        let me = s.buyer(UA);
        let reply = |(status, body): (u16, Value)| Answer {
            status,
            media: None,
            body,
        };
        let challenge = reply(me.challenge_reply(sale, None).await.unwrap());
        check_answer(&doc, "post", CHALLENGE, &challenge, "the buyer");
        assert_eq!(
            challenge.status, 200,
            "the buyer's challenge: {}",
            challenge.body
        );
        let c: ChallengeResponse = serde_json::from_value(challenge.body).unwrap();
        let nonce = herdgate_testkit::solve(&c).await.unwrap();

        // A nonce that (most likely) does not solve it, first: answered as documented.
        let wrong = me.join_reply(sale, &c.challenge, nonce.wrapping_add(1));
        check_answer(
            &doc,
            "post",
            JOIN,
            &reply(wrong.await.unwrap()),
            "another nonce",
        );

        let joined = reply(me.join_reply(sale, &c.challenge, nonce).await.unwrap());
        check_answer(&doc, "post", JOIN, &joined, "the buyer");
        assert_eq!(joined.status, 201, "the buyer's join: {}", joined.body);
        let ticket = joined.body["ticket"].as_str().unwrap().to_owned();
        // The same join again: the same place, still documented.
        let again = reply(me.join_reply(sale, &c.challenge, nonce).await.unwrap());
        check_answer(&doc, "post", JOIN, &again, "the same join again");

        let status = reply(me.status_reply(sale, &ticket).await.unwrap());
        check_answer(&doc, "get", STATUS, &status, "the buyer");
        assert_eq!(status.status, 200, "the buyer's status: {}", status.body);
        let pass = pass_of(&serde_json::from_value::<QueueStatus>(status.body).unwrap());

        let hold = reply(me.hold_state_reply(sale, &ticket).await.unwrap());
        check_answer(&doc, "get", HOLD, &hold, "a ticket without a hold");

        let with_ticket = probe("get", ROOM, sale, "the room with a ticket")
            .header("accept", JSON)
            .bearer(&ticket);
        let room = send(&http, &edge, &with_ticket).await;
        check_answer(&doc, "get", ROOM, &room, with_ticket.what);

        let two = json!({"quantity": 2});
        let over = me.purchase_reply(sale, Some(&pass), &two);
        check_answer(
            &doc,
            "post",
            PURCHASE,
            &reply(over.await.unwrap()),
            "over the limit",
        );

        let bought = reply(
            me.purchase_reply(sale, Some(&pass), &json!({}))
                .await
                .unwrap(),
        );
        check_answer(&doc, "post", PURCHASE, &bought, "the buyer");
        assert_eq!(bought.status, 201, "the buyer's purchase: {}", bought.body);
        let again = reply(
            me.purchase_reply(sale, Some(&pass), &json!({}))
                .await
                .unwrap(),
        );
        check_answer(&doc, "post", PURCHASE, &again, "the same purchase again");
        assert_eq!(again.status, 200, "a retry: {}", again.body);
        assert_eq!(again.body["created"], false);

        // (c) Addresses the document does not list: 404 `not_found`, as its NotFound says.
        let not_found = doc.pointer("/components/responses/NotFound").unwrap();
        assert!(codes_of(not_found, "NotFound").contains(&"not_found"));
        let templates: Vec<&String> = object(&doc["paths"], "paths").keys().collect();
        let unlisted = [
            "/nope",
            "/api/v2/sales/spec",
            "/api/v1/sales",
            "/queue/spec/card/more",
            "/admin/v1/sales/spec",
        ];
        for path in unlisted {
            assert!(
                !templates.iter().any(|t| matches(t, path)),
                "{path} is documented after all"
            );
            let answer = send(&http, &edge, &at("get", path, "unlisted")).await;
            assert_eq!(
                (answer.status, answer.body["error"]["code"].as_str()),
                (404, Some("not_found")),
                "GET {path}: {}",
                answer.body
            );
        }

        // Another method at a listed address: what its path item's x-herdgate-other-methods
        // says (405 `method_not_allowed`; 404 `not_found` at the room and below).
        for (template, item) in object(&doc["paths"], "paths") {
            let other = item
                .get("x-herdgate-other-methods")
                .unwrap_or_else(|| panic!("{template} says nothing of other methods"));
            let method = ["post", "get", "put"]
                .into_iter()
                .find(|m| item.get(*m).is_none())
                .unwrap();
            let path = concrete(template, sale);
            let answer = send(&http, &edge, &at(method, &path, "another method")).await;
            let response = other
                .get(answer.status.to_string())
                .map(|r| resolve(&doc, r))
                .unwrap_or_else(|| {
                    panic!(
                        "{method} {path}: answered {} {}, not what x-herdgate-other-methods says",
                        answer.status, answer.body
                    )
                });
            let code = answer.body["error"]["code"].as_str().unwrap_or("<no code>");
            assert!(
                codes_of(response, template).contains(&code),
                "{method} {path}: refused `{code}`, which x-herdgate-other-methods does not list"
            );
        }
    })
    .await;
}
