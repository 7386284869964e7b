//! The one error type of the JSON API, and the plain-text errors of the static path.

use attestlog_proto::api::{ErrorBody, ErrorDetail, FieldProblem};
use attestlog_proto::enrolment::AdmissionError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::admission::AdmitError;
use crate::prover::ProverError;
use crate::rules::RuleError;
use crate::sequencer::SeqError;
use crate::storage::StoreError;

/// A JSON API error: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message.
    pub message: String,
    /// Field path.
    pub field: Option<String>,
    /// Every validation problem.
    pub details: Vec<FieldProblem>,
    /// `Retry-After` seconds (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            details: vec![],
            retry_after: None,
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// 422 at a field.
    pub fn unprocessable(field: Option<String>, message: impl Into<String>) -> Self {
        Self {
            field,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
    }
    /// 503 with Retry-After.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
    /// With a field path.
    #[must_use]
    pub fn at(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    fn code(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            408 => "timeout",
            409 => "conflict",
            413 => "too_large",
            422 => "unprocessable",
            429 => "quota_exceeded",
            503 => "unavailable",
            _ => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        metrics::counter!("attestlog_http_errors_total", "status" => self.status.as_str().to_owned())
            .increment(1);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.message,
                field: self.field,
                details: self.details,
            },
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::SearchTimedOut = e {
            // The client's request, not a fault of the log: said to the client, not logged
            // as an error.
            tracing::warn!(error = %e, "search cancelled");
            return ApiError::unavailable(e.to_string());
        }
        tracing::error!(error = %e, "storage error");
        ApiError::unavailable("storage is unavailable")
    }
}

impl From<AdmitError> for ApiError {
    fn from(e: AdmitError) -> Self {
        match e {
            AdmitError::BodyTooLarge(_) | AdmitError::EntryTooLarge(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            AdmitError::NotAnEnvelope { ref field, .. } => {
                let err = ApiError::bad_request(e.to_string());
                match field {
                    Some(f) => err.at(f),
                    None => err,
                }
            }
            AdmitError::PayloadType(_) => {
                ApiError::unprocessable(Some("payloadType".into()), e.to_string())
            }
            AdmitError::Refused(e) => refusal(e),
            AdmitError::LoggedByTheLog => ApiError::unprocessable(
                Some("payloadType".into()),
                "enrolments are appended through POST /v1/vendors",
            ),
            AdmitError::Quota { retry_after, .. } => ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
            },
            AdmitError::Sequencer(e) => e.into(),
            AdmitError::Storage(e) => e.into(),
        }
    }
}

fn problems_to_error(problems: Vec<FieldProblem>) -> ApiError {
    let first = problems.first().cloned();
    let mut e = ApiError::unprocessable(
        first.as_ref().map(|p| p.field.clone()),
        first.map_or_else(
            || "invalid statement".to_owned(),
            |p| {
                if problems.len() > 1 {
                    format!(
                        "{}: {} (and {} more)",
                        p.field,
                        p.message,
                        problems.len() - 1
                    )
                } else {
                    format!("{}: {}", p.field, p.message)
                }
            },
        ),
    );
    e.details = problems;
    e
}

/// The answer to a submission the rule engine refused: its status, the field path and, for
/// an invalid statement, every problem.
#[must_use]
pub fn refusal(e: AdmissionError) -> ApiError {
    match e {
        AdmissionError::Statement(errs) => problems_to_error(
            errs.into_iter()
                .map(|e| FieldProblem {
                    field: e.path,
                    message: e.message,
                })
                .collect(),
        ),
        e => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let mut err = ApiError::new(status, e.to_string());
            if let Some(f) = e.field() {
                err = err.at(&f);
            }
            err
        }
    }
}

impl From<ProverError> for ApiError {
    fn from(e: ProverError) -> Self {
        match e {
            ProverError::Proof(p) => ApiError::bad_request(p.to_string()),
            ProverError::NoEntry(i) => ApiError::not_found(format!("no entry at index {i}")),
            ProverError::TileRead(m) => {
                tracing::error!(error = %m, "tile read failed while proving");
                ApiError::unavailable("storage is unavailable")
            }
            ProverError::NoHashes => ApiError::unavailable("storage returned no hashes"),
            ProverError::Storage(e) => e.into(),
        }
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            RuleError::Unprocessable { field, message } => ApiError::unprocessable(field, message),
        }
    }
}

impl From<SeqError> for ApiError {
    fn from(e: SeqError) -> Self {
        match e {
            SeqError::Rule(r) => r.into(),
            SeqError::Storage(m) => {
                tracing::error!(error = %m, "sequencer storage error");
                ApiError::unavailable("the entry could not be integrated; retry")
            }
            SeqError::Unavailable(m) => ApiError::unavailable(m),
            SeqError::Halted(m) => ApiError::unavailable(m),
        }
    }
}

/// A plain-text error of the static (tiles, checkpoint) path.
#[derive(Debug)]
pub struct TextError(pub StatusCode, pub String);

impl IntoResponse for TextError {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.1),
        )
            .into_response()
    }
}

impl From<StoreError> for TextError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        TextError(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage is unavailable".into(),
        )
    }
}
