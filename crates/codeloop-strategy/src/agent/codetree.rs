//! `CodeTree` (Li et al., NAACL 2025; `llm_agent_guide.py` of `SalesforceAIResearch/CodeTree` @
//! 72c9c87): a thinker proposes strategies, each a node without code; depth first from a stack, a
//! solver writes a node's code from its strategy, or a debugger from its parent's code, feedback
//! and the node's reflection. A node's value is the share of public tests passed. A passing node
//! goes to the critic: accepted, it is the answer; rejected, its review joins its feedback and it
//! is expanded. A failing node gets the critic's score (0 to 5, over 15, added to its value) and
//! is not expanded at the depth limit, below its parent's value, or at its parent's value when
//! deeper than its score (l.68-80). Expanding asks the thinker for reflections, each a child.
//! One program per node, at most `max_programs`. With nothing accepted, the answer is the latest
//! program that failed the public tests, else the first one (l.153, 187, 213): a passing program
//! the critic rejected is never the answer, as in the released code.

use serde::{Deserialize, Serialize};

use super::kit::{Halt, Kit};
use crate::multiturn::Purpose;
use crate::parse::{list, score, verdict};
use crate::search::{DepthFirst, NodeId, Tree};

/// The prompts it asks with.
pub(crate) const PROMPTS: &[&str] = &[
    "codetree-strategies",
    "codetree-solve",
    "codetree-debug",
    "codetree-accept",
    "codetree-score",
    "codetree-reflect",
];

/// `CodeTree`'s parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeTree {
    /// Most strategies from the thinker, and most reflections per expansion (`search_width`,
    /// `llm_agent_guide.py` l.108; the command line's value never reaches it).
    pub strategies: u32,
    /// Deepest node, strategies at depth 1 (`max_depth`, l.107).
    pub max_depth: u32,
    /// Programs in all (`max_iters`: 20 in `agent_humaneval.sh` l.10).
    pub max_programs: u32,
}

impl Default for CodeTree {
    fn default() -> Self {
        CodeTree {
            strategies: 10,
            max_depth: 3,
            max_programs: 20,
        }
    }
}

/// What a node holds.
#[derive(Debug, Clone)]
struct Step {
    /// Its strategy (a root) or reflection (a child).
    idea: String,
    /// Its program, once written.
    attempt: Option<usize>,
    /// Its public tests' failures and the critic's review.
    feedback: String,
}

/// The score a passing node gets: every test, and the critic's top mark (l.175-181).
const PASSING_VALUE: f64 = 1.0 + 5.0 / 15.0;

/// The latest program that failed the public tests, else the first.
pub(crate) fn fallback(kit: &Kit) -> Option<usize> {
    (0..kit.programs())
        .rev()
        .find(|&i| !kit.attempts[i].passed())
        .or_else(|| (kit.programs() > 0).then_some(0))
}

pub(crate) async fn run(kit: &mut Kit, params: &CodeTree) -> Result<Option<usize>, Halt> {
    let width = params.strategies as usize;
    let count = params.strategies.to_string();
    let answer = kit
        .ask(Purpose::Reason, "codetree-strategies", &[("count", &count)])
        .await?;
    let mut tree = Tree::new();
    let mut stack = DepthFirst::default();
    let roots: Vec<NodeId> = kit
        .read(list(&answer, "strategies", width))
        .into_iter()
        .map(|idea| {
            tree.add_root(Step {
                idea,
                attempt: None,
                feedback: String::new(),
            })
        })
        .collect();
    stack.push(roots);
    while kit.programs() < params.max_programs as usize {
        let Some(id) = stack.pop(&tree) else {
            break;
        };
        let node = tree.node(id).clone();
        let depth = node.depth + 1;
        let at = match node
            .parent
            .and_then(|p| tree.node(p).payload.attempt.map(|a| (p, a)))
        {
            None => {
                kit.code("codetree-solve", &[("strategy", &node.payload.idea)])
                    .await?
            }
            Some((parent, a)) => {
                let code = kit.code_of(a).to_owned();
                let feedback = tree.node(parent).payload.feedback.clone();
                kit.code(
                    "codetree-debug",
                    &[
                        ("code", &code),
                        ("feedback", &feedback),
                        ("reflection", &node.payload.idea),
                    ],
                )
                .await?
            }
        };
        tree.node_mut(id).payload.attempt = Some(at);
        let code = kit.code_of(at).to_owned();
        let mut feedback = kit.feedback(at);
        let parent_value = node.parent.and_then(|p| tree.node(p).value);
        let expand = if kit.attempts[at].passed() {
            tree.set_value(id, PASSING_VALUE);
            let review = kit
                .ask(Purpose::Reason, "codetree-accept", &[("code", &code)])
                .await?;
            // A passing program the critic's words cannot be read on is accepted.
            let accepted = kit.read(verdict(
                &review,
                "critic verdict",
                &["true", "accept"],
                &["false", "reject"],
                true,
            ));
            let parent_passed = node
                .parent
                .and_then(|p| tree.node(p).payload.attempt)
                .is_some_and(|a| kit.attempts[a].passed());
            if accepted || (parent_passed && depth >= params.max_depth) {
                return Ok(Some(at));
            }
            feedback = format!("{feedback}\n\nA reviewer rejected the code:\n{review}");
            true
        } else {
            let critique = kit
                .ask(
                    Purpose::Reason,
                    "codetree-score",
                    &[("code", &code), ("feedback", &feedback)],
                )
                .await?;
            let mark = kit.read(score(&critique, "score", (0.0, 5.0), 0.0));
            let value = kit.attempts[at].score + mark / 15.0;
            tree.set_value(id, value);
            let worse = parent_value.is_some_and(|p| value < p);
            let level =
                parent_value.is_some_and(|p| (value - p).abs() < 1e-12 && f64::from(depth) > mark);
            depth < params.max_depth && !worse && !level
        };
        tree.node_mut(id).payload.feedback.clone_from(&feedback);
        if expand && depth < params.max_depth {
            let reflections = kit
                .ask(
                    Purpose::Reason,
                    "codetree-reflect",
                    &[("code", &code), ("feedback", &feedback), ("count", &count)],
                )
                .await?;
            let children: Vec<NodeId> = kit
                .read(list(&reflections, "reflections", width))
                .into_iter()
                .map(|idea| {
                    tree.add_child(
                        id,
                        Step {
                            idea,
                            attempt: None,
                            feedback: String::new(),
                        },
                    )
                })
                .collect();
            stack.push(children);
        }
    }
    Ok(fallback(kit))
}
