//! The admin API, the public state and the probes.

use std::time::Duration;

use herdgate_testkit::now_ms;
use serde_json::json;

use crate::support::{bounded, code, metrics_text, status_json, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_updates_and_reads_sales_behind_its_token() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let base = env.origin.url();
        let config = json!({
            "stock": 10, "per_visitor_limit": 2,
            "starts_at_ms": now_ms() - 1_000, "admission_rate": 250,
        });

        for token in [None, Some("wrong-token-wrong-token")] {
            let mut req = env.http.put(format!("{base}/admin/v1/sales/s1")).json(&config);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            let (status, body) = status_json(r).await;
            assert_eq!((status, code(&body)), (401, "unauthorized"));
        }
        assert_eq!(env.admin.sale_reply("s1").await.unwrap().0, 404);

        let (status, body) = env.admin.put_sale_reply("s1", &config).await.unwrap();
        assert_eq!(status, 201, "{body}");
        // The settings as given, and the pause they leave as it is (a new sale: not paused).
        let mut settings = config.clone();
        settings["paused"] = json!(false);
        assert_eq!(body["config"], settings);
        assert_eq!(body["state"]["status"], "open");
        assert_eq!(body["state"]["remaining"], 10);

        let sale = herdgate_core::SaleId::parse("s1").unwrap();
        let pass = env.pass(&sale, "buyer");
        assert_eq!(env.purchase("s1", Some(&pass), "{\"quantity\":2}").await.0, 201);

        let (status, body) = env.admin.sale_reply("s1").await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["state"]["sold"], 2);
        assert_eq!(body["orders"], 1);
        assert_eq!(body["stream_length"], 1);

        // Stock can move, never below what was sold.
        let mut lower = config.clone();
        lower["stock"] = json!(1);
        let (status, body) = env.admin.put_sale_reply("s1", &lower).await.unwrap();
        assert_eq!((status, code(&body)), (409, "stock_below_sold"));
        lower["stock"] = json!(5);
        let (status, body) = env.admin.put_sale_reply("s1", &lower).await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"]["remaining"], 3);
        assert_eq!(env.stock(&sale).await, (3, 2, 5));

        for (bad, want) in [
            (json!({"stock": 1, "per_visitor_limit": 0, "starts_at_ms": 0, "admission_rate": 1}), "invalid_sale_config"),
            (json!({"stock": 1, "per_visitor_limit": 1, "starts_at_ms": 0, "admission_rate": 0}), "invalid_sale_config"),
            (json!({"stock": 1}), "invalid_body"),
            (json!({"stock": -1, "per_visitor_limit": 1, "starts_at_ms": 0, "admission_rate": 1}), "invalid_body"),
        ] {
            let (status, body) = env.admin.put_sale_reply("s1", &bad).await.unwrap();
            assert_eq!(code(&body), want, "{bad}: {status} {body}");
        }
        assert_eq!(env.stock(&sale).await, (3, 2, 5));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_state_is_cacheable_and_probes_and_metrics_answer() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let base = env.origin.url();
        let later = json!({
            "stock": 7, "per_visitor_limit": 1,
            "starts_at_ms": now_ms() + 3_600_000, "admission_rate": 100,
        });
        assert_eq!(
            env.admin.put_sale_reply("soon", &later).await.unwrap().0,
            201
        );

        let r = env
            .http
            .get(format!("{base}/v1/sales/soon"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["cache-control"], "public, max-age=1");
        let (status, body) = status_json(r).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "scheduled");
        assert_eq!(body["remaining"], 7);
        assert_eq!(body["sold"], 0);

        let r = env
            .http
            .get(format!("{base}/v1/sales/none"))
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!((status, code(&body)), (404, "unknown_sale"));

        assert_eq!(
            env.http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            env.http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let metrics = metrics_text(&env.http, &base, &env.keys.admin_token).await;
        assert!(metrics.contains(
            "herdgate_http_requests_total{route=\"/v1/sales/{sale}\",outcome=\"unknown_sale\"} 1"
        ), "{metrics}");
        assert!(
            metrics.contains("herdgate_stock_remaining{sale=\"soon\"} 7"),
            "{metrics}"
        );
        assert!(
            metrics.contains("herdgate_http_request_duration_seconds_bucket"),
            "{metrics}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_the_operators_and_refused_to_anyone_else() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let base = env.origin.url();
        env.create_sale("counted", 5, 1).await;
        // Stock levels, sell-outs and load are not for the public port's every visitor.
        for token in [None, Some("wrong-token-wrong-token")] {
            let mut request = env.http.get(format!("{base}/metrics"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            let (status, body) = status_json(r).await;
            assert_eq!((status, code(&body)), (401, "unauthorized"), "{body}");
            assert!(!body.to_string().contains("herdgate_"), "{body}");
        }
        // The probes a load balancer asks stay public.
        for probe in ["healthz", "readyz"] {
            let r = env
                .http
                .get(format!("{base}/{probe}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{probe}");
        }
        let metrics = metrics_text(&env.http, &base, &env.keys.admin_token).await;
        assert!(
            metrics.contains("herdgate_stock_remaining{sale=\"counted\"} 5"),
            "{metrics}"
        );
        // The refused reads are counted like any other request.
        assert!(
            metrics.contains(
                "herdgate_http_requests_total{route=\"/metrics\",outcome=\"unauthorized\"} 2"
            ),
            "{metrics}"
        );
    })
    .await;
}

/// The Grafana dashboard and the alert rules in `docs/` name only metrics, routes and outcomes
/// the origin exports: each metric in them is in a real origin's `/metrics` after a purchase,
/// and each `route="…"` and `outcome="…"` they match exactly is one the origin labels with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_dashboard_and_alerts_name_what_the_origin_exports() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let sale = env.create_sale("watched", 5, 1).await;
        let pass = env.pass(&sale, "v1");
        let (status, body) = env.purchase("watched", Some(&pass), "{}").await;
        assert_eq!(status, 201, "{body}");
        // The per-sale gauges come with the timeline recorder's next sample (one a second).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let metrics = loop {
            let text = metrics_text(&env.http, &env.origin.url(), &env.keys.admin_token).await;
            if text.contains("herdgate_sale_sold{sale=\"watched\"} 1") {
                break text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no sale gauges:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(metrics.contains("herdgate_sale_payments{sale=\"watched\",state=\"pending\"} 0"));
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dashboard =
            std::fs::read_to_string(root.join("docs/grafana/herdgate-origin.json")).unwrap();
        let alerts =
            std::fs::read_to_string(root.join("docs/prometheus/herdgate-alerts.yml")).unwrap();
        let dashboard: serde_json::Value =
            serde_json::from_str(&dashboard).expect("the dashboard is JSON");
        // The dashboard's queries, as Prometheus reads them (unescaped).
        let queries: Vec<String> = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap().iter())
            .map(|t| t["expr"].as_str().unwrap().to_owned())
            .collect();
        assert!(queries.len() >= 5, "{} queries", queries.len());
        let dashboard = queries.join("\n");
        // Every outcome the origin can label a request with: its refusal codes, and the three
        // of an answer.
        let mut outcomes: Vec<&str> = herdgate_core::ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        outcomes.extend(["created", "existing", "ok"]);
        for (file, text) in [("dashboard", &dashboard), ("alerts", &alerts)] {
            let mut named = 0;
            for (i, _) in text.match_indices("herdgate_") {
                let name: String = text[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                named += 1;
                // A sample's name ends at its labels or its value. A metric with no sample yet
                // (the line's gauges, which need an edge) is exported if it has its type.
                let typed = format!("# TYPE {name} ");
                let exported = metrics.lines().any(|l| {
                    l.starts_with(&typed)
                        || l.split(['{', ' '])
                            .next()
                            .is_some_and(|sample| sample == name)
                });
                assert!(
                    exported,
                    "{file} names {name}, which the origin does not export"
                );
            }
            assert!(named >= 3, "{file} names only {named} metrics");
            // `label="v"` and `label=~"v1|v2"`.
            for (label, allowed) in [("route", None), ("outcome", Some(&outcomes))] {
                for op in ["=\"", "=~\""] {
                    let start = format!("{label}{op}");
                    for (i, _) in text.match_indices(&start) {
                        let values: String = text[i + start.len()..]
                            .chars()
                            .take_while(|c| *c != '"')
                            .collect();
                        for value in values.split('|') {
                            match allowed {
                                Some(all) => {
                                    assert!(all.contains(&value), "{file}: outcome {value}")
                                }
                                None => assert!(
                                    metrics.contains(&format!("route=\"{value}\"")),
                                    "{file} names route {value}, which the origin did not label"
                                ),
                            }
                        }
                    }
                }
            }
        }
    })
    .await;
}
