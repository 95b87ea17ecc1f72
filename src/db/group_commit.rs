//! Group commit for new links. Creating a link is the busiest write, and a commit
//! costs far more than the insert it commits: every page the insert touched (the
//! table's last page, each index's, the search index's) is written to the log
//! again, once per commit. So concurrent creates queue here and whoever finds the
//! queue idle commits everything waiting in one transaction; the rest wait for
//! their answer. Each caller is still answered only after its link is committed,
//! and a lone create is committed at once, without waiting for company.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{write_tx, Db, DbError, DbResult};
use crate::email::NewEmail;
use crate::links::Link;

/// Most links committed in one transaction, so that none holds the write lock
/// for long; more waiting go in the next.
const MAX_GROUP: usize = 256;

/// One link waiting to be inserted, with what is inserted beside it.
pub(crate) struct PendingLink {
    pub link: Link,
    /// (key, request hash, response) of an idempotent create.
    pub idempotency: Option<(String, String, String)>,
    pub emails: Vec<NewEmail>,
    done: oneshot::Sender<DbResult<()>>,
}

#[derive(Debug, Default)]
pub(crate) struct LinkQueue {
    pending: Mutex<Vec<PendingLink>>,
    /// Held by the one group being committed.
    committer: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for PendingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLink")
            .field("id", &self.link.id)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Inserts a new link, with its idempotency key and response and its queued
    /// emails, all or nothing; returns once they are committed. Concurrent calls
    /// share a transaction (see the module comment).
    pub async fn insert_link(
        &self,
        link: &Link,
        idempotency: Option<(&str, &str, String)>,
        emails: &[NewEmail],
    ) -> DbResult<()> {
        let queue = &self.local().links;
        let (done, mut answer) = oneshot::channel();
        lock(&queue.pending).push(PendingLink {
            link: link.clone(),
            idempotency: idempotency.map(|(k, h, r)| (k.to_string(), h.to_string(), r)),
            emails: emails.to_vec(),
            done,
        });
        loop {
            tokio::select! {
                // The answer first: a committer that just finished our group
                // also just released the lock.
                biased;
                answered = &mut answer => return answered.unwrap_or(Err(DbError::Lost)),
                guard = queue.committer.clone().lock_owned() => {
                    match answer.try_recv() {
                        Ok(answered) => return answered,
                        Err(oneshot::error::TryRecvError::Closed) => return Err(DbError::Lost),
                        Err(oneshot::error::TryRecvError::Empty) => {}
                    }
                    let group: Vec<PendingLink> = {
                        let mut pending = lock(&queue.pending);
                        let n = pending.len().min(MAX_GROUP);
                        pending.drain(..n).collect()
                    };
                    // Spawned, holding the lock, so that the group is committed and
                    // answered even if this request is dropped meanwhile.
                    let db = self.clone();
                    tokio::spawn(async move {
                        db.commit_links(group).await;
                        drop(guard);
                    });
                }
            }
        }
    }

    /// Commits `group` in one transaction and answers each of its callers. If the
    /// transaction fails (a reused idempotency key, say), each link is tried again
    /// in its own, so that one bad link fails alone.
    async fn commit_links(&self, group: Vec<PendingLink>) {
        let together: DbResult<()> = async {
            write_tx!(self, |tx| {
                for p in &group {
                    super::links::insert_link_rows!(tx, p)?;
                }
                Ok::<_, DbError>(())
            })
        }
        .await;
        let mut queued_email = false;
        match together {
            Ok(()) => {
                for p in group {
                    queued_email |= !p.emails.is_empty();
                    let _ = p.done.send(Ok(()));
                }
            }
            Err(e) if group.len() == 1 => {
                let _ = group.into_iter().next().map(|p| p.done.send(Err(e)));
            }
            Err(_) => {
                for p in group {
                    let alone: DbResult<()> = async {
                        write_tx!(self, |tx| {
                            super::links::insert_link_rows!(tx, &p)?;
                            Ok::<_, DbError>(())
                        })
                    }
                    .await;
                    queued_email |= alone.is_ok() && !p.emails.is_empty();
                    let _ = p.done.send(alone);
                }
            }
        }
        if queued_email {
            self.emails_committed();
        }
    }
}

fn lock(pending: &Mutex<Vec<PendingLink>>) -> std::sync::MutexGuard<'_, Vec<PendingLink>> {
    // The lock is only held to push or drain; a panic there leaves a valid Vec.
    pending.lock().unwrap_or_else(|e| e.into_inner())
}
