//! [`Client`]: typed access to every endpoint of an attestlog server (DESIGN.md §4).
//!
//! The client returns the protocol crate's JSON types unverified; the [`crate::verifier`]
//! module checks what it reads against a signed checkpoint.

use attestlog_proto::Hash;
use attestlog_proto::api::{
    ConsistencyProof, EntryResponse, ErrorBody, InclusionProof, LogInfo, SearchKind,
    SearchResponse, SubmitResponse, VendorList, VendorRequest, VendorResponse,
};
use attestlog_proto::tiles::TilePath;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// Errors talking to a log.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL does not parse.
    #[error("invalid log url {url:?}: {message}")]
    Url {
        /// The URL given.
        url: String,
        /// Why it is invalid.
        message: String,
    },
    /// The request failed before an answer arrived (connection, TLS, timeout).
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The request URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status; `message` is its JSON error message (or
    /// the plain-text body of the static path).
    #[error("server answered {status} for {url}: {message}")]
    Status {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's error code (`not_found`, `unprocessable`, …), if it sent a JSON body.
        code: Option<String>,
        /// The server's error message.
        message: String,
        /// The field path the error names, if any.
        field: Option<String>,
    },
    /// A SCITT registration was still running when the caller's deadline passed.
    #[error("registration at {url} still running after {waited_secs} s")]
    StillRunning {
        /// Where the registration can be polled (`GET /entries/{id}`).
        url: String,
        /// How long the client waited.
        waited_secs: u64,
    },
    /// The response body is not the expected JSON.
    #[error("unexpected response from {url}: {message}")]
    Decode {
        /// The request URL.
        url: String,
        /// What did not parse.
        message: String,
    },
}

impl ClientError {
    /// The HTTP status of a [`ClientError::Status`].
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The filters of `GET /v1/search`; `None` fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Vendor legal name.
    pub vendor: Option<String>,
    /// Product name.
    pub product: Option<String>,
    /// ISO 3166-1 alpha-2 country of storage, processing or remote access.
    pub country: Option<String>,
    /// Data category.
    pub category: Option<String>,
    /// Attestation id (UUID); with the verification filters, of the verified claim.
    pub attestation_id: Option<String>,
    /// Verifications with this verdict: consistent, contradicted or inconclusive
    /// (DESIGN.md §13; the answer's `verifications`).
    pub verdict: Option<String>,
    /// Verifications of the attestation at this log index.
    pub subject: Option<u64>,
    /// Verifications by this verifier (legal name).
    pub verifier: Option<String>,
    /// Only entries below this index (pagination cursor: the previous answer's `next`).
    pub before: Option<u64>,
    /// Page size (1..=500).
    pub limit: Option<u32>,
}

impl SearchQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (k, v) in [
            (SearchKind::Vendor, &self.vendor),
            (SearchKind::Product, &self.product),
            (SearchKind::Country, &self.country),
            (SearchKind::Category, &self.category),
            (SearchKind::AttestationId, &self.attestation_id),
            (SearchKind::Verdict, &self.verdict),
            (SearchKind::Verifier, &self.verifier),
        ] {
            if let Some(v) = v {
                out.push((k.as_str(), v.clone()));
            }
        }
        if let Some(s) = self.subject {
            out.push((SearchKind::Subject.as_str(), s.to_string()));
        }
        if let Some(b) = self.before {
            out.push(("before", b.to_string()));
        }
        if let Some(l) = self.limit {
            out.push(("limit", l.to_string()));
        }
        out
    }
}

/// An answer of the SCITT registration API (`POST /entries`, `GET /entries/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScittAnswer {
    /// 200 or 201: the receipt (or transparent statement), unverified.
    Done {
        /// The body (`application/cose`).
        body: Vec<u8>,
        /// `Location`: `/entries/{leaf hash}` of the logged entry.
        location: Option<String>,
        /// 201: the statement was registered by this request.
        created: bool,
    },
    /// 303 or 302: registration is running; poll `location` after `retry_after` seconds.
    Running {
        /// `/entries/{leaf hash}`.
        location: String,
        /// Seconds to wait before polling.
        retry_after: u64,
    },
}

/// A finished SCITT registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The RFC 9942 receipt (unverified).
    pub receipt: Vec<u8>,
    /// `/entries/{leaf hash}` of the logged entry (the original one when the statement was
    /// already logged, perhaps as a DSSE envelope).
    pub location: String,
    /// Whether this registration logged the statement (201, or 303 then 200).
    pub created: bool,
}

/// An HTTP client for one log (one origin).
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// The SCITT API answers 302/303 that the caller polls: this client follows no redirect.
    scitt_http: reqwest::Client,
}

impl Client {
    /// A client for the log at `base_url` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// [`ClientError::Url`] if the URL is not http(s).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|e| ClientError::Url {
            url: base_url.to_owned(),
            message: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::Url {
                url: base_url.to_owned(),
                message: "scheme must be http or https".into(),
            });
        }
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("attestlog-client/", env!("CARGO_PKG_VERSION")))
        };
        let transport = |e| ClientError::Transport {
            url: base.clone(),
            source: e,
        };
        let http = builder().build().map_err(transport)?;
        let scitt_http = builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(transport)?;
        Ok(Self {
            base,
            http,
            scitt_http,
        })
    }

    /// The base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// `GET url`, sent a second time when the first attempt fails before any answer (a
    /// keep-alive connection the server closed while it was idle, as servers do after their
    /// idle timeout): a read is idempotent, and a long catch-up (the monitor's) must not end
    /// on one closed connection. Answers, error statuses included, are never retried.
    async fn get(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        match self.http.get(url).send().await {
            Ok(resp) => self.answer(resp, url).await.map(|(_, body)| body),
            Err(_) => self.send(self.http.get(url), url).await,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, url: &str) -> Result<Vec<u8>, ClientError> {
        let (status, body) = self.send_status(req, url).await?;
        let _ = status;
        Ok(body)
    }

    async fn send_status(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let transport = |source| ClientError::Transport {
            url: url.to_owned(),
            source,
        };
        let resp = req.send().await.map_err(transport)?;
        self.answer(resp, url).await
    }

    /// The status and body of an answer; an error for a non-success status.
    async fn answer(
        &self,
        resp: reqwest::Response,
        url: &str,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.to_owned(),
                source,
            })?
            .to_vec();
        if status.is_success() {
            return Ok((status, body));
        }
        Err(Self::status_error(url, status, &body))
    }

    /// The error of a non-success answer: its JSON error body (`/v1`), RFC 9290 problem
    /// details (SCITT), or its text.
    fn status_error(url: &str, status: StatusCode, body: &[u8]) -> ClientError {
        if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
            return ClientError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                code: Some(e.error.code),
                message: e.error.message,
                field: e.error.field,
            };
        }
        if let Ok((_, detail, code)) = attestlog_proto::scitt::parse_problem_details(body) {
            return ClientError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                code: Some(code),
                message: detail,
                field: None,
            };
        }
        ClientError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            code: None,
            message: String::from_utf8_lossy(body).trim().to_owned(),
            field: None,
        }
    }

    async fn scitt_send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<ScittAnswer, ClientError> {
        let transport = |source| ClientError::Transport {
            url: url.to_owned(),
            source,
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header(reqwest::header::LOCATION);
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1);
        let body = resp.bytes().await.map_err(transport)?.to_vec();
        if status == StatusCode::FOUND || status == StatusCode::SEE_OTHER {
            let location = location.ok_or_else(|| ClientError::Decode {
                url: url.to_owned(),
                message: format!("{status} without a Location"),
            })?;
            return Ok(ScittAnswer::Running {
                location,
                retry_after,
            });
        }
        if status.is_success() {
            return Ok(ScittAnswer::Done {
                body,
                location,
                created: status == StatusCode::CREATED,
            });
        }
        Err(Self::status_error(url, status, &body))
    }

    /// `POST /entries` (SCITT): registers a COSE_Sign1 signed statement.
    ///
    /// # Errors
    /// [`ClientError::Status`] with the problem-details name as `code` for refused statements.
    pub async fn register_statement(&self, cose: &[u8]) -> Result<ScittAnswer, ClientError> {
        let url = self.url("entries");
        let req = self
            .scitt_http
            .post(&url)
            .header(
                reqwest::header::CONTENT_TYPE,
                attestlog_proto::cose::MEDIA_TYPE_COSE,
            )
            .body(cose.to_vec());
        self.scitt_send(req, &url).await
    }

    /// `GET /entries/{id}` at `location` (`/entries/{leaf hash}`): the receipt, or with
    /// `transparent` the transparent statement; [`ScittAnswer::Running`] while registering.
    ///
    /// # Errors
    /// [`ClientError`] (404 for an unknown entry).
    pub async fn scitt_entry(
        &self,
        location: &str,
        transparent: bool,
    ) -> Result<ScittAnswer, ClientError> {
        let mut url = self.url(location);
        if transparent {
            url.push_str(if url.contains('?') { "&" } else { "?" });
            url.push_str("transparent=true");
        }
        self.scitt_send(self.scitt_http.get(&url), &url).await
    }

    /// Registers a signed statement and polls until it is published or `timeout` passes,
    /// waiting as long as each `Retry-After` says.
    ///
    /// # Errors
    /// [`ClientError::StillRunning`] after `timeout`; other [`ClientError`]s as they come.
    pub async fn register_statement_and_wait(
        &self,
        cose: &[u8],
        timeout: std::time::Duration,
    ) -> Result<Registration, ClientError> {
        let start = std::time::Instant::now();
        let mut answer = self.register_statement(cose).await?;
        let mut created = false;
        loop {
            match answer {
                ScittAnswer::Done {
                    body,
                    location,
                    created: c,
                } => {
                    return Ok(Registration {
                        receipt: body,
                        location: location.unwrap_or_default(),
                        created: created || c,
                    });
                }
                ScittAnswer::Running {
                    location,
                    retry_after,
                } => {
                    created = true;
                    let wait = std::time::Duration::from_secs(retry_after.clamp(1, 30));
                    if start.elapsed() + wait > timeout {
                        return Err(ClientError::StillRunning {
                            url: self.url(&location),
                            waited_secs: start.elapsed().as_secs(),
                        });
                    }
                    tokio::time::sleep(wait).await;
                    answer = self.scitt_entry(&location, false).await?;
                }
            }
        }
    }

    /// `GET /.well-known/scitt-keys`: the COSE_KeySet of the log's receipt keys, unverified.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn scitt_keys(&self) -> Result<Vec<u8>, ClientError> {
        let url = self.url(".well-known/scitt-keys");
        self.send(self.http.get(&url), &url).await
    }

    fn decode<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|e| ClientError::Decode {
            url: url.to_owned(),
            message: e.to_string(),
        })
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let base = self.url(path);
        let url = reqwest::Url::parse_with_params(&base, query)
            .map_err(|e| ClientError::Url {
                url: base.clone(),
                message: e.to_string(),
            })?
            .to_string();
        let body = self.get(&url).await?;
        Self::decode(&url, &body)
    }

    /// `GET /checkpoint`: the signed checkpoint note, unverified.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn checkpoint(&self) -> Result<Vec<u8>, ClientError> {
        let url = self.url("checkpoint");
        self.get(&url).await
    }

    /// `GET /tile/...`: a hash tile or entry bundle, unverified.
    ///
    /// # Errors
    /// [`ClientError`] (404 for a tile the log does not serve).
    pub async fn tile(&self, tile: &TilePath) -> Result<Vec<u8>, ClientError> {
        let url = self.url(&tile.full_path());
        self.get(&url).await
    }

    /// `POST /v1/entries`: submits DSSE envelope JSON. Returns the answer and whether the
    /// entry is new (201) rather than a duplicate (200).
    ///
    /// # Errors
    /// [`ClientError::Status`] with the server's field path for rejected entries.
    pub async fn submit(
        &self,
        envelope_json: &[u8],
    ) -> Result<(SubmitResponse, bool), ClientError> {
        let url = self.url("v1/entries");
        let req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(envelope_json.to_vec());
        let (status, body) = self.send_status(req, &url).await?;
        Ok((Self::decode(&url, &body)?, status == StatusCode::CREATED))
    }

    /// `GET /v1/entries/{index}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn entry(&self, index: u64) -> Result<EntryResponse, ClientError> {
        self.get_json(&format!("v1/entries/{index}"), &[]).await
    }

    /// `GET /v1/proof/inclusion?index=&tree_size=`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, ClientError> {
        self.get_json(
            "v1/proof/inclusion",
            &[
                ("index", index.to_string()),
                ("tree_size", tree_size.to_string()),
            ],
        )
        .await
    }

    /// `GET /v1/proof/inclusion?leaf_hash=&tree_size=`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn inclusion_proof_by_hash(
        &self,
        leaf_hash: &Hash,
        tree_size: u64,
    ) -> Result<InclusionProof, ClientError> {
        self.get_json(
            "v1/proof/inclusion",
            &[
                ("leaf_hash", leaf_hash.to_hex()),
                ("tree_size", tree_size.to_string()),
            ],
        )
        .await
    }

    /// `GET /v1/proof/consistency?first=&second=`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyProof, ClientError> {
        self.get_json(
            "v1/proof/consistency",
            &[("first", first.to_string()), ("second", second.to_string())],
        )
        .await
    }

    /// `GET /v1/log`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn log_info(&self) -> Result<LogInfo, ClientError> {
        self.get_json("v1/log", &[]).await
    }

    /// `GET /v1/search` (one page; follow `next` with [`SearchQuery::before`]).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn search(&self, query: &SearchQuery) -> Result<SearchResponse, ClientError> {
        self.get_json("v1/search", &query.pairs()).await
    }

    /// Every page of `GET /v1/search`, newest first.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn search_all(
        &self,
        query: &SearchQuery,
    ) -> Result<Vec<attestlog_proto::api::SearchHit>, ClientError> {
        let mut q = query.clone();
        let mut out = Vec::new();
        loop {
            let page = self.search(&q).await?;
            out.extend(page.entries);
            match page.next {
                Some(n) if q.before != Some(n) => q.before = Some(n),
                _ => return Ok(out),
            }
        }
    }

    /// `GET /v1/vendors`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn vendors(&self) -> Result<VendorList, ClientError> {
        self.get_json("v1/vendors", &[]).await
    }

    /// `POST /v1/vendors` with the admin token: enrols or revokes a vendor key.
    ///
    /// # Errors
    /// [`ClientError::Status`] (401 bad token, 409 conflict, …).
    pub async fn vendor_action(
        &self,
        admin_token: &str,
        request: &VendorRequest,
    ) -> Result<VendorResponse, ClientError> {
        let url = self.url("v1/vendors");
        let req = self.http.post(&url).bearer_auth(admin_token).json(request);
        let body = self.send(req, &url).await?;
        Self::decode(&url, &body)
    }
}

#[cfg(test)]
mod retry_tests {
    #![allow(clippy::unwrap_used)]
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A server on 127.0.0.1 that closes its first connection after reading a request,
    /// without answering (as a server closing an idle keep-alive connection does just as a
    /// request arrives), and answers the second with `status` and a body.
    async fn flaky(status: &'static str) -> (String, tokio::task::JoinHandle<()>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut first, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = first.read(&mut buf).await.unwrap();
            drop(first);
            let (mut second, _) = l.accept().await.unwrap();
            let _ = second.read(&mut buf).await.unwrap();
            let answer =
                format!("HTTP/1.1 {status}\r\ncontent-length: 5\r\nconnection: close\r\n\r\ntiles");
            second.write_all(answer.as_bytes()).await.unwrap();
            second.shutdown().await.unwrap();
        });
        (url, task)
    }

    #[tokio::test]
    async fn a_read_whose_connection_closes_unanswered_is_sent_again_once() {
        let (url, server) = flaky("200 OK").await;
        let c = Client::new(&url).unwrap();
        let body = c
            .tile(&TilePath::Entries {
                index: 912,
                width: 256,
            })
            .await
            .unwrap();
        assert_eq!(body, b"tiles");
        server.await.unwrap();
        // An answer is never retried: an error status comes back as it is.
        let (url, server) = flaky("503 Service Unavailable").await;
        let e = Client::new(&url).unwrap().checkpoint().await.unwrap_err();
        assert_eq!(e.status(), Some(503), "{e}");
        server.await.unwrap();
    }
}
