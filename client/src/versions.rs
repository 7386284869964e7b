//! The versions of one attestation and its current version (DESIGN.md §10): every logged
//! version is read from the log and the chain is followed with the rule engine's
//! [`attestlog_proto::rules::Chain`], never by taking the highest index.

use attestlog_proto::api::EntryResponse;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::predicate::{Statement, parse_statement};
use attestlog_proto::rules::{Chain, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::client::{Client, ClientError, SearchQuery};

/// Errors while reading the versions of an attestation.
#[derive(Debug, thiserror::Error)]
pub enum VersionsError {
    /// The log could not be read.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An entry the log returned is not a version of the attestation.
    #[error("entry {index}: {message}")]
    Entry {
        /// Log index.
        index: u64,
        /// What is wrong.
        message: String,
    },
}

/// One logged version.
#[derive(Debug, Clone)]
pub struct LoggedVersion {
    /// The entry as the log returned it (with its receipt).
    pub entry: EntryResponse,
    /// Its statement.
    pub statement: Statement,
    /// Whether it extended the chain when it was logged (false for a stale fork or a replay
    /// logged before the log enforced the chain rule).
    pub in_chain: bool,
}

/// Every logged version of one attestation, oldest first, and which one is current.
#[derive(Debug, Clone)]
pub struct Versions {
    /// The versions, in index order.
    pub versions: Vec<LoggedVersion>,
    /// Position of the current version (the head of the chain) in `versions`.
    pub head: usize,
}

impl Versions {
    /// The current version.
    #[must_use]
    pub fn current(&self) -> &LoggedVersion {
        &self.versions[self.head]
    }

    /// The version the current one superseded, if any.
    #[must_use]
    pub fn previous(&self) -> Option<&LoggedVersion> {
        let sup = self.current().statement.predicate.supersedes.as_ref()?;
        self.versions
            .iter()
            .find(|v| v.entry.index == sup.log_index)
    }
}

/// The statement of an entry, checked to be a version of `attestation_id`.
///
/// # Errors
/// [`VersionsError::Entry`].
pub fn entry_statement(e: &EntryResponse) -> Result<Statement, VersionsError> {
    let bad = |message: String| VersionsError::Entry {
        index: e.index,
        message,
    };
    let bytes = STANDARD
        .decode(&e.entry)
        .map_err(|_| bad("entry is not base64".into()))?;
    let env = Envelope::parse_entry(&bytes).map_err(|err| bad(err.to_string()))?;
    parse_statement(&env.payload).map_err(|errs| {
        bad(format!(
            "not a valid attestation: {}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

/// Reads every logged version of `attestation_id` and follows its chain; `None` if the log
/// holds none.
///
/// # Errors
/// [`VersionsError`].
pub async fn versions(
    client: &Client,
    attestation_id: &str,
) -> Result<Option<Versions>, VersionsError> {
    let q = SearchQuery {
        attestation_id: Some(attestation_id.to_owned()),
        ..SearchQuery::default()
    };
    let mut indexes: Vec<u64> = client
        .search_all(&q)
        .await?
        .into_iter()
        .map(|h| h.index)
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    let mut out: Vec<LoggedVersion> = Vec::with_capacity(indexes.len());
    let mut chain: Option<Chain> = None;
    let mut head = 0;
    for index in indexes {
        let entry = client.entry(index).await?;
        let statement = entry_statement(&entry)?;
        if statement.attestation_id() != attestation_id || entry.index != index {
            return Err(VersionsError::Entry {
                index,
                message: format!("the log returned another entry for {attestation_id}"),
            });
        }
        let v = Version::of(index, &statement);
        let in_chain = match &mut chain {
            None => {
                chain = Some(Chain::start(v));
                true
            }
            Some(c) => c.record(v),
        };
        if in_chain {
            head = out.len();
        }
        out.push(LoggedVersion {
            entry,
            statement,
            in_chain,
        });
    }
    Ok((!out.is_empty()).then_some(Versions {
        versions: out,
        head,
    }))
}
