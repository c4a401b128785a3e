//! The `herdgate` command against a real origin and a real redis-server: a sale driven from
//! creation through its schedule, pause, rate and audit to its report, and every kind of refusal, each with
//! the server's code and sentence, the right exit status and the token never printed.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use herdgate_testkit::{OriginOptions, RedisServer, TestKeys, TestOrigin};
use serde_json::Value;

/// What one run of the command left.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `herdgate args…` against `url` with `token`, with an empty home (no config file), at
/// most 30 s.
async fn herdgate(url: &str, token: &str, args: &[&str]) -> Result<Run> {
    let home = tempfile::tempdir()?;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herdgate"))
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("HERDGATE_ADMIN_URL", url)
        .env("HERDGATE_ADMIN_TOKEN", token)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), child)
        .await
        .context("herdgate took over 30 s")??;
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout)?,
        stderr: String::from_utf8(out.stderr)?,
    };
    ensure!(
        !run.stdout.contains(token) && !run.stderr.contains(token),
        "the admin token was printed by {args:?}"
    );
    Ok(run)
}

/// Runs `herdgate --json args…` and parses what it printed; it must succeed.
async fn json(url: &str, token: &str, args: &[&str]) -> Result<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = herdgate(url, token, &all).await?;
    ensure!(run.code == 0, "{args:?} failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).with_context(|| format!("{args:?} printed {}", run.stdout))
}

/// A command line's words.
fn line(words: &str) -> Vec<&str> {
    words.split_whitespace().collect()
}

fn now_ms() -> u64 {
    herdgate_testkit::now_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_drives_a_sale_from_creation_to_its_report() -> Result<()> {
    let redis = RedisServer::start().await?;
    let keys = TestKeys::generate();
    let options = OriginOptions {
        timeline_every_ms: Some(200),
        ..OriginOptions::default()
    };
    let origin = TestOrigin::start(&redis.url(), &keys, options).await?;
    let (url, token) = (origin.url(), keys.admin_token.clone());

    // Created: a table for people.
    let before = now_ms();
    let run = herdgate(
        &url,
        &token,
        &line("sale put launch --stock 5 --starts-at +1h --rate 10"),
    )
    .await?;
    ensure!(run.code == 0, "create failed: {}", run.stderr);
    ensure!(run.stdout.contains("scheduled"), "{}", run.stdout);
    ensure!(run.stdout.contains("remaining 5"), "{}", run.stdout);
    let sale = json(&url, &token, &["sale", "show", "launch"]).await?;
    let start = sale["state"]["starts_at_ms"].as_u64().context("no start")?;
    ensure!(
        (before + 3_600_000..=now_ms() + 3_600_000).contains(&start),
        "the start {start} is not an hour from now"
    );

    // Listed, with a second sale, by id.
    json(
        &url,
        &token,
        &line("sale put again --stock 2 --starts-at now --rate 1"),
    )
    .await?;
    let list = json(&url, &token, &["sale", "list"]).await?;
    let ids: Vec<&str> = list["sales"]
        .as_array()
        .context("no sales")?
        .iter()
        .filter_map(|s| s["state"]["sale"].as_str())
        .collect();
    ensure!(ids == ["again", "launch"], "listed {ids:?}");
    let run = herdgate(&url, &token, &["sale", "list"]).await?;
    let lines: Vec<&str> = run.stdout.lines().collect();
    ensure!(lines.len() == 3, "a header and two sales: {}", run.stdout);
    ensure!(
        lines[1].starts_with("again") && lines[1].contains("open"),
        "{}",
        run.stdout
    );
    ensure!(
        lines[2].starts_with("launch") && lines[2].contains("0/5"),
        "{}",
        run.stdout
    );

    // An update names only what changes.
    json(
        &url,
        &token,
        &line("sale put launch --stock 3 --per-visitor 2"),
    )
    .await?;
    let sale = json(&url, &token, &["sale", "show", "launch"]).await?;
    ensure!(sale["config"]["stock"] == 3, "{sale}");
    ensure!(sale["state"]["per_visitor_limit"] == 2, "{sale}");
    ensure!(
        sale["state"]["admission_rate"] == 10,
        "the rate changed: {sale}"
    );
    ensure!(
        sale["state"]["starts_at_ms"] == start,
        "the start changed: {sale}"
    );

    // Postponed by an hour.
    json(&url, &token, &["sale", "postpone", "launch", "--to", "+2h"]).await?;
    let sale = json(&url, &token, &["sale", "show", "launch"]).await?;
    let later = sale["state"]["starts_at_ms"].as_u64().context("no start")?;
    ensure!(
        later >= start + 3_600_000,
        "not postponed: {start} → {later}"
    );

    // Paused, resumed, a new rate.
    json(&url, &token, &["sale", "pause", "launch"]).await?;
    let sale = json(&url, &token, &["sale", "show", "launch"]).await?;
    ensure!(sale["state"]["paused"] == true, "not paused: {sale}");
    let run = herdgate(&url, &token, &["sale", "resume", "launch"]).await?;
    ensure!(
        run.code == 0 && !run.stdout.contains("paused"),
        "{}",
        run.stdout
    );
    json(&url, &token, &["sale", "rate", "launch", "25"]).await?;
    let sale = json(&url, &token, &["sale", "show", "launch"]).await?;
    ensure!(
        sale["state"]["admission_rate"] == 25,
        "the rate is not 25: {sale}"
    );

    // The audit: the origin's text report, and its JSON.
    let run = herdgate(&url, &token, &["audit", "launch"]).await?;
    ensure!(run.code == 0, "audit failed: {}", run.stderr);
    ensure!(!run.stdout.trim().is_empty(), "the audit printed nothing");
    let report = json(&url, &token, &["audit", "launch", "--apply"]).await?;
    ensure!(
        report["applied"] == true,
        "the audit was not applied: {report}"
    );

    // The report of the open sale, after one purchase: from the origin's records.
    let again = herdgate_core::SaleId::parse("again")?;
    let pass = keys.pass(&again, &herdgate_core::VisitorId::parse("buyer1")?);
    let bought = reqwest::Client::new()
        .post(format!("{url}/v1/sales/again/purchase"))
        .bearer_auth(pass)
        .send()
        .await?;
    ensure!(
        bought.status() == 201,
        "the purchase failed: {}",
        bought.status()
    );
    let out = tempfile::tempdir()?;
    let dir = out.path().join("again");
    let dir_arg = dir.to_str().context("a path")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let summary = loop {
        let summary = json(&url, &token, &["report", "again", "--out", dir_arg]).await?;
        // The recorder samples every 200 ms: the purchase is in a sample soon.
        let recorded: Value = serde_json::from_slice(&std::fs::read(dir.join("report.json"))?)?;
        let samples = recorded["timeline"]["samples"]
            .as_array()
            .context("no samples")?;
        if samples.last().is_some_and(|s| s["orders"] == 1) {
            break summary;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no sample holds the order: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(
        summary["sold"] == 1 && summary["remaining"] == 1,
        "{summary}"
    );
    ensure!(
        summary["orders"] == 1 && summary["rate_configured"] == 1,
        "{summary}"
    );
    let html = std::fs::read_to_string(dir.join("report.html"))?;
    ensure!(
        html.matches("<svg").count() == 4,
        "the page lacks its plots"
    );
    ensure!(
        !html.contains("<script") && !html.contains("src=") && !html.contains("href="),
        "the page loads something"
    );
    ensure!(
        html.contains("Items sold</th><td>1</td>"),
        "the page lacks the books"
    );
    let run = herdgate(&url, &token, &["report", "nope", "--out", dir_arg]).await?;
    ensure!(
        run.code == 1 && run.stderr.contains("unknown_sale"),
        "{}",
        run.stderr
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_servers_code_and_change_nothing() -> Result<()> {
    let redis = RedisServer::start().await?;
    let keys = TestKeys::generate();
    let origin = TestOrigin::start(&redis.url(), &keys, OriginOptions::default()).await?;
    let (url, token) = (origin.url(), keys.admin_token.clone());

    let run = herdgate(&url, &token, &["sale", "show", "nosuch"]).await?;
    ensure!(run.code == 1, "exit {} for an unknown sale", run.code);
    ensure!(run.stderr.contains("unknown_sale"), "{}", run.stderr);

    for args in [
        &["sale", "show", "nosuch"][..],
        &["sale", "list"],
        &["sale", "pause", "x"],
    ] {
        let run = herdgate(&url, "wrong-token", args).await?;
        ensure!(
            run.code == 1 && run.stderr.contains("unauthorized"),
            "{}",
            run.stderr
        );
    }
    let list = json(&url, &token, &["sale", "list"]).await?;
    ensure!(
        list["sales"] == serde_json::json!([]),
        "sales appeared: {list}"
    );

    let run = herdgate(&url, &token, &["sale", "show", "Not A Sale!"]).await?;
    ensure!(
        run.code == 1 && run.stderr.contains("not a sale id"),
        "{}",
        run.stderr
    );

    // Settings the origin refuses: nothing is created.
    let args = [
        "sale",
        "put",
        "bad",
        "--stock",
        "5",
        "--starts-at",
        "now",
        "--rate",
        "10",
    ];
    let mut bad = args.to_vec();
    bad.extend_from_slice(&["--per-visitor", "0"]);
    let run = herdgate(&url, &token, &bad).await?;
    ensure!(
        run.code == 1,
        "exit {} for a limit of 0: {}",
        run.code,
        run.stdout
    );
    ensure!(run.stderr.contains("HTTP 4"), "no refusal: {}", run.stderr);
    let run = herdgate(&url, &token, &["sale", "show", "bad"]).await?;
    ensure!(
        run.stderr.contains("unknown_sale"),
        "a refused sale exists: {}",
        run.stdout
    );

    // A new sale without what it needs, a bad time: the command says so before asking.
    let run = herdgate(&url, &token, &["sale", "put", "fresh", "--stock", "5"]).await?;
    ensure!(
        run.code == 1 && run.stderr.contains("--starts-at"),
        "{}",
        run.stderr
    );
    let run = herdgate(
        &url,
        &token,
        &line("sale put fresh --stock 5 --starts-at soon --rate 1"),
    )
    .await?;
    ensure!(
        run.code == 1 && run.stderr.contains("not a time"),
        "{}",
        run.stderr
    );

    // Postpone moves a start later only.
    json(
        &url,
        &token,
        &line("sale put later --stock 1 --starts-at +2h --rate 1"),
    )
    .await?;
    let run = herdgate(&url, &token, &line("sale postpone later --to +1h")).await?;
    ensure!(
        run.code == 1 && run.stderr.contains("before the sale's start"),
        "{}",
        run.stderr
    );

    // No origin there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", l.local_addr()?)
    };
    let run = herdgate(&closed, &token, &["sale", "show", "launch"]).await?;
    ensure!(
        run.code == 1 && run.stderr.contains("no answer"),
        "{}",
        run.stderr
    );

    // A usage error is status 2.
    let run = herdgate(&url, &token, &["sale", "rate", "launch"]).await?;
    ensure!(run.code == 2, "exit {} for a missing rate", run.code);

    // Completions need no server.
    let run = herdgate(&closed, &token, &["completions", "bash"]).await?;
    ensure!(
        run.code == 0 && run.stdout.contains("herdgate"),
        "{}",
        run.stderr
    );
    Ok(())
}

/// `herdgate counters` reads what the edge counted: the whole stack, with the worker under
/// workerd (built by `scripts/build-worker.sh`, as `scripts/test.sh` does first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reads_the_edges_counts() -> Result<()> {
    let stack = herdgate_testkit::Stack::in_process()
        .vars(serde_json::json!({ "POW_BITS": "8" }))
        .start()
        .await?;
    let (url, token) = (stack.origin.url(), stack.keys.admin_token.clone());
    let edge = stack.edge.url();
    let create = line("sale put counted --stock 9 --starts-at now --rate 100");
    json(&url, &token, &create).await?;
    // Two devices (a device that joined before would be asked for more work first).
    for n in 0..2 {
        let buyer = stack.buyer(&format!("herdgate-cli tests {n}"));
        buyer.solve_and_join("counted", None).await?;
    }

    let run = herdgate(&url, &token, &["counters", "counted"]).await?;
    ensure!(
        run.code == 1 && run.stderr.contains("no edge URL"),
        "{}",
        run.stderr
    );
    let with_edge = ["--edge-url", edge, "--json", "counters", "counted"];
    let run = herdgate(&url, &token, &with_edge).await?;
    ensure!(run.code == 0, "{}", run.stderr);
    let counts: Value = serde_json::from_str(&run.stdout)?;
    ensure!(counts["joins"] == 2, "{counts}");
    ensure!(counts["requests"]["challenge"] == 2, "{counts}");
    let run = herdgate(&url, &token, &["--edge-url", edge, "counters", "counted"]).await?;
    ensure!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("requests: challenge") && l.ends_with(" 2")),
        "{}",
        run.stdout
    );
    let run = herdgate(&url, "wrong", &["--edge-url", edge, "counters", "counted"]).await?;
    ensure!(
        run.code == 1 && run.stderr.contains("unauthorized"),
        "{}",
        run.stderr
    );
    Ok(())
}
