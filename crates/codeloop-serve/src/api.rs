//! What every endpoint shares: errors as JSON, auth, reading a body under the size and time
//! limits, and admission to the queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Request, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tokio::sync::OwnedSemaphorePermit;

use crate::State;

/// What a JSON endpoint answers: its JSON, or the refusal.
pub(crate) type Answer<T = serde_json::Value> = Result<axum::Json<T>, ApiError>;

/// A refused request: its status, what was wrong, and the field at fault where one is.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What was wrong, for a person.
    pub message: String,
    /// The request field at fault (a path such as `tests[2].stdin`), where one is.
    pub field: Option<String>,
    /// Seconds to wait before retrying (429, 503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A 400 naming `field`.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.message, "field": self.field});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// `GET /healthz`: 200 while serving, 503 once draining (so a load balancer stops sending).
pub(crate) async fn healthz(Shared(state): Shared<Arc<State>>) -> Response {
    if state.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

/// `GET /v1/ping`: `SandboxFusion`'s liveness check.
pub(crate) async fn ping() -> axum::Json<&'static str> {
    axum::Json("pong")
}

pub(crate) async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {} {} (there are POST /run_code, POST /v1/execute, GET /healthz, GET /metrics)",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Requires the bearer token, when the server has one (`/healthz` is outside this layer).
pub(crate) async fn auth(
    Shared(state): Shared<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.config.token
        && !bearer_matches(request.headers(), token)
    {
        state.metrics.refused("unauthorized");
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (send `Authorization: Bearer TOKEN`)",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(request).await
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in time independent of
/// where the bytes differ.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads `body` as JSON of type `T`: 408 when it does not arrive in time, 413 past the size
/// limit, 400 naming the field when it is not a valid `T`.
pub(crate) async fn read_json<T: DeserializeOwned>(
    state: &State,
    body: Body,
) -> Result<T, ApiError> {
    let limit = state.config.max_body_bytes;
    let bytes =
        match tokio::time::timeout(state.config.read_timeout, axum::body::to_bytes(body, limit))
            .await
        {
            Err(_) => {
                state.metrics.refused("slow_body");
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} s",
                        state.config.read_timeout.as_secs()
                    ),
                ));
            }
            Ok(Err(e)) => {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(<dyn std::error::Error>::is::<http_body_util::LengthLimitError>)
                    || e.to_string().contains("length limit");
                if too_large {
                    state.metrics.refused("too_large");
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the request body is larger than {limit} bytes"),
                    ));
                }
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                ));
            }
            Ok(Ok(bytes)) => bytes,
        };
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        state.metrics.refused("bad_request");
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || path == "." {
            ApiError {
                field: (path != ".").then_some(path),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the request body is not valid JSON of this endpoint: {inner}"),
                )
            }
        } else {
            ApiError::field(&path, format!("field `{path}`: {inner}"))
        }
    })
}

/// Admits one execution: 503 while draining, 429 with `Retry-After` when the queue is full.
pub(crate) fn admit(state: &State) -> Result<OwnedSemaphorePermit, ApiError> {
    if state.draining.load(Ordering::SeqCst) {
        state.metrics.refused("draining");
        return Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down; send this to another replica",
            )
        });
    }
    state.admission.clone().try_acquire_owned().map_err(|_| {
        state.metrics.refused("busy");
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{} executions are already admitted (--queue); retry later",
                    state.config.queue
                ),
            )
        }
    })
}

/// Admits one execution of a batch: 503 while draining, else waits for room in the queue.
pub(crate) async fn admit_waiting(state: &State) -> Result<OwnedSemaphorePermit, ApiError> {
    if state.draining.load(Ordering::SeqCst) {
        return admit(state);
    }
    state.admission.clone().acquire_owned().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
    })
}

/// Runs `job` on a task of its own that holds `permit`: a request dropped midway (its client
/// went away) leaves the job to finish with its admission held, so that no more than `--queue`
/// executions are ever under way.
pub(crate) async fn run_admitted(
    state: &Arc<State>,
    permit: OwnedSemaphorePermit,
    job: codeloop_sandbox::Job,
) -> codeloop_types::ExecReport {
    let state = state.clone();
    tokio::spawn(async move {
        let _permit = permit;
        state.exec.run(job).await
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Seconds as milliseconds, refused (naming `field`) unless in (0, `max`].
pub(crate) fn seconds_ms(field: &str, seconds: f64, max: f64) -> Result<u64, ApiError> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= max) {
        return Err(ApiError::field(
            field,
            format!("field `{field}`: {seconds} is not a number of seconds in (0, {max}]"),
        ));
    }
    Ok((seconds * 1000.0).round().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_token_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(bearer_matches(&h, "s3cret"));
        assert!(!bearer_matches(&h, "s3cre"));
        assert!(!bearer_matches(&h, "s3cret!"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic s3cret"),
        );
        assert!(!bearer_matches(&h, "s3cret"));
    }

    #[test]
    fn seconds_are_bounded_and_named() {
        assert_eq!(seconds_ms("run_timeout", 1.5, 600.0).unwrap(), 1500);
        for bad in [0.0, -1.0, f64::NAN, 601.0] {
            let e = seconds_ms("run_timeout", bad, 600.0).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("run_timeout"));
        }
    }
}
