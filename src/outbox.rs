//! The loop shared by the outbox dispatchers (notifications and email): keep up
//! to a number of leased attempts in flight, claim more as they finish, record
//! finished ones together, and sleep until woken, until the next one falls due,
//! or until the next poll. What an outbox claims, how it makes an attempt and how
//! it writes the result down is its own; see [`Outbox`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::db::DbError;

/// One outbox whose rows are claimed under a lease and attempted.
pub trait Outbox: Send + Sync + 'static {
    /// A row claimed for one attempt.
    type Claimed: Send + 'static;
    /// An attempt made, ready to be written down.
    type Done: Send + 'static;

    /// What the log calls a row ("notification", "email").
    const WHAT: &'static str;
    /// Attempts made at the same time.
    const MAX_IN_FLIGHT: usize;
    /// How often to look when nothing woke the loop (rows of other instances,
    /// leases that ran out), and after a failed claim.
    const POLL: Duration;

    /// Fires when this process commits new rows.
    fn woken(&self) -> watch::Receiver<u64>;

    /// Claims up to `limit` due rows, and says how long to wait before looking
    /// again if nothing else happens.
    fn claim(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<Self::Claimed>, Duration), DbError>> + Send;

    /// Makes one attempt and decides what follows from it.
    fn attempt(&self, claimed: Self::Claimed) -> impl Future<Output = Self::Done> + Send;

    /// Writes finished attempts down (only those whose lease still holds).
    fn record(&self, done: &[Self::Done]) -> impl Future<Output = Result<(), DbError>> + Send;
}

/// One step, for tests and tools: claims what is due now, makes the attempts
/// side by side and records them. Returns how many attempts were made.
pub async fn try_execute<O: Outbox>(outbox: &O) -> Result<usize, DbError> {
    let (claimed, _) = outbox.claim(O::MAX_IN_FLIGHT).await?;
    let n = claimed.len();
    let done = futures_util::future::join_all(claimed.into_iter().map(|c| outbox.attempt(c))).await;
    outbox.record(&done).await?;
    Ok(n)
}

/// Works the outbox until the task is dropped. An attempt in flight when it is
/// dropped keeps its lease, which runs out; the attempt is then made again.
pub async fn run_until_stopped<O: Outbox>(outbox: O) {
    let this = Arc::new(outbox);
    let mut woken = this.woken();
    let mut in_flight: JoinSet<O::Done> = JoinSet::new();
    loop {
        let free = O::MAX_IN_FLIGHT - in_flight.len();
        let pause = if free == 0 {
            O::POLL
        } else {
            match this.claim(free).await {
                Ok((claimed, pause)) => {
                    for c in claimed {
                        let o = this.clone();
                        in_flight.spawn(async move { o.attempt(c).await });
                    }
                    pause
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming {}s failed", O::WHAT);
                    O::POLL
                }
            }
        };
        tokio::select! {
            Some(first) = in_flight.join_next(), if !in_flight.is_empty() => {
                let mut done = Vec::new();
                let mut finished = Some(first);
                while let Some(result) = finished {
                    match result {
                        Ok(d) => done.push(d),
                        // Its lease runs out and the attempt is made again.
                        Err(e) => tracing::error!(error = %e, "a {} attempt panicked", O::WHAT),
                    }
                    finished = in_flight.try_join_next();
                }
                if let Err(e) = this.record(&done).await {
                    // Unrecorded attempts are made again once their leases run out.
                    tracing::error!(error = %e, attempts = done.len(),
                        "recording {} attempts failed", O::WHAT);
                }
            }
            Ok(()) = woken.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
