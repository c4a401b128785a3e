//! The sold-out memory: once a sale is sold out, this origin answers its purchases and its
//! public state without a Redis round trip.
//!
//! How an origin learns a sale is sold out, promptly and without polling:
//!
//! 1. the purchase script `PUBLISH`es `sold_out:<sale>` on the events channel when it sells
//!    the last item, and every origin is subscribed to that channel;
//! 2. a purchase that Redis answers with "sold out" (an origin that started after the sale
//!    sold out, or missed the message) has the same effect.
//!
//! Either way the origin reads a snapshot (the public state and every order, in one atomic
//! script) and from then on answers: the visitor's own order (200) for a buyer who retries,
//! and 409 `sold_out` for everyone else. A restock (`open:<sale>`) or a reconnect of the
//! subscriber (which may have missed messages) drops the memory, and Redis is asked again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use fred::prelude::*;
use herdgate_core::wire::{Order, SaleState};
use herdgate_core::{SaleId, VisitorId};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::store::{SoldOutSnapshotCall, SoldOutSnapshotReply, Store};

/// What one origin remembers of one sold-out sale.
#[derive(Debug)]
pub struct SoldOut {
    /// The public state at sell-out (remaining 0).
    pub state: SaleState,
    orders: HashMap<VisitorId, Order>,
}

impl SoldOut {
    /// The order of `visitor`, if they bought.
    pub fn order_of(&self, visitor: &VisitorId) -> Option<&Order> {
        self.orders.get(visitor)
    }
}

enum Entry {
    /// A snapshot is being read; the number tells this read apart from later ones.
    Loading(u64),
    Ready(Arc<SoldOut>),
}

/// The sales this origin knows to be sold out.
#[derive(Default)]
pub struct SoldOutBoard {
    entries: RwLock<HashMap<SaleId, Entry>>,
    next_load: AtomicU64,
}

impl SoldOutBoard {
    /// The memory of `sale`, if it is known to be sold out.
    pub fn get(&self, sale: &SaleId) -> Option<Arc<SoldOut>> {
        match self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sale)
        {
            Some(Entry::Ready(s)) => Some(Arc::clone(s)),
            _ => None,
        }
    }

    /// How many sales are answered from memory.
    pub fn ready_count(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|e| matches!(e, Entry::Ready(_)))
            .count()
    }

    /// Forgets `sale` (it was restocked).
    pub fn reopen(&self, sale: &SaleId) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(sale);
    }

    /// Forgets everything (messages may have been missed).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Notes that `sale` is sold out and reads its snapshot in the background, unless that is
    /// already done or under way.
    pub fn sold_out(self: &Arc<Self>, sale: &SaleId, store: &Arc<Store>) {
        let load = self.next_load.fetch_add(1, Ordering::Relaxed);
        {
            let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
            if entries.contains_key(sale) {
                return;
            }
            entries.insert(sale.clone(), Entry::Loading(load));
        }
        let board = Arc::clone(self);
        let store = Arc::clone(store);
        let sale = sale.clone();
        tokio::spawn(async move {
            let snapshot = store
                .sold_out_snapshot(&SoldOutSnapshotCall { sale: &sale })
                .await;
            let mut entries = board
                .entries
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            // A restock or a reconnect while reading replaced or removed our entry: drop it.
            if !matches!(entries.get(&sale), Some(Entry::Loading(l)) if *l == load) {
                return;
            }
            match snapshot {
                Ok(SoldOutSnapshotReply::SoldOut { state, orders }) => {
                    tracing::info!(%sale, orders = orders.len(), "sold out: answering from memory");
                    let orders = orders.into_iter().collect();
                    entries.insert(
                        sale,
                        Entry::Ready(Arc::new(SoldOut {
                            state: *state,
                            orders,
                        })),
                    );
                }
                Ok(SoldOutSnapshotReply::Missing | SoldOutSnapshotReply::NotSoldOut) => {
                    entries.remove(&sale);
                }
                Err(e) => {
                    tracing::warn!(%sale, error = %e, "could not read sold-out snapshot");
                    entries.remove(&sale);
                }
            }
        });
    }
}

/// The task that keeps a [`SoldOutBoard`] up to date from the events channel.
pub struct EventListener {
    task: JoinHandle<()>,
    subscriber: fred::clients::SubscriberClient,
    subscribed: Arc<AtomicBool>,
}

impl EventListener {
    /// Subscribes to `channel` (in the background, retrying while Redis is unreachable) and
    /// applies every sale event to `board`.
    pub fn start(
        store: Arc<Store>,
        board: Arc<SoldOutBoard>,
        channel: String,
    ) -> Result<Self, crate::store::StoreError> {
        let subscriber = store.subscriber()?;
        let _connection = subscriber.connect();
        let mut messages = subscriber.message_rx();
        let mut reconnects = subscriber.reconnect_rx();
        let client = subscriber.clone();
        let subscribed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&subscribed);
        let task = tokio::spawn(async move {
            if client.wait_for_connect().await.is_ok() {
                flag.store(subscribe(&client, &channel).await, Ordering::Release);
            }
            loop {
                tokio::select! {
                    msg = messages.recv() => match msg {
                        Ok(msg) => apply(&board, &store, msg.value.as_str().as_deref()),
                        Err(RecvError::Lagged(_)) => board.clear(),
                        Err(RecvError::Closed) => break,
                    },
                    server = reconnects.recv() => {
                        if matches!(server, Err(RecvError::Closed)) {
                            break;
                        }
                        // Messages may have been missed while disconnected.
                        tracing::info!("sale events reconnected; forgetting sold-out sales");
                        board.clear();
                        flag.store(subscribe(&client, &channel).await, Ordering::Release);
                    }
                }
            }
        });
        Ok(EventListener {
            task,
            subscriber,
            subscribed,
        })
    }

    /// Whether the subscription is in place. An origin is not ready before it is: it would
    /// miss sold-out and restock events.
    pub fn subscribed(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.subscribed)
    }

    /// Stops listening and closes the connection.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.subscriber.quit().await;
    }
}

async fn subscribe(client: &fred::clients::SubscriberClient, channel: &str) -> bool {
    match client.subscribe(channel).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not subscribe to sale events");
            false
        }
    }
}

fn apply(board: &Arc<SoldOutBoard>, store: &Arc<Store>, event: Option<&str>) {
    match event.and_then(|e| e.split_once(':')) {
        Some(("sold_out", sale)) => {
            if let Ok(sale) = SaleId::parse(sale) {
                board.sold_out(&sale, store);
            }
        }
        Some(("open", sale)) => {
            if let Ok(sale) = SaleId::parse(sale) {
                board.reopen(&sale);
            }
        }
        _ => tracing::debug!("ignoring an unknown sale event"),
    }
}
