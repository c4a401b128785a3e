//! Overload, slow clients, and a slow or absent Redis: typed 503s at once, never a hang or a
//! 500; a client too slow to send its request holds no slot and is cut off; a shutdown ends in
//! its grace.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use herdgate_testkit::{free_port, OriginOptions, TestKeys, TestOrigin};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

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
        let text = metrics_text(&http, &origin.url(), &keys.admin_token).await;
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

/// Opens a connection and sends `bytes`, then nothing more.
async fn connect_and_send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Reads until the end of the next response head (`\r\n\r\n`) or the connection's end, and
/// returns it as text.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Everything the server sends until it closes the connection; a reset ends it too.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A purchase whose headers go out in full, with `Expect: 100-continue` so the client knows when
/// the server has read them and started on the body, which is `length` bytes long.
fn purchase_head(pass: &str, length: usize) -> String {
    format!(
        "POST /v1/sales/slow/purchase HTTP/1.1\r\nHost: origin\r\nAuthorization: Bearer {pass}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
    )
}

/// Sends `body` a byte at a time, one every 50 ms, while reading what the server answers; ends
/// when the server closes the connection, with what it answered.
async fn trickle(mut stream: TcpStream, body: Vec<u8>) -> String {
    let (mut read, mut write) = stream.split();
    let writer = async {
        for byte in body {
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Sent in full (the server never cut it off): wait for the answer.
        std::future::pending::<()>().await;
    };
    let reader = async {
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::select! {
        () = writer => unreachable!("the writer never ends"),
        answer = reader => answer,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_hold_no_in_flight_slot_and_are_cut_off() {
    bounded(Duration::from_secs(90), async {
        let env = Env::start_with(OriginOptions {
            max_in_flight: Some(2),
            header_timeout_ms: Some(2_000),
            body_timeout_ms: Some(2_000),
            idle_timeout_ms: Some(2_000),
            ..OriginOptions::default()
        })
        .await
        .unwrap();
        let sale = env.create_sale("slow", 10, 1).await;
        let addr = env.origin.addr();

        // Slowloris on the headers: part of a request line and headers, then nothing.
        let mut stallers = Vec::new();
        for _ in 0..3 {
            stallers.push(
                connect_and_send(
                    addr,
                    b"POST /v1/sales/slow/purchase HTTP/1.1\r\nHost: origin\r\nContent-Le",
                )
                .await,
            );
        }
        // Full headers, then a body a byte at a time: 1000 bytes at 20 a second. Each waits
        // for the server to take up the body (100 Continue) before it starts.
        let mut tricklers = Vec::new();
        let mut heads = Vec::new();
        for n in 0..3 {
            let pass = env.pass(&sale, &format!("trickle{n}"));
            let mut stream = connect_and_send(addr, purchase_head(&pass, 1000).as_bytes()).await;
            heads.push(read_head(&mut stream).await);
            tricklers.push(tokio::spawn(trickle(stream, vec![b' '; 1000])));
        }
        // Full headers, then 10 of 100 bytes of the body, then nothing.
        let pass = env.pass(&sale, "halfway");
        let mut body_staller = connect_and_send(addr, purchase_head(&pass, 100).as_bytes()).await;
        heads.push(read_head(&mut body_staller).await);
        body_staller.write_all(&[b' '; 10]).await.unwrap();
        // Idle: one connection that never sends a byte, one that stays open after an answer.
        let mut idlers = vec![TcpStream::connect(addr).await.unwrap()];
        let mut kept =
            connect_and_send(addr, b"GET /healthz HTTP/1.1\r\nHost: origin\r\n\r\n").await;
        let head = read_head(&mut kept).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut body = [0u8; 15];
        kept.read_exact(&mut body).await.unwrap();
        assert_eq!(&body, br#"{"status":"ok"}"#);
        idlers.push(kept);

        // Nine slow connections are open, more than the two in-flight slots; buyers and
        // pollers are served all the same.
        let (status, body) = env
            .purchase("slow", Some(&env.pass(&sale, "buyer")), "")
            .await;
        assert_eq!(status, 201, "{body}");
        let r = env
            .http
            .get(format!("{}/v1/sales/slow", env.origin.url()))
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(status, 200, "{body}");
        for head in &heads {
            assert!(head.starts_with("HTTP/1.1 100 Continue"), "{head}");
        }

        // Every slow connection is cut off, in a bounded time: the stallers and the idle ones
        // closed, the body that stopped refused with a typed 408, the tricklers refused (or
        // reset, when the refusal crosses a byte still on its way).
        tokio::time::timeout(Duration::from_secs(20), async {
            for mut s in stallers.into_iter().chain(idlers) {
                read_until_closed(&mut s).await;
            }
            let answer = read_until_closed(&mut body_staller).await;
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
            assert!(
                answer.to_ascii_lowercase().contains("connection: close"),
                "{answer}"
            );
            for t in tricklers {
                let answer = t.await.unwrap();
                assert!(
                    answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                    "{answer}"
                );
            }
        })
        .await
        .expect("slow connections still open 20 s after their 2 s limits");
        assert_eq!(env.stock(&sale).await, (9, 1, 10));
        // On a new connection: the client's pooled ones have been idle about as long as the
        // idle limit, and one the origin closes just as it is reused fails the request.
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let text = metrics_text(&fresh, &env.origin.url(), &env.keys.admin_token).await;
        let timeouts = sum_metric(
            &text,
            "herdgate_http_requests_total",
            &["outcome=\"request_timeout\""],
        );
        assert_eq!(timeouts, 4.0, "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_has_the_idle_limit_and_a_started_request_the_header_limit() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start_with(OriginOptions {
            header_timeout_ms: Some(500),
            idle_timeout_ms: Some(60_000),
            ..OriginOptions::default()
        })
        .await
        .unwrap();
        let health = b"GET /healthz HTTP/1.1\r\nHost: origin\r\n\r\n";
        let mut conn = connect_and_send(env.origin.addr(), health).await;
        let head = read_head(&mut conn).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut body = [0u8; 15];
        conn.read_exact(&mut body).await.unwrap();

        // Idle for three header limits, well within the idle limit: the connection serves the
        // next request (a limit counted from the end of the last answer would have closed it).
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        conn.write_all(health).await.unwrap();
        let head = read_head(&mut conn).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        conn.read_exact(&mut body).await.unwrap();

        // A request begun and left unfinished is cut at the header limit, not the idle one.
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHo")
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut conn))
            .await
            .expect("a stalled request's connection open 10 s after its 0.5 s header limit");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_its_grace_while_a_request_is_stuck() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start_with(OriginOptions {
            redis_timeout_ms: Some(60_000),
            shutdown_grace_ms: Some(300),
            ..OriginOptions::default()
        })
        .await
        .unwrap();
        let sale = env.create_sale("stuck", 10, 1).await;
        let pid = env.redis.pid().unwrap();

        // Redis frozen, a purchase that would wait a minute for it.
        signal(pid, "-STOP");
        let stuck = {
            let (http, base, pass) = (env.http.clone(), env.origin.url(), env.pass(&sale, "s"));
            tokio::spawn(async move {
                http.post(format!("{base}/v1/sales/stuck/purchase"))
                    .bearer_auth(pass)
                    .send()
                    .await
            })
        };
        let mut in_flight = 0.0;
        for _ in 0..400 {
            in_flight = env.metric("herdgate_http_requests_in_flight", &[]).await;
            if in_flight == 1.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(in_flight, 1.0);

        // `run` returns once the grace is over, with the purchase still waiting on Redis; the
        // purchase's connection is dropped, not answered.
        let stopped = env.origin.stop().await;
        signal(pid, "-CONT");
        assert!(
            stopped,
            "run did not return within {:?} of a shutdown with a 300 ms grace",
            TestOrigin::STOP_LIMIT
        );
        let answer = stuck.await.unwrap();
        assert!(answer.is_err(), "{answer:?}");
    })
    .await;
}
