//! The RL environment API, in Gymnasium's terms, over the dataset the server loaded: an episode
//! is one trajectory of a codeloop strategy (its prompts, its turn schedule, its feedback
//! renderers F1 to F3), driven by the trainer's model instead of codeloop's.
//!
//! - `POST /v1/env/reset` `{"task_id"}` or `{"seed"}` (the problem drawn from the seed), with
//!   `policy_seed` and Gymnasium's `options`: `strategy` (a built-in turn schedule; default
//!   `multi-turn`: three attempts, F2 feedback after each failure), `params` (strategy fields, as
//!   `--param`: e.g. `{"feedback": "F3", "max_turns": "5"}`), `reward` and `weights`: gives `episode_id`,
//!   `observation` (`messages`, the conversation to answer, and `turn`) and `info`.
//! - `POST /v1/env/step` `{"episode_id", "action"}` (the model's answer to the last messages):
//!   codeloop extracts the program, runs it on the public tests (the feedback comes from them
//!   alone) and on the hidden ones (the reward), and gives `observation` (the next messages,
//!   with the feedback), `reward`, `terminated`, `truncated` and `info` (verdicts, whether it is
//!   solved, the extraction rule).
//!   - `terminated`: the episode reached its goal (the last program passed the public tests, or
//!     the hidden ones); `truncated`: the strategy's turn cap or budget ended it first.
//!   - `reward`: `binary` (default: 1 when the step's program passes every hidden test),
//!     `fraction` (the share of hidden tests it passes), or `weighted` with `weights`
//!     (`hidden_pass`, `hidden_fraction`, `public_fraction`): their weighted sum. A step whose
//!     answer yields no program is rewarded 0.
//! - `POST /v1/env/reset_batch` `{"task_ids": [...], "group_size": G, "options"}`: N problems x G
//!   episodes at once (a GRPO group each; policy seeds `0..G`), and `POST /v1/env/step_batch`
//!   `{"steps": [{"episode_id", "action"}, ...]}`: many steps at once, run concurrently.
//! - `POST /v1/env/close` `{"episode_id"}` drops an episode; finished episodes are dropped by
//!   their last step.
//!
//! Hidden tests never reach an observation. Strategies that trace programs (F4, `ldb`) or run a
//! planning method are refused for now, naming what is supported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use codeloop_sandbox::Job;
use codeloop_strategy::{Action, Observation, Policy, PromptLibrary, StrategySpec};
use codeloop_types::{ExecReport, Limits, Message, Outcome, Problem};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::State;
use crate::api::{Answer, ApiError, admit, read_json};
use crate::evaluate::fraction;

/// Episodes held at once (more: 429 until some close, finish or stay idle for
/// [`EPISODE_IDLE`]).
pub const MAX_EPISODES: usize = 100_000;

/// How long an episode may wait for its next step before a full table drops it.
pub const EPISODE_IDLE: std::time::Duration = std::time::Duration::from_hours(1);

/// The most episodes one `reset_batch` makes.
pub const MAX_BATCH: usize = 4096;

/// Weights of the `weighted` reward.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Of 1 when every hidden test passes.
    #[serde(default)]
    pub hidden_pass: f64,
    /// Of the share of hidden tests passed.
    #[serde(default)]
    pub hidden_fraction: f64,
    /// Of the share of public tests passed.
    #[serde(default)]
    pub public_fraction: f64,
}

/// The options of a reset (Gymnasium's `options`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeOptions {
    /// A built-in strategy (a turn schedule).
    #[serde(default)]
    pub strategy: Option<String>,
    /// Strategy fields to set, as `--param KEY=VALUE`.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// `binary`, `fraction` or `weighted`.
    #[serde(default)]
    pub reward: Option<String>,
    /// The weights of `weighted`.
    #[serde(default)]
    pub weights: Option<Weights>,
}

/// The body of `POST /v1/env/reset`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The problem.
    #[serde(default)]
    pub task_id: Option<String>,
    /// Draws the problem when there is no `task_id`.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The strategy's seed (its draws among prompts and tests).
    #[serde(default)]
    pub policy_seed: u64,
    /// The strategy, its fields and the reward.
    #[serde(default)]
    pub options: EpisodeOptions,
}

/// The body of `POST /v1/env/reset_batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetBatchRequest {
    /// The problems.
    pub task_ids: Vec<String>,
    /// Episodes per problem.
    #[serde(default = "one")]
    pub group_size: usize,
    /// The strategy, its fields and the reward.
    #[serde(default)]
    pub options: EpisodeOptions,
}

fn one() -> usize {
    1
}

/// One step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// The episode.
    pub episode_id: String,
    /// The model's answer.
    pub action: String,
}

/// Many steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBatchRequest {
    /// The steps.
    pub steps: Vec<StepRequest>,
}

/// The body of `POST /v1/env/close`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The episode.
    pub episode_id: String,
}

/// How a step's program is rewarded.
#[derive(Debug, Clone, Copy)]
struct Reward {
    weights: Weights,
    /// Whether the hidden tests must all run (a fraction is weighted).
    all_tests: bool,
}

/// One episode: its problem, the strategy driving it, what it waits for.
struct Episode {
    problem: Arc<Problem>,
    policy: Box<dyn Policy>,
    reward: Reward,
    /// The conversation the model is to answer.
    messages: Vec<Message>,
    turn: u32,
    /// Whether the last program passed the public tests.
    public_passed: bool,
    /// When it last took a step (or began): idle episodes give way when the table is full.
    last_used: Instant,
}

/// The episodes of a server.
#[derive(Default)]
pub struct Episodes {
    live: Mutex<HashMap<String, Option<Episode>>>,
    next: AtomicU64,
}

fn reward(options: &EpisodeOptions) -> Result<Reward, ApiError> {
    let weights = match (
        options.reward.as_deref().unwrap_or("binary"),
        options.weights,
    ) {
        ("binary", None) => Weights {
            hidden_pass: 1.0,
            ..Weights::default()
        },
        ("fraction", None) => Weights {
            hidden_fraction: 1.0,
            ..Weights::default()
        },
        ("weighted", Some(w)) => w,
        ("weighted", None) => {
            return Err(ApiError::field(
                "options.weights",
                "field `options.weights`: `weighted` needs `weights` (hidden_pass, hidden_fraction, public_fraction)",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::field(
                "options.weights",
                "field `options.weights` goes with `\"reward\": \"weighted\"`",
            ));
        }
        (other, None) => {
            return Err(ApiError::field(
                "options.reward",
                format!(
                    "field `options.reward`: `{other}` is not one of binary, fraction, weighted"
                ),
            ));
        }
    };
    Ok(Reward {
        weights,
        all_tests: weights.hidden_fraction != 0.0,
    })
}

/// The strategy of `options`, refused (naming the field) when the environment cannot drive it.
fn strategy(
    options: &EpisodeOptions,
    library: &PromptLibrary,
) -> Result<Arc<StrategySpec>, ApiError> {
    let name = options.strategy.as_deref().unwrap_or("multi-turn");
    let mut spec = StrategySpec::resolve(name, library).map_err(|e| {
        ApiError::field("options.strategy", format!("field `options.strategy`: {e}"))
    })?;
    for (key, value) in &options.params {
        spec = spec
            .with_param(key, value)
            .map_err(|e| ApiError::field(&format!("options.params.{key}"), e.to_string()))?;
    }
    if spec.agent.is_some() || spec.feedback == codeloop_strategy::Granularity::Trace {
        return Err(ApiError::field(
            "options.strategy",
            format!(
                "field `options.strategy`: `{name}` traces programs or is a planning, search or pool method; the environment drives turn schedules with F1-F3 feedback (multi-turn, cot-retry, single, reflexion, self-debug, self-debug-simple)"
            ),
        ));
    }
    Ok(Arc::new(spec))
}

impl Episodes {
    /// Opens `episodes` together (all or none): their ids, in order. When the table has no room,
    /// episodes idle for [`EPISODE_IDLE`] are dropped first.
    fn insert_all(&self, episodes: Vec<Episode>) -> Result<Vec<String>, ApiError> {
        let mut live = self.live.lock().expect("episodes lock");
        if live.len() + episodes.len() > MAX_EPISODES {
            live.retain(|_, e| {
                e.as_ref()
                    .is_none_or(|e| e.last_used.elapsed() < EPISODE_IDLE)
            });
        }
        if live.len() + episodes.len() > MAX_EPISODES {
            return Err(ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{} episodes are open and {} more would pass {MAX_EPISODES}; close or finish some",
                        live.len(),
                        episodes.len()
                    ),
                )
            });
        }
        Ok(episodes
            .into_iter()
            .map(|e| {
                let id = format!("ep-{}", self.next.fetch_add(1, Ordering::Relaxed));
                live.insert(id.clone(), Some(e));
                id
            })
            .collect())
    }

    /// Takes episode `id` out for a step (it is busy meanwhile).
    fn take(&self, id: &str) -> Result<Episode, ApiError> {
        let mut live = self.live.lock().expect("episodes lock");
        match live.get_mut(id) {
            None => Err(ApiError::field(
                "episode_id",
                format!(
                    "field `episode_id`: no open episode `{id}` (finished episodes are closed by their last step)"
                ),
            )),
            Some(slot) => slot.take().ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    format!("episode `{id}` is taking a step already"),
                )
            }),
        }
    }

    fn put_back(&self, id: &str, episode: Option<Episode>) {
        let mut live = self.live.lock().expect("episodes lock");
        match episode {
            Some(mut e) => {
                e.last_used = Instant::now();
                live.insert(id.to_owned(), Some(e));
            }
            None => {
                live.remove(id);
            }
        }
    }
}

/// What the model is to answer, as an observation.
fn observation(episode: &Episode) -> Value {
    json!({"messages": episode.messages, "turn": episode.turn})
}

/// A new episode on `problem`, driven to its first model call, and its answer (without its id).
fn new_episode(
    problem: &Arc<Problem>,
    options: &EpisodeOptions,
    policy_seed: u64,
) -> Result<(Episode, Value), ApiError> {
    let library = Arc::new(PromptLibrary::builtin());
    let spec = strategy(options, &library)?;
    let reward = reward(options)?;
    let mut policy = codeloop_strategy::policy(
        Arc::new(problem.public.clone()),
        spec.clone(),
        library,
        policy_seed,
    )
    .map_err(|e| ApiError::field("options.strategy", e.to_string()))?;
    let first = policy
        .next(Observation::Start)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let Action::Llm { messages, turn, .. } = first else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("strategy `{}` did not begin with a model call", spec.name),
        ));
    };
    let episode = Episode {
        problem: problem.clone(),
        policy,
        reward,
        messages,
        turn,
        public_passed: false,
        last_used: Instant::now(),
    };
    let answer = json!({
        "observation": observation(&episode),
        "info": {"task_id": problem.id().0, "strategy": spec.name, "policy_seed": policy_seed},
    });
    Ok((episode, answer))
}

/// Opens `made` episodes and gives their answers with their ids.
fn open(state: &State, made: Vec<(Episode, Value)>) -> Result<Vec<Value>, ApiError> {
    let (episodes, mut answers): (Vec<Episode>, Vec<Value>) = made.into_iter().unzip();
    let ids = state.episodes.insert_all(episodes)?;
    for (answer, id) in answers.iter_mut().zip(ids) {
        answer["episode_id"] = Value::String(id);
    }
    Ok(answers)
}

/// `POST /v1/env/reset`.
pub(crate) async fn reset(Shared(state): Shared<Arc<State>>, body: Body) -> Answer {
    {
        let request: ResetRequest = read_json(&state, body).await?;
        let problems = crate::evaluate::loaded(&state)?;
        let problem = match (&request.task_id, request.seed) {
            (Some(id), _) => problems.problem(id).ok_or_else(|| {
                ApiError::field(
                    "task_id",
                    format!("field `task_id`: no problem `{id}` in {}", problems.name),
                )
            })?,
            (None, Some(seed)) => problems.drawn(seed),
            (None, None) => {
                return Err(ApiError::field(
                    "task_id",
                    "one of `task_id` and `seed` is needed",
                ));
            }
        };
        let made = new_episode(&problem, &request.options, request.policy_seed)?;
        Ok(axum::Json(open(&state, vec![made])?.remove(0)))
    }
}

/// `POST /v1/env/reset_batch`.
pub(crate) async fn reset_batch(Shared(state): Shared<Arc<State>>, body: Body) -> Answer {
    {
        let request: ResetBatchRequest = read_json(&state, body).await?;
        let problems = crate::evaluate::loaded(&state)?;
        let options = &request.options;
        let group = request.group_size.max(1);
        if request.task_ids.len().saturating_mul(group) > MAX_BATCH {
            return Err(ApiError::field(
                "group_size",
                format!(
                    "field `group_size`: {} problems x {group} episodes is more than {MAX_BATCH} in one batch",
                    request.task_ids.len()
                ),
            ));
        }
        let mut chosen = Vec::with_capacity(request.task_ids.len());
        for (i, id) in request.task_ids.iter().enumerate() {
            chosen.push(problems.problem(id).ok_or_else(|| {
                ApiError::field(
                    &format!("task_ids[{i}]"),
                    format!("no problem `{id}` in {}", problems.name),
                )
            })?);
        }
        let mut made = Vec::with_capacity(chosen.len() * group);
        for problem in &chosen {
            for g in 0..group {
                made.push(new_episode(problem, options, g as u64)?);
            }
        }
        let episodes = open(&state, made)?;
        Ok(axum::Json(json!({"episodes": episodes})))
    }
}

/// `POST /v1/env/close`.
pub(crate) async fn close(Shared(state): Shared<Arc<State>>, body: Body) -> Answer {
    let request: CloseRequest = read_json(&state, body).await?;
    let closed = state
        .episodes
        .live
        .lock()
        .expect("episodes lock")
        .remove(&request.episode_id)
        .is_some();
    Ok(axum::Json(json!({"closed": closed})))
}

/// `POST /v1/env/step`.
pub(crate) async fn step(Shared(state): Shared<Arc<State>>, body: Body) -> Answer {
    let request: StepRequest = read_json(&state, body).await?;
    one_step(&state, request, false).await.map(axum::Json)
}

/// `POST /v1/env/step_batch`: the steps run concurrently, each waiting for room in the queue
/// (a batch is never refused for being large); each answer is the step's result or its error
/// (`{"error", "field", "status"}`), in order.
pub(crate) async fn step_batch(Shared(state): Shared<Arc<State>>, body: Body) -> Answer {
    let request: StepBatchRequest = read_json(&state, body).await?;
    let steps = request.steps.into_iter().map(|s| {
        let state = state.clone();
        async move {
            match one_step(&state, s, true).await {
                Ok(v) => v,
                Err(e) => {
                    json!({"error": e.message, "field": e.field, "status": e.status.as_u16()})
                }
            }
        }
    });
    let results = futures_util::future::join_all(steps).await;
    Ok(axum::Json(json!({"results": results})))
}

/// A step's program, run on the public and the hidden tests.
struct Ran {
    public: ExecReport,
    hidden: ExecReport,
    reward: f64,
    solved: bool,
}

async fn run_program(state: &State, problem: Arc<Problem>, reward: Reward, program: &str) -> Ran {
    let limits = Limits {
        memory_mib: Some(state.config.default_memory_mib),
        ..Limits::default()
    };
    let entry = problem.entry_point().unwrap_or_default();
    let started = Instant::now();
    let public = state
        .exec
        .run(Job::suite(
            program.into(),
            entry,
            problem.public.public_tests.clone(),
            limits.clone(),
        ))
        .await;
    let mut hidden_job = Job::suite(program.into(), entry, problem.hidden.0.clone(), limits);
    hidden_job.fail_fast = !reward.all_tests;
    let hidden = state.exec.run(hidden_job).await;
    let solved = hidden.outcome == Outcome::Passed;
    state.metrics.executed(
        "env",
        if solved {
            "pass"
        } else {
            hidden.verdict.name()
        },
        started.elapsed(),
    );
    let w = reward.weights;
    let reward = w.hidden_pass * f64::from(u8::from(solved))
        + w.hidden_fraction * fraction(&hidden, &problem.hidden.0)
        + w.public_fraction * fraction(&public, &problem.public.public_tests);
    Ran {
        public,
        hidden,
        reward,
        solved,
    }
}

/// Drives episode `request.episode_id` from the model's answer to its next model call, or to
/// its end. Admission comes first (a 429 leaves the episode as it was), and the step runs on a
/// task of its own holding it: a client that goes away mid-step leaves the step to finish and the
/// episode to be put back. An error after the strategy took the answer closes the episode.
async fn one_step(state: &Arc<State>, request: StepRequest, wait: bool) -> Result<Value, ApiError> {
    let permit = if wait {
        crate::api::admit_waiting(state).await?
    } else {
        admit(state)?
    };
    let mut episode = state.episodes.take(&request.episode_id)?;
    let state = state.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let result = drive(&state, &mut episode, &request.action).await;
        let finished = result
            .as_ref()
            .map_or(true, |v| v["terminated"] == true || v["truncated"] == true);
        state
            .episodes
            .put_back(&request.episode_id, (!finished).then_some(episode));
        result.map_err(|mut e| {
            e.message = format!("{} (episode `{}` is closed)", e.message, request.episode_id);
            e
        })
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

async fn drive(state: &State, episode: &mut Episode, answer: &str) -> Result<Value, ApiError> {
    let strategy_error = |e: codeloop_strategy::StrategyError| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    };
    let mut action = episode
        .policy
        .next(Observation::Llm(answer))
        .map_err(strategy_error)?;
    let mut ran: Option<(Ran, codeloop_strategy::Extracted)> = None;
    loop {
        action = match action {
            Action::Exec { extracted, .. } => {
                let r = run_program(
                    state,
                    episode.problem.clone(),
                    episode.reward,
                    &extracted.program,
                )
                .await;
                episode.public_passed = r.public.outcome == Outcome::Passed;
                let next = episode
                    .policy
                    .next(Observation::Exec(&r.public))
                    .map_err(strategy_error)?;
                ran = Some((r, extracted));
                next
            }
            Action::Submit { .. } => episode
                .policy
                .next(Observation::Submitted)
                .map_err(strategy_error)?,
            Action::Llm { messages, turn, .. } => {
                episode.messages = messages;
                episode.turn = turn;
                return Ok(step_answer(episode, ran, false, false));
            }
            Action::Trace { .. } => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the strategy asked for a trace, which the environment does not run",
                ));
            }
            Action::Stop => {
                // Ended by its goal (the public tests passed, or the hidden ones did), else by its
                // turn cap or budget.
                let solved = ran.as_ref().is_some_and(|(r, _)| r.solved);
                let terminated = episode.public_passed || solved;
                return Ok(step_answer(episode, ran, terminated, !terminated));
            }
        };
    }
}

fn step_answer(
    episode: &Episode,
    ran: Option<(Ran, codeloop_strategy::Extracted)>,
    terminated: bool,
    truncated: bool,
) -> Value {
    let observation = if terminated || truncated {
        json!({"messages": episode.messages, "turn": episode.turn, "done": true})
    } else {
        observation(episode)
    };
    let (reward, info) = match ran {
        Some((r, extracted)) => (
            r.reward,
            json!({
                "solved": r.solved,
                "public_passed": r.public.outcome == Outcome::Passed,
                "public_verdicts": r.public.tests.iter().map(|t| t.verdict.name()).collect::<Vec<_>>(),
                "hidden_verdict": if r.solved { "pass" } else { r.hidden.verdict.name() },
                "extraction": extracted.rule,
                "program": extracted.program,
            }),
        ),
        None => (0.0, json!({"solved": false, "program": null})),
    };
    json!({
        "observation": observation,
        "reward": reward,
        "terminated": terminated,
        "truncated": truncated,
        "info": info,
    })
}
