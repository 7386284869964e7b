//! The hand-over of submissions between replicas on one PostgreSQL database: a replica
//! without the sequencer lease queues each validated submission in the `pending` table and
//! waits for its outcome in `pending_results`; the lease holder drains `pending` into its
//! batches ([`super`]). A batch that integrates a claimed row deletes it and records its
//! outcome in the batch's own transaction (`Claims::outcomes`), so nothing is lost or doubled.
//! The tables themselves are part of the store's schema
//! ([`crate::storage::postgres::MIGRATIONS`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attestlog_proto::Hash;

use crate::storage::postgres::{Db, backend, i64_of, u64_of};
use crate::storage::{StoreError, StoreResult};

/// Queues several submissions in one statement (one commit for all): rows are numbered in the
/// arrays' order, and each returned id comes with its leaf hash.
pub(crate) const INSERT_PENDING: &str = "INSERT INTO pending (leaf_hash, data, meta) \
     SELECT l, d, m FROM UNNEST($1::bytea[], $2::bytea[], $3::text[]) WITH ORDINALITY \
     AS u(l, d, m, n) ORDER BY n RETURNING id, leaf_hash";
pub(crate) const FETCH_PENDING: &str =
    "SELECT id, leaf_hash, data, meta FROM pending WHERE id <> ALL($1) ORDER BY id LIMIT $2";
pub(crate) const DELETE_PENDING: &str = "DELETE FROM pending WHERE id = ANY($1)";
pub(crate) const INSERT_RESULTS: &str = "INSERT INTO pending_results (id, status, idx) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[]) ON CONFLICT (id) DO NOTHING";
pub(crate) const FINISH_PENDING: &str = "WITH d AS (DELETE FROM pending WHERE id = $1) \
     INSERT INTO pending_results (id, status, idx, code, field, message) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING";
/// Takes the recorded outcomes of these ids: read and deleted in one statement.
pub(crate) const TAKE_RESULTS: &str = "DELETE FROM pending_results WHERE id = ANY($1) \
     RETURNING id, status, idx, code, field, message";
pub(crate) const EXPIRE_RESULTS: &str =
    "DELETE FROM pending_results WHERE created_at < now() - make_interval(secs => $1)";

/// What happened to a pending submission, as the lease holder records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingOutcome {
    /// Integrated as a new entry at this index.
    New(u64),
    /// Already in the log at this index.
    Duplicate(u64),
    /// Refused by an order-dependent rule: HTTP status, field, message.
    Rejected {
        /// 409 or 422
        code: u16,
        /// field path
        field: Option<String>,
        /// message
        message: String,
    },
}

/// A pending submission as stored.
#[derive(Debug, Clone)]
pub struct PendingRow {
    /// Row id (what the submitting replica waits on).
    pub id: i64,
    /// Leaf hash of the entry.
    pub leaf_hash: Hash,
    /// Canonical entry bytes.
    pub data: Vec<u8>,
    /// JSON metadata (search terms, attestation, enrolment, verified key IDs).
    pub meta: String,
}

/// Pending rows handed to this replica's sequencer, by leaf hash; cheap to clone (shared by
/// the store, whose batches settle them, and the replica, which claims them).
#[derive(Clone, Default)]
pub(crate) struct Claims(Arc<Mutex<HashMap<Hash, Vec<i64>>>>);

impl Claims {
    fn lock(&self) -> StoreResult<std::sync::MutexGuard<'_, HashMap<Hash, Vec<i64>>>> {
        self.0.lock().map_err(|_| backend("claims lock poisoned"))
    }

    /// Every claimed row id.
    fn ids(&self) -> StoreResult<Vec<i64>> {
        Ok(self.lock()?.values().flatten().copied().collect())
    }

    fn claim(&self, leaf: Hash, id: i64) {
        if let Ok(mut c) = self.lock() {
            let ids = c.entry(leaf).or_default();
            if !ids.contains(&id) {
                ids.push(id);
                ids.sort_unstable();
            }
        }
    }

    fn unclaim(&self, leaf: &Hash, id: i64) {
        if let Ok(mut c) = self.lock()
            && let Some(ids) = c.get_mut(leaf)
        {
            ids.retain(|&x| x != id);
            if ids.is_empty() {
                c.remove(leaf);
            }
        }
    }

    /// For each claimed row whose leaf is in the batch (`leaves` at log indexes `idx`): the
    /// first (lowest id) is the new entry, any later one a duplicate of it. The batch's
    /// transaction deletes these rows ([`DELETE_PENDING`]) and records their outcome
    /// ([`INSERT_RESULTS`]); once it committed, [`Claims::release`].
    pub(crate) fn outcomes(
        &self,
        leaves: &[Vec<u8>],
        idx: &[i64],
    ) -> StoreResult<(Vec<i64>, Vec<&'static str>, Vec<i64>)> {
        let claims = self.lock()?;
        let mut out = (Vec::new(), Vec::new(), Vec::new());
        if claims.is_empty() {
            return Ok(out);
        }
        for (leaf, idx) in leaves.iter().zip(idx) {
            let Ok(h) = Hash::from_slice(leaf) else {
                continue;
            };
            for (n, id) in claims.get(&h).into_iter().flatten().enumerate() {
                out.0.push(*id);
                out.1.push(if n == 0 { "new" } else { "duplicate" });
                out.2.push(*idx);
            }
        }
        Ok(out)
    }

    /// Forgets the claims on `leaves` (their batch committed).
    pub(crate) fn release(&self, leaves: &[Vec<u8>]) {
        if let Ok(mut c) = self.lock() {
            for leaf in leaves {
                if let Ok(h) = Hash::from_slice(leaf) {
                    c.remove(&h);
                }
            }
        }
    }
}

/// The pending queue of one replica, on the store's pool; cheap to clone.
#[derive(Clone)]
pub(crate) struct PendingQueue {
    db: Db,
    claims: Claims,
}

impl PendingQueue {
    /// The queue on `db`'s pool, with the claims its store's batches settle.
    pub(crate) fn new(db: Db) -> Self {
        let claims = db.claims().clone();
        Self { db, claims }
    }

    /// Queues validated submissions (leaf hash, entry bytes) for the lease holder in one
    /// statement; returns their row ids, in the order given.
    ///
    /// # Errors
    /// Backend errors (then none of them is queued).
    pub(crate) async fn insert_pending(
        &self,
        rows: &[(Hash, &[u8])],
        meta: &str,
    ) -> StoreResult<Vec<i64>> {
        let leaves: Vec<&[u8]> = rows.iter().map(|(h, _)| &h.0[..]).collect();
        let data: Vec<&[u8]> = rows.iter().map(|(_, d)| *d).collect();
        let metas = vec![meta; rows.len()];
        let c = self.db.client().await?;
        let st = c.prepare_cached(INSERT_PENDING).await.map_err(backend)?;
        let mut ids: HashMap<Vec<u8>, Vec<i64>> = HashMap::new();
        for r in c
            .query(&st, &[&leaves, &data, &metas])
            .await
            .map_err(backend)?
        {
            ids.entry(r.get(1)).or_default().push(r.get(0));
        }
        // Rows of one leaf hash hold the same bytes: which of them gets which id is immaterial.
        leaves
            .iter()
            .map(|l| {
                ids.get_mut(*l)
                    .and_then(Vec::pop)
                    .ok_or_else(|| StoreError::Corrupt("a queued submission got no row id".into()))
            })
            .collect()
    }

    /// Up to `limit` pending rows not claimed by this replica, oldest first.
    pub(crate) async fn fetch_pending(&self, limit: i64) -> StoreResult<Vec<PendingRow>> {
        let claimed = self.claims.ids()?;
        let c = self.db.client().await?;
        let st = c.prepare_cached(FETCH_PENDING).await.map_err(backend)?;
        c.query(&st, &[&claimed, &limit])
            .await
            .map_err(backend)?
            .iter()
            .map(|r| {
                let h: Vec<u8> = r.get(1);
                Ok(PendingRow {
                    id: r.get(0),
                    leaf_hash: Hash::from_slice(&h)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    data: r.get(2),
                    meta: r.get(3),
                })
            })
            .collect()
    }

    /// Marks a pending row as handed to this replica's sequencer.
    pub(crate) fn claim(&self, leaf: Hash, id: i64) {
        self.claims.claim(leaf, id);
    }

    /// Releases a claim (the row was finished, or is to be retried).
    pub(crate) fn unclaim(&self, leaf: &Hash, id: i64) {
        self.claims.unclaim(leaf, id);
    }

    /// Records the outcome of a pending row that no batch integrated (a duplicate of a stored
    /// entry, or a rule refusal) and deletes the row, in one statement.
    pub(crate) async fn finish_pending(
        &self,
        id: i64,
        outcome: &PendingOutcome,
    ) -> StoreResult<()> {
        let (status, idx, code, field, message): (&str, Option<i64>, Option<i16>, _, _) =
            match outcome {
                PendingOutcome::New(i) => ("new", Some(i64_of(*i)?), None, None, None),
                PendingOutcome::Duplicate(i) => ("duplicate", Some(i64_of(*i)?), None, None, None),
                PendingOutcome::Rejected {
                    code,
                    field,
                    message,
                } => (
                    "rejected",
                    None,
                    Some(i16::try_from(*code).unwrap_or(422)),
                    field.clone(),
                    Some(message.clone()),
                ),
            };
        let c = self.db.client().await?;
        let st = c.prepare_cached(FINISH_PENDING).await.map_err(backend)?;
        c.execute(&st, &[&id, &status, &idx, &code, &field, &message])
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Outcomes recorded for these pending ids; the returned ones are deleted.
    pub(crate) async fn take_results(
        &self,
        ids: &[i64],
    ) -> StoreResult<Vec<(i64, PendingOutcome)>> {
        let c = self.db.client().await?;
        let st = c.prepare_cached(TAKE_RESULTS).await.map_err(backend)?;
        let rows = c.query(&st, &[&ids]).await.map_err(backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.get(0);
            let status: String = r.get(1);
            let idx: Option<i64> = r.get(2);
            let outcome = match (status.as_str(), idx) {
                ("new", Some(i)) => PendingOutcome::New(u64_of(i)?),
                ("duplicate", Some(i)) => PendingOutcome::Duplicate(u64_of(i)?),
                ("rejected", _) => PendingOutcome::Rejected {
                    code: r
                        .get::<_, Option<i16>>(3)
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(422),
                    field: r.get(4),
                    message: r.get::<_, Option<String>>(5).unwrap_or_default(),
                },
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "pending result {id} has status {status:?}"
                    )));
                }
            };
            out.push((id, outcome));
        }
        Ok(out)
    }

    /// Forgets outcomes nobody collected (their submitter died) after `age`.
    pub(crate) async fn expire_results(&self, age: Duration) -> StoreResult<u64> {
        let c = self.db.client().await?;
        let st = c.prepare_cached(EXPIRE_RESULTS).await.map_err(backend)?;
        c.execute(&st, &[&age.as_secs_f64()]).await.map_err(backend)
    }
}
