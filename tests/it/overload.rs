//! Overload and a slow or absent Redis: typed 503s at once, never a hang or a 500.

use std::process::Command;
use std::time::Duration;

use herdgate_testkit::{free_port, OriginOptions, TestKeys, TestOrigin};

use crate::support::{
    bounded, code, http_client, metrics_text, purchase, status_json, sum_metric, Env,
};

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_load_gets_503_at_once_instead_of_queueing() {
    bounded(Duration::from_secs(90), async {
        let env = Env::start_with(OriginOptions {
            max_in_flight: Some(2),
            redis_timeout_ms: Some(5_000),
            ..OriginOptions::default()
        })
        .await
        .unwrap();
        let sale = env.create_sale("busy", 100, 1).await;
        let pid = env.redis.pid().unwrap();

        // Freeze Redis so two purchases hold both in-flight slots.
        signal(pid, "-STOP");
        let mut held = Vec::new();
        for v in ["h1", "h2"] {
            let (http, base, pass) = (env.http.clone(), env.origin.url(), env.pass(&sale, v));
            held.push(tokio::spawn(async move {
                purchase(&http, &base, "busy", Some(&pass), "").await
            }));
        }
        let mut in_flight = 0.0;
        for _ in 0..400 {
            in_flight = env.metric("herdgate_http_requests_in_flight", &[]).await;
            if in_flight == 2.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(in_flight, 2.0);

        // Everyone else is told to come back, with Retry-After, and nothing waits.
        for n in 0..20 {
            let r = env
                .http
                .post(format!("{}/v1/sales/busy/purchase", env.origin.url()))
                .bearer_auth(env.pass(&sale, &format!("x{n}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.headers()["retry-after"], "1");
            let (status, body) = status_json(r).await;
            assert_eq!((status, code(&body)), (503, "overloaded"), "{body}");
        }
        // Probes are not behind the limit.
        let r = env
            .http
            .get(format!("{}/healthz", env.origin.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        signal(pid, "-CONT");
        for h in held {
            let (status, body) = h.await.unwrap();
            assert_eq!(status, 201, "{body}");
        }
        assert_eq!(env.stock(&sale).await, (98, 2, 100));
        assert_eq!(
            env.metric("herdgate_http_requests_total", &["outcome=\"overloaded\""])
                .await,
            20.0
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_gives_typed_503s_and_recovery_follows() {
    bounded(Duration::from_secs(90), async {
        let env = Env::start_with(OriginOptions {
            redis_timeout_ms: Some(300),
            ..OriginOptions::default()
        })
        .await
        .unwrap();
        let sale = env.create_sale("stall", 10, 1).await;
        let pid = env.redis.pid().unwrap();
        signal(pid, "-STOP");
        let pass = env.pass(&sale, "patient");
        let r = env
            .http
            .post(format!("{}/v1/sales/stall/purchase", env.origin.url()))
            .bearer_auth(&pass)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["retry-after"], "1");
        let (status, body) = status_json(r).await;
        assert_eq!((status, code(&body)), (503, "store_unavailable"), "{body}");
        let r = env
            .http
            .get(format!("{}/v1/sales/stall", env.origin.url()))
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!((status, code(&body)), (503, "store_unavailable"), "{body}");
        signal(pid, "-CONT");

        // The same pass, retried, buys exactly once once Redis is back.
        let mut last = (0, serde_json::Value::Null);
        for _ in 0..100 {
            last = env.purchase("stall", Some(&pass), "").await;
            if last.0 == 201 || last.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(last.0 == 201 || last.0 == 200, "{last:?}");
        assert_eq!(env.stock(&sale).await, (9, 1, 10));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_redis_at_all_gives_typed_503s() {
    bounded(Duration::from_secs(60), async {
        let keys = TestKeys::generate();
        let nothing = format!("redis://127.0.0.1:{}", free_port().unwrap());
        let origin = TestOrigin::start_unready(
            &nothing,
            &keys,
            OriginOptions {
                redis_timeout_ms: Some(200),
                ..OriginOptions::default()
            },
        )
        .await
        .unwrap();
        let http = http_client();
        let sale = herdgate_core::SaleId::parse("void").unwrap();
        let pass = keys.pass(&sale, &herdgate_core::VisitorId::parse("v").unwrap());
        let (status, body) = purchase(&http, &origin.url(), "void", Some(&pass), "").await;
        assert_eq!((status, code(&body)), (503, "store_unavailable"), "{body}");
        let r = http
            .get(format!("{}/readyz", origin.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        let r = http
            .get(format!("{}/healthz", origin.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = metrics_text(&http, &origin.url()).await;
        assert!(
            sum_metric(
                &text,
                "herdgate_http_requests_total",
                &["store_unavailable"]
            ) >= 1.0
        );
        origin.stop().await;
    })
    .await;
}
