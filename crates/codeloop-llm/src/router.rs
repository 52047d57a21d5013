//! One model served by several endpoints: least-loaded choice, sticky per trajectory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::backend::{Backend, BoxFuture, Generation};
use crate::errors::LlmError;
use crate::openai::OpenAiBackend;
use crate::request::ValidRequest;

/// Routes requests over endpoints of one model. A request with an `affinity` key goes where the
/// first request with that key went, so a trajectory's follow-up turns hit that server's prefix
/// cache; others go to the endpoint with the most free room under its adaptive limit.
pub struct Router {
    endpoints: Vec<Arc<OpenAiBackend>>,
    sticky: Mutex<HashMap<u64, usize>>,
}

/// Affinity entries kept before the map is cleared (trajectories are short-lived).
const STICKY_CAP: usize = 1 << 20;

impl Router {
    /// A router over `endpoints` (at least one).
    pub fn new(endpoints: Vec<Arc<OpenAiBackend>>) -> Result<Self, LlmError> {
        if endpoints.is_empty() {
            return Err(LlmError::Config(
                "a router needs at least one endpoint".to_owned(),
            ));
        }
        Ok(Router {
            endpoints,
            sticky: Mutex::new(HashMap::new()),
        })
    }

    /// The endpoints.
    #[must_use]
    pub fn endpoints(&self) -> &[Arc<OpenAiBackend>] {
        &self.endpoints
    }

    fn pick(&self, affinity: Option<u64>) -> usize {
        let least_loaded = || {
            (0..self.endpoints.len())
                .max_by(|&a, &b| {
                    let room = |i: usize| {
                        let s = self.endpoints[i].limiter().snapshot();
                        s.limit - s.in_flight as f64
                    };
                    room(a).total_cmp(&room(b))
                })
                .unwrap_or(0)
        };
        let Some(key) = affinity else {
            return least_loaded();
        };
        let mut sticky = self.sticky.lock().expect("router lock");
        if let Some(&i) = sticky.get(&key) {
            return i;
        }
        if sticky.len() >= STICKY_CAP {
            sticky.clear();
        }
        let i = least_loaded();
        sticky.insert(key, i);
        i
    }
}

impl Backend for Router {
    fn identity(&self) -> String {
        // Endpoints of one model answer alike: the identity is the model's, whichever server answers.
        self.endpoints[0].identity()
    }

    fn generate<'a>(
        &'a self,
        request: &'a ValidRequest,
    ) -> BoxFuture<'a, Result<Generation, LlmError>> {
        let i = self.pick(request.get().affinity);
        self.endpoints[i].generate(request)
    }
}
