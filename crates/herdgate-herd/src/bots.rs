//! Bots that run beside the honest buyers. Each strategy is a way scalpers try to take stock;
//! the report says how many items each got.

use std::collections::BTreeMap;

use herdgate_core::{Keyring, PassClaims, SaleId, Secret, VisitorId};
use serde::{Deserialize, Serialize};

use crate::buyer::{self, Ending};
use crate::client::SimClient;

/// How many bot clients of each strategy run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BotMix {
    /// Join without doing the proof-of-work (random nonces), several times each.
    pub flood: usize,
    /// Buy with passes signed by a key the bot made up.
    pub forged: usize,
    /// Get one real pass and share it with other clients (which also replay it).
    pub share: usize,
    /// Join many times from one browser and network (solving every challenge, a fresh device
    /// key for every join), buy with every ticket.
    pub multi_join: usize,
    /// Go straight to the purchase endpoint, skipping the queue.
    pub skip: usize,
    /// A farm: this many clients behind one IP prefix (one /24), each with its own user agent
    /// but identical device signals; each joins once (native solver) and buys at once.
    pub farm: usize,
    /// Native fast solvers, each on its own network, joining once and buying the moment they
    /// are admitted. (Every bot arrives the moment the sale opens.)
    pub fast: usize,
}

impl BotMix {
    /// Bot clients in all.
    pub fn clients(&self) -> usize {
        self.flood + self.forged + self.share + self.multi_join + self.skip + self.farm + self.fast
    }

    /// How many clients of `strategy`.
    pub fn count(&self, strategy: Strategy) -> usize {
        match strategy {
            Strategy::Flood => self.flood,
            Strategy::Forged => self.forged,
            Strategy::Share => self.share,
            Strategy::MultiJoin => self.multi_join,
            Strategy::Skip => self.skip,
            Strategy::Farm => self.farm,
            Strategy::Fast => self.fast,
        }
    }
}

/// A bot strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// See [`BotMix::flood`].
    Flood,
    /// See [`BotMix::forged`].
    Forged,
    /// See [`BotMix::share`].
    Share,
    /// See [`BotMix::multi_join`].
    MultiJoin,
    /// See [`BotMix::skip`].
    Skip,
    /// See [`BotMix::farm`].
    Farm,
    /// See [`BotMix::fast`].
    Fast,
}

impl Strategy {
    /// Every strategy.
    pub const ALL: [Strategy; 7] = [
        Strategy::Flood,
        Strategy::Forged,
        Strategy::Share,
        Strategy::MultiJoin,
        Strategy::Skip,
        Strategy::Farm,
        Strategy::Fast,
    ];

    /// Whether the strategy only ever holds invalid passes (so must never buy).
    pub fn holds_only_invalid_passes(self) -> bool {
        matches!(self, Strategy::Forged | Strategy::Skip)
    }
}

/// What one bot client achieved.
#[derive(Debug, Clone, Default)]
pub struct BotOutcome {
    /// Orders it got.
    pub bought: Vec<String>,
    /// Refusals, by code.
    pub refusals: BTreeMap<String, u64>,
}

impl BotOutcome {
    fn note(&mut self, ending: Ending) {
        match ending {
            // A replayed pass answers with the same order: one item, counted once.
            Ending::Bought { order_id, .. } => {
                if !self.bought.contains(&order_id) {
                    self.bought.push(order_id);
                }
            }
            Ending::SoldOut => *self.refusals.entry("sold_out".into()).or_default() += 1,
            Ending::Refused { code } => *self.refusals.entry(code).or_default() += 1,
            Ending::Failed => *self.refusals.entry("no_answer".into()).or_default() += 1,
        }
    }
}

/// Attempts of a flooding bot.
const FLOOD_ATTEMPTS: usize = 5;
/// Forged purchases per forging bot.
const FORGED_ATTEMPTS: usize = 3;
/// Clients a sharing bot hands its pass to.
const SHARE_WITH: usize = 5;
/// Joins per multi-joining client.
pub const JOINS_PER_CLIENT: usize = 10;

/// Runs one bot client of `strategy`. `make_client` gives it more client identities
/// (another browser on another network) when the strategy needs them.
pub async fn run(
    strategy: Strategy,
    mut client: SimClient,
    mut make_client: impl FnMut(usize) -> SimClient,
    sale: &SaleId,
) -> (BotOutcome, Vec<SimClient>) {
    let mut out = BotOutcome::default();
    let mut others = Vec::new();
    match strategy {
        Strategy::Flood => {
            for _ in 0..FLOOD_ATTEMPTS {
                match buyer::join(&mut client, false).await {
                    // A random nonce solves an easy challenge now and then: then it is a
                    // buyer like any other.
                    Ok((ticket, status, _)) => {
                        let ending = match buyer::wait(&mut client, &ticket, status).await {
                            Ok((pass, _)) => buyer::buy(&mut client, Some(&pass)).await,
                            Err(e) => e,
                        };
                        out.note(ending);
                    }
                    Err(e) => out.note(e),
                }
            }
        }
        Strategy::Forged => {
            let secret = Secret::new(rand::random::<[u8; 32]>().to_vec())
                .expect("32 random bytes make a secret");
            let forger =
                Keyring::new(vec![("k1".into(), secret)]).expect("one key makes a keyring");
            for i in 0..FORGED_ATTEMPTS {
                let now = herdgate_testkit::now_ms() / 1000;
                let claims = PassClaims::bare(
                    sale.clone(),
                    VisitorId::parse(&format!("forger{i}")).expect("a short id is valid"),
                    format!("{:032x}", rand::random::<u128>()),
                    now.saturating_sub(10),
                    now + 300,
                );
                out.note(buyer::buy(&mut client, Some(&forger.sign(&claims))).await);
            }
        }
        Strategy::Share => match buyer::join(&mut client, true).await {
            Ok((ticket, status, _)) => match buyer::wait(&mut client, &ticket, status).await {
                Ok((pass, _)) => {
                    // Every holder of the pass fires at once, the owner too: a program that
                    // shares a pass does not wait for the others to be refused.
                    let shared: Vec<_> = (0..SHARE_WITH)
                        .map(|k| {
                            let (mut other, pass) = (make_client(k), pass.clone());
                            tokio::spawn(async move {
                                let ending = buyer::buy(&mut other, Some(&pass)).await;
                                (ending, other)
                            })
                        })
                        .collect();
                    out.note(buyer::buy(&mut client, Some(&pass)).await);
                    for task in shared {
                        if let Ok((ending, other)) = task.await {
                            out.note(ending);
                            others.push(other);
                        }
                    }
                    // The replay gets the same order back, never a second item.
                    if let Ending::Bought { order_id, .. } =
                        buyer::buy(&mut client, Some(&pass)).await
                    {
                        if !out.bought.contains(&order_id) {
                            out.bought.push(order_id);
                        }
                    }
                }
                Err(e) => out.note(e),
            },
            Err(e) => out.note(e),
        },
        Strategy::MultiJoin => {
            // A program makes keys at will: every join is made with a fresh one, so the
            // per-device limit (which counts keys) never sees the same device twice. The proof
            // of work, the per-network limit and the audit are what it still meets.
            let mut tickets = Vec::new();
            for _ in 0..JOINS_PER_CLIENT {
                let mut tab = client.with_new_key();
                match buyer::join(&mut tab, true).await {
                    Ok(t) => tickets.push((tab, t)),
                    Err(e) => out.note(e),
                }
            }
            // Every ticket waits at once, as in as many tabs of one browser.
            let tabs: Vec<_> = tickets
                .into_iter()
                .map(|(mut tab, (ticket, status, _))| {
                    tokio::spawn(async move {
                        let ending = match buyer::wait(&mut tab, &ticket, status).await {
                            Ok((pass, _)) => buyer::buy(&mut tab, Some(&pass)).await,
                            Err(e) => e,
                        };
                        (ending, tab)
                    })
                })
                .collect();
            for tab in tabs {
                if let Ok((ending, tab)) = tab.await {
                    out.note(ending);
                    others.push(tab);
                }
            }
        }
        Strategy::Skip => {
            out.note(buyer::buy(&mut client, None).await);
            out.note(buyer::buy(&mut client, Some("let-me-in")).await);
        }
        Strategy::Farm | Strategy::Fast => {
            // A program: native solver, no pause before buying.
            let journey = buyer::journey(&mut client, true).await;
            out.note(journey.ending);
        }
    }
    others.push(client);
    (out, others)
}
