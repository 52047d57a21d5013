//! Errors of LLM calls; each says whether retrying may help.

/// What went wrong calling a model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    /// The request is not valid (checked before anything is sent).
    #[error("invalid request: field `{field}` {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The server answered with an error status.
    #[error("`{endpoint}` answered HTTP {status}: {body}")]
    Status {
        /// Endpoint name.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
        /// Seconds the server asked us to wait (`Retry-After`).
        retry_after: Option<f64>,
    },
    /// The connection failed or broke.
    #[error("`{endpoint}`: transport error: {message}")]
    Transport {
        /// Endpoint name.
        endpoint: String,
        /// Details.
        message: String,
    },
    /// No answer within the per-request timeout.
    #[error("`{endpoint}`: no answer within {seconds} s")]
    Timeout {
        /// Endpoint name.
        endpoint: String,
        /// The timeout.
        seconds: f64,
    },
    /// The answer is not what the `OpenAI` API promises.
    #[error("`{endpoint}`: malformed response: {message}")]
    Protocol {
        /// Endpoint name.
        endpoint: String,
        /// Details.
        message: String,
    },
    /// Retries ran out.
    #[error("gave up after {attempts} attempts; last error: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: Box<LlmError>,
    },
    /// The backend cannot be used (bad configuration, missing key).
    #[error("{0}")]
    Config(String),
}

impl LlmError {
    /// Whether the same request may succeed if sent again.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => {
                matches!(status, 408 | 409 | 425 | 429 | 500 | 502 | 503 | 504)
            }
            // A malformed body is usually a connection cut mid-body or a server hiccup.
            LlmError::Transport { .. } | LlmError::Timeout { .. } | LlmError::Protocol { .. } => {
                true
            }
            LlmError::Invalid { .. } | LlmError::Exhausted { .. } | LlmError::Config(_) => false,
        }
    }

    /// Whether the server signals overload (the adaptive limit should back off).
    #[must_use]
    pub fn is_overload(&self) -> bool {
        matches!(
            self,
            LlmError::Status {
                status: 429 | 503,
                ..
            } | LlmError::Timeout { .. }
        )
    }
}
