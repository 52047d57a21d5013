//! Scattered Forest Search (Light et al., 2024; `src/solvers/synthesis.py` of
//! `codespace-optimization/sfs` @ 9185737, its `SynthesisSolver`): seed programs, each written in
//! a different style (a shuffled list of style instructions, `preamble_mode=instruction`), are the
//! roots of a forest scored by the share of public tests passed. Each iteration selects a node by
//! UCT ([`forest_select`]) and stops when it passes; a node with no untried direction first gets a
//! scattering of improvement directions from the model; one untried direction is implemented as a
//! child, scored, and its score raised up the tree; then the shared insights (scouting) are
//! updated from what the direction did. The answer is the highest-scoring program, the earliest
//! of equals.
//!
//! Left out: writing visible tests with the model when a problem has too few
//! (`do_fill_with_tests`); the public tests are used as they are.

use serde::{Deserialize, Serialize};

use super::kit::{Halt, Kit};
use crate::multiturn::Purpose;
use crate::parse::list;
use crate::search::{NodeId, Tree, forest_select};
use crate::select::draw;

/// The prompts it asks with.
pub(crate) const PROMPTS: &[&str] = &[
    "sfs-styles",
    "sfs-seed",
    "sfs-directions",
    "sfs-improve",
    "sfs-insights",
];

/// Scattered Forest Search's parameters: the paper's comparison runs
/// (`src/scripts/sbatch_search_compare.sh` l.34 of `codespace-optimization/sfs` @ 9185737).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sfs {
    /// Seed programs, the roots (`num_seeds=5`).
    pub seeds: u32,
    /// Search iterations, one program each (`max_iters=5`).
    pub max_iters: u32,
    /// Directions asked for per scattering (`num_ideas_per_strategy=2`).
    pub directions: u32,
    /// UCT's exploration constant (`c = sqrt(2)`, `search_utils.py` l.103).
    pub exploration: f64,
}

impl Default for Sfs {
    fn default() -> Self {
        Sfs {
            seeds: 5,
            max_iters: 5,
            directions: 2,
            exploration: std::f64::consts::SQRT_2,
        }
    }
}

/// What a node holds.
struct Spot {
    attempt: usize,
    directions: Vec<String>,
    tried: usize,
}

/// The direction used when a scattering gives none.
const DEFAULT_DIRECTION: &str = "Find why the failing tests fail and fix the code.";

/// The highest-scoring program, the earliest of equals.
pub(crate) fn fallback(kit: &Kit) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, a) in kit.attempts.iter().enumerate() {
        if best.is_none_or(|(_, b)| a.score > b) {
            best = Some((i, a.score));
        }
    }
    best.map(|(i, _)| i)
}

/// The style instructions in the order seed `seed` shuffles them (Fisher-Yates).
fn shuffled(mut styles: Vec<String>, seed: u64) -> Vec<String> {
    for i in (1..styles.len()).rev() {
        let j = (draw(seed, i as u64) % (i as u64 + 1)) as usize;
        styles.swap(i, j);
    }
    styles
}

pub(crate) async fn run(kit: &mut Kit, params: &Sfs) -> Result<Option<usize>, Halt> {
    let styles = kit.prompt("sfs-styles")?;
    let styles = shuffled(kit.read(list(&styles, "styles", 100)), kit.seed);
    let mut tree: Tree<Spot> = Tree::new();
    for i in 0..params.seeds as usize {
        let style = styles
            .get(i % styles.len().max(1))
            .map_or("", String::as_str);
        let at = kit.code("sfs-seed", &[("style", style)]).await?;
        let id = tree.add_root(Spot {
            attempt: at,
            directions: Vec::new(),
            tried: 0,
        });
        tree.set_value(id, kit.attempts[at].score);
    }
    let mut insights = "None".to_owned();
    let count = params.directions.to_string();
    for _ in 0..params.max_iters {
        let untried = |t: &Tree<Spot>, id: NodeId| {
            let s = &t.node(id).payload;
            s.tried < s.directions.len()
        };
        let flags: Vec<bool> = (0..tree.len()).map(|id| untried(&tree, id)).collect();
        let Some(id) = forest_select(&mut tree, params.exploration, |id| flags[id]) else {
            break;
        };
        let at = tree.node(id).payload.attempt;
        if kit.attempts[at].passed() {
            break;
        }
        let (code, feedback) = (kit.code_of(at).to_owned(), kit.feedback(at));
        if !untried(&tree, id) {
            let answer = kit
                .ask(
                    Purpose::Reason,
                    "sfs-directions",
                    &[
                        ("code", &code),
                        ("feedback", &feedback),
                        ("insights", &insights),
                        ("count", &count),
                    ],
                )
                .await?;
            let mut found = kit.read(list(&answer, "directions", params.directions as usize));
            if found.is_empty() {
                found.push(DEFAULT_DIRECTION.to_owned());
            }
            tree.node_mut(id).payload.directions.extend(found);
        }
        let spot = &mut tree.node_mut(id).payload;
        let direction = spot.directions[spot.tried].clone();
        spot.tried += 1;
        let child = kit
            .code(
                "sfs-improve",
                &[
                    ("code", &code),
                    ("feedback", &feedback),
                    ("direction", &direction),
                    ("insights", &insights),
                ],
            )
            .await?;
        let node = tree.add_child(
            id,
            Spot {
                attempt: child,
                directions: Vec::new(),
                tried: 0,
            },
        );
        tree.set_value(node, kit.attempts[child].score);
        tree.raise(node);
        let change = format!("{:+.2}", kit.attempts[child].score - kit.attempts[at].score);
        let (new_code, new_feedback) = (kit.code_of(child).to_owned(), kit.feedback(child));
        insights = kit
            .ask(
                Purpose::Reason,
                "sfs-insights",
                &[
                    ("insights", &insights),
                    ("code", &code),
                    ("feedback", &feedback),
                    ("direction", &direction),
                    ("new_code", &new_code),
                    ("new_feedback", &new_feedback),
                    ("change", &change),
                ],
            )
            .await?;
    }
    Ok(fallback(kit))
}
