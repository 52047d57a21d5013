//! The HTTP backend against a real HTTP server on loopback (the mock, started by each test) that
//! injects faults: nothing may be lost, and the accounting on both sides must agree exactly.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use codeloop_llm::{
    Backend, GenerationRequest, LlmError, Message, OpenAiBackend, OpenAiConfig, RetryPolicy, Role,
    Router,
};
use codeloop_test_support::mock::{Behavior, MockConfig, MockServer};
use futures_util::future::join_all;

fn request(n: u32) -> codeloop_llm::ValidRequest {
    let mut r = GenerationRequest::chat(vec![Message::new(Role::User, "write add(a, b)")]);
    r.n = n;
    r.validate().unwrap()
}

fn client(server: &MockServer, tweak: impl FnOnce(&mut OpenAiConfig)) -> OpenAiBackend {
    let mut config = OpenAiConfig::new("mock", &server.base_url(), "mock-model");
    config.retry = RetryPolicy {
        max_attempts: 20,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
    };
    tweak(&mut config);
    OpenAiBackend::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_retried_and_no_request_is_lost() {
    let server = MockServer::start(MockConfig {
        script: Arc::new(|seq| match seq % 24 {
            1 => Behavior::Status(429, Some(0)),
            5 => Behavior::Status(500, None),
            9 => Behavior::Status(503, None),
            13 => Behavior::ResetMidBody,
            17 => Behavior::Malformed,
            21 => Behavior::NoUsage,
            _ => Behavior::Ok,
        }),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let backend = client(&server, |_| {});
    let req = request(1);
    let results = join_all((0..300).map(|_| backend.generate(&req))).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 300, "{:?}", results.iter().find(|r| r.is_err()));
    let s = backend.stats().snapshot();
    let c = server.counters();
    assert_eq!(s.sent, c.received.load(Ordering::SeqCst));
    assert_eq!(s.succeeded, 300);
    assert_eq!(c.answered.load(Ordering::SeqCst), 300);
    assert_eq!(s.retries, c.faults.load(Ordering::SeqCst));
    assert!(s.retries >= 5 * 300 / 24 - 5, "{s:?}");
    assert_eq!(s.gave_up, 0);
    assert_eq!(
        s.sent,
        s.succeeded + s.status_errors + s.transport_errors + s.timeouts + s.protocol_errors
    );
    assert!(
        s.usage_missing > 0
            && s.status_errors > 0
            && s.transport_errors > 0
            && s.protocol_errors > 0,
        "{s:?}"
    );
    assert_eq!(s.prompt_tokens, 12 * (s.succeeded - s.usage_missing));
    assert_eq!(s.completion_tokens, 20 * (s.succeeded - s.usage_missing));
    // Every answer is the one the server sent for that request: no mix-ups.
    for r in results {
        let g = r.unwrap();
        assert_eq!(g.choices.len(), 1);
        assert!(g.choices[0].text.starts_with("completion ") && g.choices[0].text.ends_with(".0"));
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start(MockConfig {
        script: Arc::new(|seq| {
            if seq == 0 {
                Behavior::Status(429, Some(1))
            } else {
                Behavior::Ok
            }
        }),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let backend = client(&server, |c| c.retry.max_backoff = Duration::from_secs(5));
    let start = Instant::now();
    backend.generate(&request(1)).await.unwrap();
    // The server said "come back in 1 s"; coming back sooner would be a protocol violation.
    assert!(start.elapsed() >= Duration::from_millis(950));
    assert_eq!(backend.stats().snapshot().retries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_time_out_are_retried_and_cut_the_limit() {
    let server = MockServer::start(MockConfig {
        script: Arc::new(|seq| {
            if seq < 4 {
                Behavior::Slow(Duration::from_secs(3))
            } else {
                Behavior::Ok
            }
        }),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let backend = client(&server, |c| {
        c.request_timeout = Duration::from_millis(300);
        c.max_concurrency = 16;
    });
    let req = request(1);
    let results = join_all((0..4).map(|_| backend.generate(&req))).await;
    assert!(results.iter().all(Result::is_ok));
    let s = backend.stats().snapshot();
    assert_eq!(s.timeouts, 4);
    assert_eq!(s.succeeded, 4);
    let limiter = backend.limiter().snapshot();
    assert!(
        limiter.decreases >= 1 && limiter.limit < 16.0,
        "{limiter:?}"
    );
}

#[tokio::test]
async fn ignored_n_falls_back_to_repeated_requests() {
    let server = MockServer::start(MockConfig {
        honor_n: false,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let backend = client(&server, |_| {});
    let g = backend.generate(&request(5)).await.unwrap();
    assert_eq!(g.choices.len(), 5);
    assert!(!backend.supports_n());
    assert_eq!(server.counters().received.load(Ordering::SeqCst), 5);
    let g = backend.generate(&request(3)).await.unwrap();
    assert_eq!(g.choices.len(), 3);
    assert_eq!(server.counters().received.load(Ordering::SeqCst), 8);
    let s = backend.stats().snapshot();
    assert_eq!(s.n_fallbacks, 1);
    assert_eq!(g.usage.completion_tokens, 60);
}

#[tokio::test]
async fn honoured_n_takes_one_request() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let backend = client(&server, |_| {});
    let g = backend.generate(&request(8)).await.unwrap();
    assert_eq!(g.choices.len(), 8);
    assert_eq!(server.counters().received.load(Ordering::SeqCst), 1);
    assert_eq!(g.usage.completion_tokens, 160);
}

#[tokio::test]
async fn fatal_errors_are_not_retried() {
    let server = MockServer::start(MockConfig {
        script: Arc::new(|_| Behavior::Status(400, None)),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let backend = client(&server, |_| {});
    let err = backend.generate(&request(1)).await.unwrap_err();
    assert!(matches!(err, LlmError::Status { status: 400, .. }), "{err}");
    assert!(!err.is_retryable());
    let s = backend.stats().snapshot();
    assert_eq!((s.sent, s.gave_up, s.retries), (1, 1, 0));
}

#[tokio::test]
async fn retries_run_out_with_a_clear_error() {
    let server = MockServer::start(MockConfig {
        script: Arc::new(|_| Behavior::Status(503, None)),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let backend = client(&server, |c| c.retry.max_attempts = 3);
    let err = backend.generate(&request(1)).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("gave up after 3 attempts; last error: `mock` answered HTTP 503"),
        "{err}"
    );
    assert_eq!(server.counters().received.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_in_flight() {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(100),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let backend = client(&server, |c| c.max_concurrency = 1024);
    let req = request(1);
    let results = join_all((0..1000).map(|_| backend.generate(&req))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.counters().answered.load(Ordering::SeqCst), 1000);
    assert_eq!(backend.limiter().snapshot().in_flight, 0);
}

#[tokio::test]
async fn router_keeps_a_trajectory_on_one_endpoint() {
    let a = MockServer::start(MockConfig::default()).await.unwrap();
    let b = MockServer::start(MockConfig::default()).await.unwrap();
    let router = Router::new(vec![
        Arc::new(client(&a, |_| {})),
        Arc::new(client(&b, |_| {})),
    ])
    .unwrap();
    for trajectory in 0..6u64 {
        let mut r = GenerationRequest::chat(vec![Message::new(Role::User, "x")]);
        r.affinity = Some(trajectory);
        let r = r.validate().unwrap();
        let first = router.generate(&r).await.unwrap().endpoint;
        for _ in 0..3 {
            assert_eq!(router.generate(&r).await.unwrap().endpoint, first);
        }
    }
    let (na, nb) = (
        a.counters().received.load(Ordering::SeqCst),
        b.counters().received.load(Ordering::SeqCst),
    );
    assert_eq!(na + nb, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_answers_repeats_and_asks_only_for_missing_samples() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache =
        Arc::new(codeloop_store::ResponseCache::open(&dir.path().join("cache.sqlite")).unwrap());
    let backend =
        codeloop_llm::CachedBackend::new(Arc::new(client(&server, |_| {})), cache.clone());
    let first = backend.generate(&request(2)).await.unwrap();
    assert_eq!((first.choices.len(), first.cached), (2, 0));
    let more = backend.generate(&request(3)).await.unwrap();
    assert_eq!((more.choices.len(), more.cached), (3, 2));
    assert_eq!(more.choices[..2], first.choices[..]);
    assert_eq!(server.counters().received.load(Ordering::SeqCst), 2);
    assert_eq!(server.counters().choices.load(Ordering::SeqCst), 3);
    let again = backend.generate(&request(3)).await.unwrap();
    assert_eq!((again.cached, again.usage.completion_tokens), (3, 0));
    assert_eq!(again.choices, more.choices);
    assert_eq!(server.counters().received.load(Ordering::SeqCst), 2);
    assert_eq!((cache.hits(), cache.misses()), (5, 3));
}
