//! `herdgate-bench capture`: what a card hold adds to a winner's checkout.
//!
//! One origin (in this process), one redis-server and localstripe. Two sales with the same
//! stock: one without a price, one with (card holds). The buyers' holds are authorised at
//! localstripe beforehand, as the edge does while they queue, and are not timed. Then, one at a
//! time and interleaved so both see the same machine, each buyer buys in both sales: the
//! baseline purchase (pass check and the Lua script) and the purchase that also captures the
//! hold and records the capture. A third series times the gateway's capture call alone
//! (other holds, the origin's own transport), to show where the difference goes.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use hdrhistogram::Histogram;
use herdgate_core::wire::{Price, SaleConfig};
use herdgate_core::{SaleId, VisitorId};
use herdgate_origin::payments::HttpTransport;
use herdgate_pay::{Capture, HoldRequest, PaymentGateway, Stripe, StripeConfig};
use herdgate_testkit::{
    now_ms, AdminClient, Localstripe, OriginOptions, RedisServer, TestKeys, TestOrigin,
};

/// Options of `herdgate-bench capture`.
#[derive(clap::Args)]
pub struct CaptureArgs {
    /// Buyers (purchases per series).
    #[arg(long, default_value_t = 300)]
    pub buyers: usize,
    /// Write the results into this markdown file's capture section.
    #[arg(long)]
    pub write: Option<std::path::PathBuf>,
}

const PRICE: u64 = 1500;

fn histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

async fn create_sale(
    http: &reqwest::Client,
    origin: &str,
    keys: &TestKeys,
    sale: &str,
    stock: usize,
    priced: bool,
) -> Result<()> {
    let config = SaleConfig {
        stock: stock as u64,
        per_visitor_limit: 1,
        starts_at_ms: now_ms() - 60_000,
        admission_rate: 1000,
        price: priced.then(|| Price {
            amount: PRICE,
            currency: "eur".into(),
        }),
        paused: None,
        prequeue: None,
        stock_shards: None,
        countries: Vec::new(),
    };
    AdminClient::new(http.clone(), origin, &keys.admin_token)
        .put_sale(sale, &config)
        .await
        .with_context(|| format!("creating {sale}"))?;
    Ok(())
}

/// A hold at localstripe, as the edge makes it (the same gateway code, another transport).
async fn hold(gateway: &Stripe<HttpTransport>, key: &str) -> Result<String> {
    let intent = gateway
        .hold(&HoldRequest {
            amount: PRICE,
            currency: "eur",
            payment_method: "pm_card_visa",
            idempotency_key: key,
            metadata: &[],
        })
        .await?;
    Ok(intent.id)
}

async fn buy(http: &reqwest::Client, origin: &str, sale: &str, pass: &str) -> Result<u64> {
    let t = Instant::now();
    let r = http
        .post(format!("{origin}/v1/sales/{sale}/purchase"))
        .bearer_auth(pass)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await?;
    let status = r.status();
    let body = r.text().await?;
    let us = t.elapsed().as_micros() as u64;
    ensure!(
        status.as_u16() == 201,
        "purchase in {sale}: {status} {body}"
    );
    Ok(us)
}

/// Runs the benchmark, prints its report and writes it if asked.
pub async fn run(args: CaptureArgs) -> Result<()> {
    let report = measure(&args).await?;
    crate::sections::publish(args.write.as_deref(), "capture", &report)
}

/// Runs the benchmark and returns its markdown report.
async fn measure(args: &CaptureArgs) -> Result<String> {
    let redis = RedisServer::start().await?;
    let ls = Localstripe::start().await?;
    let keys = TestKeys::generate();
    let origin = TestOrigin::start(
        &redis.url(),
        &keys,
        OriginOptions {
            stripe_api_base: Some(ls.url().to_owned()),
            ..OriginOptions::default()
        },
    )
    .await?;
    let origin = origin.url();
    let http = reqwest::Client::builder().build()?;
    let gateway = Stripe::new(
        StripeConfig::new(ls.url(), Localstripe::SECRET_KEY)?,
        HttpTransport::new(Duration::from_secs(10))?,
    );
    let n = args.buyers.max(1);
    create_sale(&http, &origin, &keys, "plain", n, false).await?;
    create_sale(&http, &origin, &keys, "held", n, true).await?;
    let (plain, held) = (SaleId::parse("plain")?, SaleId::parse("held")?);
    let mut holds = Vec::with_capacity(n);
    let mut spare = Vec::with_capacity(n);
    for i in 0..n {
        holds.push(hold(&gateway, &format!("bench-hold-{i}")).await?);
        spare.push(hold(&gateway, &format!("bench-spare-{i}")).await?);
    }
    let now_s = now_ms() / 1000;
    let (mut base, mut with_capture, mut capture_alone) =
        (histogram()?, histogram()?, histogram()?);
    for (i, (intent, other)) in holds.iter().zip(&spare).enumerate() {
        let visitor = VisitorId::parse(&format!("b{i}"))?;
        let pass = keys.pass(&plain, &visitor);
        base.record(buy(&http, &origin, "plain", &pass).await?)?;
        let mut claims = keys.pass_claims(&held, &visitor);
        claims.hold = intent.clone();
        claims.hat = now_s;
        let pass = keys.keyring.sign(&claims);
        with_capture.record(buy(&http, &origin, "held", &pass).await?)?;
        let t = Instant::now();
        let captured = gateway
            .capture(other, PRICE, &format!("bench-capture-{i}"))
            .await?;
        ensure!(
            matches!(captured, Capture::Captured(_)),
            "capture: {captured:?}"
        );
        capture_alone.record(t.elapsed().as_micros() as u64)?;
    }
    let census = ls.census().await?;
    ensure!(
        census.get("succeeded") == Some(&(2 * n)),
        "expected {} captured intents, found {census:?}",
        2 * n
    );
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let row = |name: &str, h: &Histogram<u64>| {
        format!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2}× |\n",
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.5) / ms(&base, 0.5)
        )
    };
    let mut s = format!(
        "Command: `scripts/bench-capture.sh` (`herdgate-bench capture --buyers {n}`): {n} buyers, \
         one request at a time, the two purchases of each buyer interleaved; localstripe 1.15.10 \
         on loopback.\n\n\
         | series | p50 | p90 | p99 | p50 / baseline |\n|---|---|---|---|---|\n"
    );
    s.push_str(&row("purchase without a hold (baseline)", &base));
    s.push_str(&row("purchase that captures the hold", &with_capture));
    s.push_str(&row("the gateway's capture call alone", &capture_alone));
    s.push_str(&format!(
        "\nExtra checkout latency per winner (p50): {:.2} ms, of which the processor's capture \
         call is {:.2} ms; all {} holds captured exactly once ({} intents `succeeded`).\n",
        ms(&with_capture, 0.5) - ms(&base, 0.5),
        ms(&capture_alone, 0.5),
        2 * n,
        census.get("succeeded").copied().unwrap_or(0)
    ));
    Ok(s)
}
