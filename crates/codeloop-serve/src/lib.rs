//! codeloop's sandbox as an HTTP service (`codeloop serve`): the executor that `codeloop run`
//! uses, behind two APIs.
//!
//! - **`SandboxFusion`'s** `POST /run_code` ([`fusion`]): the request and response shapes of
//!   bytedance/SandboxFusion, so that trainers pointed at a `SandboxFusion` URL (verl's
//!   `sandbox_fusion_url`) get codeloop's sandbox with no change on their side.
//! - **codeloop's own** `POST /v1/execute` ([`native`]): a program and its tests give per-test
//!   verdicts, as the run loop sees them; `POST /v1/evaluate` ([`evaluate`]): a completion for a
//!   problem of the dataset loaded at start gives a reward and the hidden tests' verdicts;
//!   `/v1/env/*` ([`mod@env`]): an RL environment in Gymnasium's terms (reset, step) whose episodes
//!   are codeloop strategies driven by the trainer's model.
//! - **Operations**: `GET /healthz`, `GET /metrics` (Prometheus text, [`metrics`]), bearer-token
//!   auth, a request-size limit (413), a bounded admission queue (429 with `Retry-After` when
//!   full), a deadline for reading a request's body (a slow client holds a connection, never a
//!   sandbox slot: a job is admitted only once its whole body has arrived), and graceful
//!   shutdown (in-flight executions finish and are answered; new ones get 503).
//!
//! Dependencies: `axum` (tokio's HTTP framework on `hyper`, which the tree already has through
//! `reqwest`; only its `http1`, `json` and `tokio` features) for routing and graceful shutdown;
//! `http-body-util` to read a body under a size limit; `serde_path_to_error` (by serde's author)
//! so that a malformed request is refused with the path of the field at fault; `base64` for
//! `SandboxFusion`'s file contents.

mod api;
pub mod env;
pub mod evaluate;
pub mod fusion;
pub mod metrics;
pub mod native;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use codeloop_engine::run::AsyncExecutor;
use codeloop_sandbox::Executor;
use codeloop_types::Language;

pub use api::ApiError;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The bearer token every request but `/healthz` must carry (`None`: no auth, loopback only).
    pub token: Option<String>,
    /// Largest request body accepted, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Executions admitted at once, running or waiting for a sandbox slot (more: 429).
    pub queue: usize,
    /// How long a client may take to send a request's body (longer: 408).
    pub read_timeout: Duration,
    /// Memory of a run that asks for none (`memory_limit_MB` of -1), in MiB.
    pub default_memory_mib: u64,
    /// The most memory a request may ask for, in MiB (more is lowered to this).
    pub max_memory_mib: u64,
    /// The longest compile or run time a request may ask for, in seconds.
    pub max_seconds: f64,
}

impl ServeConfig {
    /// Defaults for `listen`: no token, 16 MiB bodies, 1,024 admitted executions, 30 s to send a
    /// body, 1 GiB per run unless asked (verl asks for 1,024 MB), at most 8 GiB, at most 600 s.
    #[must_use]
    pub fn new(listen: SocketAddr) -> Self {
        ServeConfig {
            listen,
            token: None,
            max_body_bytes: 16 << 20,
            queue: 1024,
            read_timeout: Duration::from_secs(30),
            default_memory_mib: 1024,
            max_memory_mib: 8192,
            max_seconds: 600.0,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Listening beyond loopback without a token.
    #[error(
        "refusing to listen on {0} without a token: anyone who reaches it could run programs here (pass --token-file FILE, or listen on 127.0.0.1)"
    )]
    NoToken(SocketAddr),
    /// The token is empty.
    #[error("the token is empty")]
    EmptyToken,
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What every handler shares.
pub(crate) struct State {
    pub(crate) config: ServeConfig,
    pub(crate) exec: AsyncExecutor,
    /// Admission: one permit per execution admitted (running or waiting for a slot).
    pub(crate) admission: Arc<tokio::sync::Semaphore>,
    pub(crate) metrics: metrics::Metrics,
    /// Set when shutdown begins: new executions are refused with 503.
    pub(crate) draining: AtomicBool,
    /// The languages the executor runs.
    pub(crate) languages: Vec<Language>,
    /// `MY_POD_NAME` (`SandboxFusion`'s `executor_pod_name`), where set.
    pub(crate) pod_name: Option<String>,
    /// The dataset `/v1/evaluate` and the environment answer for.
    pub(crate) problems: Option<evaluate::Problems>,
    /// The environment's open episodes.
    pub(crate) episodes: env::Episodes,
}

/// A bound server, ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: Arc<State>,
}

impl Server {
    /// Binds `config.listen` for `executor`, which runs `languages`, with `problems` for
    /// `/v1/evaluate`. Refuses a non-loopback address without a token.
    pub async fn bind(
        config: ServeConfig,
        executor: Arc<Executor>,
        languages: Vec<Language>,
        problems: Option<evaluate::Problems>,
    ) -> Result<Self, ServeError> {
        match &config.token {
            Some(t) if t.is_empty() => return Err(ServeError::EmptyToken),
            None if !config.listen.ip().is_loopback() => {
                return Err(ServeError::NoToken(config.listen));
            }
            _ => {}
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.listen,
                source,
            })?;
        let state = Arc::new(State {
            admission: Arc::new(tokio::sync::Semaphore::new(config.queue.max(1))),
            exec: AsyncExecutor::new(executor, config.queue.max(1)),
            metrics: metrics::Metrics::default(),
            draining: AtomicBool::new(false),
            languages,
            pod_name: std::env::var("MY_POD_NAME").ok(),
            problems,
            episodes: env::Episodes::default(),
            config,
        });
        Ok(Server { listener, state })
    }

    /// The address it listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; then stops accepting, answers 503 to new executions on
    /// open connections, and returns once every admitted execution has been answered.
    ///
    /// Connections are served by `hyper` directly (not `axum::serve`) for two limits: a client
    /// must send a request's headers within `read_timeout` of connecting or of its last request
    /// (so an idle or silent connection neither piles up nor holds shutdown), and at most
    /// `queue * 2 + 64` connections are open at once (the next wait in the kernel's backlog).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let app = router(self.state);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let connections = Arc::new(tokio::sync::Semaphore::new(state.config.queue * 2 + 64));
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let room = tokio::select! {
                room = connections.clone().acquire_owned() => room.expect("never closed"),
                () = &mut shutdown => break,
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            // Out of file descriptors and the like: the next accept may do.
            let Ok((stream, _)) = accepted else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(state.config.read_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                let _room = room;
                let _ = connection.await;
            });
        }
        state.draining.store(true, Ordering::SeqCst);
        drop(self.listener);
        // Requests under way are answered; idle connections close at once.
        graceful.shutdown().await;
        Ok(())
    }
}

/// The endpoints; all but `/healthz` (a probe's) behind the token, when there is one.
fn router(state: Arc<State>) -> Router {
    let guarded = Router::new()
        .route("/v1/ping", get(api::ping))
        .route("/metrics", get(metrics::handler))
        .route("/run_code", post(fusion::run_code))
        .route("/v1/execute", post(native::execute))
        .route("/v1/evaluate", post(evaluate::evaluate))
        .route("/v1/env/reset", post(env::reset))
        .route("/v1/env/reset_batch", post(env::reset_batch))
        .route("/v1/env/step", post(env::step))
        .route("/v1/env/step_batch", post(env::step_batch))
        .route("/v1/env/close", post(env::close))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::auth,
        ));
    Router::new()
        .route("/healthz", get(api::healthz))
        .merge(guarded)
        .with_state(state)
}
