//! Adaptive concurrency: additive increase, multiplicative decrease (AIMD) under a fixed maximum.
//!
//! The limit starts at the maximum (inference servers batch best when full) and halves on overload
//! (429, 503, timeouts), at most once per `cooldown` so that one burst of rejections counts once; each
//! success adds `1/limit`, so a full window of successes adds one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A snapshot of a limiter, for stats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterSnapshot {
    /// Current limit.
    pub limit: f64,
    /// Requests holding a slot.
    pub in_flight: usize,
    /// Times the limit was cut.
    pub decreases: u64,
}

struct State {
    limit: f64,
    in_flight: usize,
    last_decrease: Option<Instant>,
    decreases: u64,
}

/// An AIMD concurrency limiter.
pub struct AimdLimiter {
    max: usize,
    min: usize,
    cooldown: Duration,
    state: Mutex<State>,
    notify: Notify,
}

/// A held slot; give it back with [`AimdLimiter::release`].
#[must_use]
#[derive(Debug)]
pub struct Slot(());

impl AimdLimiter {
    /// A limiter starting at `max` slots.
    #[must_use]
    pub fn new(max: usize, cooldown: Duration) -> Self {
        let max = max.max(1);
        AimdLimiter {
            max,
            min: 1,
            cooldown,
            state: Mutex::new(State {
                limit: max as f64,
                in_flight: 0,
                last_decrease: None,
                decreases: 0,
            }),
            notify: Notify::new(),
        }
    }

    /// Waits for a slot.
    pub async fn acquire(&self) -> Slot {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.state.lock().expect("limiter lock");
                if (s.in_flight as f64) < s.limit.floor() {
                    s.in_flight += 1;
                    return Slot(());
                }
            }
            notified.await;
        }
    }

    /// Returns a slot, telling how the request went: `Some(true)` success, `Some(false)` overload,
    /// `None` neither (a fatal error says nothing about load).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the slot is a token: taking it by value is what gives it back"
    )]
    pub fn release(&self, slot: Slot, outcome: Option<bool>) {
        let Slot(()) = slot;
        let mut s = self.state.lock().expect("limiter lock");
        s.in_flight -= 1;
        match outcome {
            Some(true) => s.limit = (s.limit + 1.0 / s.limit).min(self.max as f64),
            Some(false) => {
                let now = Instant::now();
                if s.last_decrease
                    .is_none_or(|t| now.duration_since(t) >= self.cooldown)
                {
                    s.limit = (s.limit / 2.0).max(self.min as f64);
                    s.last_decrease = Some(now);
                    s.decreases += 1;
                }
            }
            None => {}
        }
        let free = (s.limit.floor() as usize).saturating_sub(s.in_flight);
        drop(s);
        for _ in 0..free.min(2) {
            self.notify.notify_one();
        }
    }

    /// Current state.
    #[must_use]
    pub fn snapshot(&self) -> LimiterSnapshot {
        let s = self.state.lock().expect("limiter lock");
        LimiterSnapshot {
            limit: s.limit,
            in_flight: s.in_flight,
            decreases: s.decreases,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[expect(
        clippy::float_cmp,
        reason = "halving 64 and adding whole steps are exact"
    )]
    async fn halves_on_overload_once_per_cooldown_and_grows_back() {
        let l = AimdLimiter::new(64, Duration::from_hours(1));
        let a = l.acquire().await;
        let b = l.acquire().await;
        l.release(a, Some(false));
        l.release(b, Some(false));
        assert_eq!(l.snapshot().limit, 32.0);
        assert_eq!(l.snapshot().decreases, 1);
        for _ in 0..32 {
            let s = l.acquire().await;
            l.release(s, Some(true));
        }
        let limit = l.snapshot().limit;
        assert!(limit > 32.9 && limit < 33.1, "{limit}");
    }

    #[tokio::test]
    async fn never_exceeds_the_limit() {
        let l = std::sync::Arc::new(AimdLimiter::new(3, Duration::from_millis(1)));
        let held: Vec<Slot> = vec![l.acquire().await, l.acquire().await, l.acquire().await];
        let l2 = l.clone();
        let waiter = tokio::spawn(async move {
            let s = l2.acquire().await;
            l2.release(s, None);
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(l.snapshot().in_flight, 3);
        for s in held {
            l.release(s, None);
        }
        waiter.await.unwrap();
        assert_eq!(l.snapshot().in_flight, 0);
    }
}
