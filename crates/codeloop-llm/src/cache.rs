//! The response cache in front of any backend: completions stored in `SQLite` by (backend identity,
//! full request, sample index); asking again for the same request is free, and asking for more
//! samples generates only the missing ones.

use std::sync::Arc;

use codeloop_store::{CacheKey, ResponseCache};

use crate::backend::{Backend, BoxFuture, Choice, Generation, Usage};
use crate::errors::LlmError;
use crate::request::ValidRequest;

/// A backend with a response cache in front.
pub struct CachedBackend {
    inner: Arc<dyn Backend>,
    cache: Arc<ResponseCache>,
}

impl CachedBackend {
    /// `inner` behind `cache`.
    #[must_use]
    pub fn new(inner: Arc<dyn Backend>, cache: Arc<ResponseCache>) -> Self {
        CachedBackend { inner, cache }
    }

    /// The cache (hits and misses).
    #[must_use]
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    async fn generate_inner(&self, request: &ValidRequest) -> Result<Generation, LlmError> {
        let key = CacheKey::new(&self.inner.identity(), &request.cache_text());
        let n = request.get().n;
        let (cache, k) = (self.cache.clone(), key.clone());
        let stored = tokio::task::spawn_blocking(move || cache.get(&k, n))
            .await
            .map_err(|e| LlmError::Config(format!("cache lookup failed: {e}")))?
            .map_err(|e| LlmError::Config(e.to_string()))?;
        let mut choices: Vec<Choice> = stored
            .iter()
            .filter_map(|v| serde_json::from_str(v).ok())
            .collect();
        // A row that no longer parses (an older format) counts as missing from there on.
        let have = choices.len() as u32;
        let mut generation = Generation {
            choices: Vec::new(),
            usage: Usage::default(),
            usage_missing: false,
            endpoint: "cache".to_owned(),
            cached: have,
        };
        if have < n {
            let fresh = self
                .inner
                .generate(&request.samples(have, n - have))
                .await?;
            let values: Vec<String> = fresh
                .choices
                .iter()
                .map(|c| serde_json::to_string(c).expect("choices serialise"))
                .collect();
            let cache = self.cache.clone();
            tokio::task::spawn_blocking(move || cache.put(&key, have, &values))
                .await
                .map_err(|e| LlmError::Config(format!("cache write failed: {e}")))?
                .map_err(|e| LlmError::Config(e.to_string()))?;
            choices.extend(fresh.choices);
            generation.usage = fresh.usage;
            generation.usage_missing = fresh.usage_missing;
            generation.endpoint = fresh.endpoint;
        }
        generation.choices = choices;
        Ok(generation)
    }
}

impl Backend for CachedBackend {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    fn generate<'a>(
        &'a self,
        request: &'a ValidRequest,
    ) -> BoxFuture<'a, Result<Generation, LlmError>> {
        Box::pin(self.generate_inner(request))
    }
}
