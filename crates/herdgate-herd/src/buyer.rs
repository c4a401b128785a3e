//! An honest buyer: challenge, proof-of-work, join, poll as told, buy when admitted.

use std::time::Duration;

use herdgate_core::wire::{ChallengeResponse, QueueStatus};
use serde::Serialize;
use serde_json::json;

use crate::client::{Endpoint, Reply, SimClient};

/// How a journey ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Ending {
    /// Bought: the order id and the visitor it was for.
    Bought {
        /// The order.
        order_id: String,
        /// The buyer's visitor id.
        visitor: String,
    },
    /// Told the sale sold out.
    SoldOut,
    /// Refused with this code (and status).
    Refused {
        /// The refusal code.
        code: String,
    },
    /// No usable answer (network errors, or the herd's deadline).
    Failed,
}

/// What one journey leaves behind.
#[derive(Debug, Clone)]
pub struct Journey {
    /// How it ended.
    pub ending: Ending,
    /// Queue position, if the buyer joined.
    pub position: Option<u64>,
    /// When the buyer first saw "admitted", ms since the herd started.
    pub admitted_at_ms: Option<u32>,
    /// When the buyer joined, ms since the herd started.
    pub joined_at_ms: Option<u32>,
    /// The ticket the buyer held last (the one that carries the card hold, with `preauth`),
    /// if they joined: what a person whose page is still open asks again with.
    pub ticket: Option<String>,
    /// The pass the buyer bought with, if they were admitted: what a page whose purchase got
    /// no usable answer retries with.
    pub pass: Option<String>,
    /// When the journey ended (the buyer learnt how), ms since the herd started.
    pub ended_at_ms: Option<u32>,
}

impl Journey {
    /// A journey that ended before the buyer joined (or that the herd gave up on).
    pub fn ended(ending: Ending) -> Self {
        Journey {
            ending,
            position: None,
            admitted_at_ms: None,
            joined_at_ms: None,
            ticket: None,
            pass: None,
            ended_at_ms: None,
        }
    }
}

/// Retries of a request answered 503 (overloaded, origin unavailable) before giving up.
const RETRIES: u32 = 8;

fn refused(reply: &Reply) -> Ending {
    match (reply.status, reply.code()) {
        (_, Some("sold_out")) => Ending::SoldOut,
        (0, _) => Ending::Failed,
        (_, Some(code)) => Ending::Refused {
            code: code.to_owned(),
        },
        (status, None) => Ending::Refused {
            code: format!("http_{status}"),
        },
    }
}

/// Calls `endpoint`, retrying after a pause while the answer is a 503 or no answer.
pub async fn call_with_retry(
    client: &mut SimClient,
    endpoint: Endpoint,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> Reply {
    let mut reply = client.call(endpoint, bearer, body.clone()).await;
    let mut tries = 0;
    // A proof that aged past its window on the way (a slow network, a busy edge) is signed
    // again, as the page does; the place is not lost for it.
    let stale = |r: &Reply| r.status == 401 && r.body["error"]["code"] == "proof_expired";
    // (A region's stock on its way, `stock_moving`, is asked again by the purchase itself, at
    // a person's pace.)
    let busy = |r: &Reply| r.status == 503 && r.code() != Some("stock_moving");
    while (busy(&reply) || reply.status == 0 || stale(&reply)) && tries < RETRIES {
        tries += 1;
        tokio::time::sleep(Duration::from_millis(250 * u64::from(tries))).await;
        reply = client.call(endpoint, bearer, body.clone()).await;
    }
    reply
}

/// Rounds of a person's join whose challenge expired before it was spent: as the page does,
/// a person fetches a new challenge, a few times.
const CHALLENGE_ROUNDS: u32 = 3;

/// Tries of a person's purchase whose pass expired (or is not valid yet) before it was used:
/// as the page does, they ask their status for a new one and buy again.
const PASS_RENEWALS: u32 = 3;

/// Gets a challenge, solves it and joins. Returns the ticket and the status that came with
/// it, or how the attempt ended. A person whose challenge expired while they solved it, or
/// while the edge was busy, gets a new one and tries again (it was not their doing); a program
/// gets what it got.
pub async fn join(
    client: &mut SimClient,
    solve: bool,
) -> Result<(String, QueueStatus, u64), Ending> {
    let rounds = if client.human.is_some() {
        CHALLENGE_ROUNDS
    } else {
        1
    };
    let mut last = Err(Ending::Failed);
    for _ in 0..rounds {
        last = join_once(client, solve).await;
        if !matches!(&last, Err(Ending::Refused { code }) if code == "challenge_expired") {
            break;
        }
    }
    last
}

/// One challenge, solved, and the join with it.
async fn join_once(
    client: &mut SimClient,
    solve: bool,
) -> Result<(String, QueueStatus, u64), Ending> {
    let signals = client.device.clone().map(|d| json!({ "device": d }));
    let reply = call_with_retry(client, Endpoint::Challenge, None, signals).await;
    if reply.status != 200 {
        return Err(refused(&reply));
    }
    let mut challenge: ChallengeResponse =
        serde_json::from_value(reply.body).map_err(|_| Ending::Failed)?;
    let mut rounds = 0;
    let reply = loop {
        let nonce = if solve {
            let _one_bot_at_a_time = match client.human {
                None => client.bot_solver().acquire_owned().await.ok(),
                Some(_) => None,
            };
            herdgate_testkit::solve(&challenge)
                .await
                .map_err(|_| Ending::Failed)?
        } else {
            rand::random::<u64>()
        };
        if let (true, Some(human)) = (solve, client.human) {
            // A browser needs as long for the same attempts as its speed says.
            let attempts = nonce.saturating_add(1) as f64;
            let secs = attempts / human.hashes_per_sec.max(1.0);
            tokio::time::sleep(Duration::from_secs_f64(secs.min(600.0))).await;
        }
        let body = json!({"challenge": challenge.challenge, "nonce": nonce});
        let reply = call_with_retry(client, Endpoint::Join, None, Some(body)).await;
        // A device that joined or failed before is handed a harder challenge: the page
        // solves it and joins again, and so does a program that solves.
        match herdgate_testkit::client::more_work(&(reply.status, reply.body.clone())) {
            Some(harder) if solve && rounds < herdgate_testkit::client::MORE_WORK_ROUNDS => {
                challenge = harder;
                rounds += 1;
            }
            _ => break reply,
        }
    };
    if reply.status != 201 {
        return Err(refused(&reply));
    }
    let ticket = reply.body["ticket"]
        .as_str()
        .ok_or(Ending::Failed)?
        .to_owned();
    let position = reply.body["position"].as_u64().ok_or(Ending::Failed)?;
    let status =
        serde_json::from_value(reply.body["status"].clone()).map_err(|_| Ending::Failed)?;
    client.count(|c| &c.joined);
    client
        .counters()
        .waiting
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok((ticket, status, position))
}

/// Puts the test card `pm_card_visa` on hold for `ticket`: the re-signed ticket that carries
/// the hold, and where it stands.
pub async fn hold(client: &mut SimClient, ticket: &str) -> Result<(String, QueueStatus), Ending> {
    let body = json!({"payment_method": "pm_card_visa"});
    let reply = call_with_retry(client, Endpoint::Hold, Some(ticket), Some(body)).await;
    if reply.status != 201 {
        return Err(refused(&reply));
    }
    let ticket = reply.body["ticket"]
        .as_str()
        .ok_or(Ending::Failed)?
        .to_owned();
    let status =
        serde_json::from_value(reply.body["status"].clone()).map_err(|_| Ending::Failed)?;
    Ok((ticket, status))
}

/// Polls until admitted (returning the pass) or the journey ends.
pub async fn wait(
    client: &mut SimClient,
    ticket: &str,
    status: QueueStatus,
) -> Result<(String, u32), Ending> {
    let on_join = matches!(status, QueueStatus::Admitted { .. });
    let waited = poll(client, ticket, status).await;
    client.stop_waiting();
    if let Ok((pass, _)) = &waited {
        client.saw_admission(pass, on_join);
    }
    waited
}

async fn poll(
    client: &mut SimClient,
    ticket: &str,
    mut status: QueueStatus,
) -> Result<(String, u32), Ending> {
    loop {
        match status {
            QueueStatus::Admitted { pass, position, .. } => {
                client.saw_place(position);
                return Ok((pass, client.now_ms()));
            }
            QueueStatus::SoldOut => return Err(Ending::SoldOut),
            QueueStatus::Queued {
                poll_after_ms,
                position,
                ..
            } => {
                // The answer to the client's last request (the join, the hold or a poll).
                client.saw_place(position);
                client.saw_queued(position);
                tokio::time::sleep(Duration::from_millis(poll_after_ms)).await;
            }
            // Paused, or in the pre-queue until the draw.
            QueueStatus::Paused { poll_after_ms, .. }
            | QueueStatus::Entered { poll_after_ms, .. } => {
                tokio::time::sleep(Duration::from_millis(poll_after_ms)).await;
            }
            _ => return Err(Ending::Failed),
        }
        let reply = call_with_retry(client, Endpoint::Status, Some(ticket), None).await;
        if reply.status != 200 {
            return Err(refused(&reply));
        }
        status = serde_json::from_value(reply.body).map_err(|_| Ending::Failed)?;
    }
}

/// Buys with `pass`, and counts how it ended.
pub async fn buy(client: &mut SimClient, pass: Option<&str>) -> Ending {
    let ending = purchase(client, pass).await;
    note(client, &ending);
    ending
}

/// How often a buyer whose region's stock is on its way (`stock_moving`) asks again, about a
/// second apart, as the page does for about two minutes.
const STOCK_MOVING_TRIES: u32 = 120;

/// The purchase with `pass` and how it ended.
async fn purchase(client: &mut SimClient, pass: Option<&str>) -> Ending {
    let mut reply = call_with_retry(client, Endpoint::Purchase, pass, Some(json!({}))).await;
    let mut tries = 0;
    while reply.code() == Some("stock_moving") && tries < STOCK_MOVING_TRIES {
        tries += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
        reply = call_with_retry(client, Endpoint::Purchase, pass, Some(json!({}))).await;
    }
    match reply.status {
        200 | 201 => Ending::Bought {
            order_id: reply.body["order"]["order_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            visitor: reply.body["order"]["visitor"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        },
        _ => refused(&reply),
    }
}

/// Counts how a step ended.
pub fn note(client: &SimClient, ending: &Ending) {
    match ending {
        Ending::Bought { .. } => client.count(|c| &c.bought),
        Ending::SoldOut => client.count(|c| &c.sold_out),
        Ending::Refused { .. } | Ending::Failed => client.count(|c| &c.refused),
    }
}

/// The whole journey of an honest buyer (or of a bot that behaves like one).
pub async fn journey(client: &mut SimClient, solve: bool) -> Journey {
    let mut journey = walk(client, solve).await;
    journey.ended_at_ms = Some(client.now_ms());
    journey
}

/// [`journey`], without its end time.
async fn walk(client: &mut SimClient, solve: bool) -> Journey {
    let (ticket, status, position) = match join(client, solve).await {
        Ok(t) => t,
        Err(ending) => {
            note(client, &ending);
            return Journey::ended(ending);
        }
    };
    let joined_at_ms = Some(client.now_ms());
    let (ticket, status) = if client.preauth {
        match hold(client, &ticket).await {
            Ok(held) => held,
            Err(ending) => {
                client.stop_waiting();
                note(client, &ending);
                return Journey {
                    ending,
                    position: Some(position),
                    admitted_at_ms: None,
                    joined_at_ms,
                    ticket: Some(ticket),
                    pass: None,
                    ended_at_ms: None,
                };
            }
        }
    } else {
        (ticket, status)
    };
    let (pass, admitted_at) = match wait(client, &ticket, status).await {
        Ok(p) => p,
        Err(ending) => {
            note(client, &ending);
            return Journey {
                ending,
                position: Some(position),
                admitted_at_ms: None,
                joined_at_ms,
                ticket: Some(ticket),
                pass: None,
                ended_at_ms: None,
            };
        }
    };
    if let Some(human) = client.human {
        // A person reads the page and presses the button.
        let (lo, hi) = human.think_ms;
        let think = lo + (rand::random::<f64>() * hi.saturating_sub(lo) as f64) as u64;
        tokio::time::sleep(Duration::from_millis(think)).await;
    }
    let mut pass = pass;
    let mut ending = purchase(client, Some(&pass)).await;
    // A pass that lapsed while the person looked at the button (or while the edge was busy)
    // is not their doing: the place stays admitted, so their status brings a new pass, and
    // they buy with it, as the page does.
    for _ in 0..PASS_RENEWALS {
        let lapsed = matches!(&ending, Ending::Refused { code }
            if code == "pass_expired" || code == "pass_not_yet_valid");
        if !lapsed || client.human.is_none() {
            break;
        }
        let reply = call_with_retry(client, Endpoint::Status, Some(&ticket), None).await;
        match serde_json::from_value::<QueueStatus>(reply.body) {
            Ok(QueueStatus::Admitted { pass: renewed, .. }) if reply.status == 200 => {
                pass = renewed;
            }
            // Not admitted any more (sold out, say): the status says how it ended.
            Ok(QueueStatus::SoldOut) => {
                ending = Ending::SoldOut;
                break;
            }
            _ => break,
        }
        // A pass dated from the start of the coming slice becomes valid within a second.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        ending = purchase(client, Some(&pass)).await;
    }
    note(client, &ending);
    Journey {
        ending,
        position: Some(position),
        admitted_at_ms: Some(admitted_at),
        joined_at_ms,
        ticket: Some(ticket),
        pass: Some(pass),
        ended_at_ms: None,
    }
}
