//! Presets: a paper's settings as data, each value with where it comes from
//! (`reference/methods.md` of the codeloop project, and the papers and released code it cites).
//!
//! A preset fills what the user did not give: an explicit flag always wins. Values a paper does
//! not state (or `methods.md` does not record) are left to codeloop's defaults and listed in
//! [`Preset::unrecorded`], so nobody mistakes a default for the paper's.

/// A value of a preset and its source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it comes from.
    pub source: &'static str,
}

/// How a pool strategy's sizes scale with the programs per problem the user gives (N).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolSizes {
    /// Programs per problem when the user gives none.
    pub samples: u32,
    /// Model-written tests per problem, as a multiple of N.
    pub tests_per_sample: f64,
    /// Model-written tests per problem at least.
    pub tests_min: u32,
    /// Where the sizes come from.
    pub source: &'static str,
}

/// A paper's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    /// Its name (`--preset`).
    pub name: &'static str,
    /// What it reproduces.
    pub description: &'static str,
    /// The strategy (`--strategy`).
    pub strategy: Sourced<&'static str>,
    /// Sampling temperature.
    pub temperature: Option<Sourced<f32>>,
    /// Nucleus mass.
    pub top_p: Option<Sourced<f32>>,
    /// Trajectories per problem (turn-schedule strategies).
    pub trajectories: Option<Sourced<u32>>,
    /// Pool sizes (pool strategies).
    pub pool: Option<PoolSizes>,
    /// Settings of the paper this preset cannot hold, and why.
    pub unrecorded: &'static str,
}

/// Every preset.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "zheng2025",
        description: "Zheng et al., What Makes Large Language Models Reason in (Multi-Turn) Code Generation? (ICLR 2025): CoT-retry over 3 turns, 200 trajectories per problem",
        strategy: Sourced {
            value: "cot-retry",
            source: "methods.md 1.4: the paper's adaptive policy, at most 3 code attempts, stop on public pass",
        },
        temperature: Some(Sourced {
            value: 1.0,
            source: "methods.md 1.6: temperature 1.0 for every model",
        }),
        top_p: Some(Sourced {
            value: 0.95,
            source: "methods.md 1.6: nucleus sampling, top-p 0.95",
        }),
        trajectories: Some(Sourced {
            value: 200,
            source: "methods.md 1.6: 200 trajectories per problem for n@k",
        }),
        pool: None,
        unrecorded: "the paper's maximum answer length and its prompts' exact wording (methods.md 1.1, 1.3): codeloop's defaults and its own wording of R1-R8 and I0-I6",
    },
    Preset {
        name: "codet",
        description: "CodeT (Chen et al., ICLR 2023): N programs and model-written asserts, consensus sets scored by agreement",
        strategy: Sourced {
            value: "codet",
            source: "methods.md 2.2: dual execution agreement (the paper's programs x tests score)",
        },
        temperature: Some(Sourced {
            value: 0.8,
            source: "methods.md 2.2: the released data uses temperature 0.8",
        }),
        top_p: Some(Sourced {
            value: 0.95,
            source: "methods.md 2.2: the released data uses top-p 0.95",
        }),
        trajectories: None,
        pool: Some(PoolSizes {
            samples: 100,
            tests_per_sample: 1.0,
            tests_min: 1,
            source: "methods.md 2.2: 100 samples for HumanEval/MBPP, the first 5 asserts kept of each test answer; the count of test answers is not recorded, so M = N",
        }),
        unrecorded: "the test answers' count (M = N here) and the per-test timeout of 0.1 s (codeloop allows 0.25 s per call)",
    },
    Preset {
        name: "alphacode",
        description: "AlphaCode (Li et al. 2022): filter on the public tests, cluster by outputs on generated inputs, one per cluster, 10 submissions",
        strategy: Sourced {
            value: "alphacode",
            source: "methods.md 2.1: filter, cluster by identical outputs, largest cluster first",
        },
        temperature: None,
        top_p: None,
        trajectories: None,
        pool: Some(PoolSizes {
            samples: 1_000,
            tests_per_sample: 0.05,
            tests_min: 50,
            source: "methods.md 2.1: 50 generated inputs used over 8,192 samples (about 1 per 160; at least 50 here: 5% of N), n@k reported at n = 10",
        }),
        unrecorded: "the sampling temperature (\"fairly high\", no number in methods.md 2.1), the randomised prompt metadata and the separate input-generation model",
    },
    Preset {
        name: "mapcoder",
        description: "MapCoder (Islam, Ali and Parvez, ACL 2024): retrieval, planning with confidence, coding and debugging agents, k = 3, t = 5, greedy decoding",
        strategy: Sourced {
            value: "mapcoder",
            source: "src/promptings/MapCoder.py l.43-44 (Md-Ashraful-Pramanik/MapCoder @ 0027da7): k = 3, t = 5",
        },
        temperature: Some(Sourced {
            value: 0.0,
            source: "src/main.py l.52-55: temperature 0 by default",
        }),
        top_p: None,
        trajectories: Some(Sourced {
            value: 1,
            source: "methods.md 2.12: pass@1 of one run per problem",
        }),
        pool: None,
        unrecorded: "the per-dataset k of the paper's runs (its result files say 5 for HumanEval: `--param exemplars=5`); its debugging rounds hand the last fix back untested, codeloop runs every program",
    },
    Preset {
        name: "codesim",
        description: "CODESIM (Islam et al., NAACL Findings 2025): plan, simulate, refine, code, debug; p = 5 plans, d = 5 debugging rounds, greedy decoding",
        strategy: Sourced {
            value: "codesim",
            source: "src/promptings/CodeSIM.py l.32-33 (kagnlp/CodeGenerator @ 9cf09ee): max_plan_try = 5, max_debug_try = 5",
        },
        temperature: Some(Sourced {
            value: 0.0,
            source: "src/main.py l.69-73: temperature 0 by default",
        }),
        top_p: None,
        trajectories: Some(Sourced {
            value: 1,
            source: "methods.md 2.13: pass@1 of one run per problem",
        }),
        pool: None,
        unrecorded: "the additional I/O the paper generates for some datasets; the released code's check for the simulation's verdict phrase differs from its prompt's (codeloop reads both)",
    },
    Preset {
        name: "paircoder",
        description: "PairCoder (Zhang et al., ASE 2024): navigator and driver, 5 answers of 3 plans clustered to 3, 5 fixes per plan, 10 programs",
        strategy: Sourced {
            value: "paircoder",
            source: "src/settings/configuration.toml l.21, 30, 31, 36, 40 (nju-websoft/PairCoder @ ac7ce88)",
        },
        temperature: None,
        top_p: None,
        trajectories: Some(Sourced {
            value: 1,
            source: "methods.md 2.14: pass@1 of one run per problem",
        }),
        pool: None,
        unrecorded: "per-call temperatures (plans sampled at 0.8, generate_possible_solutions.toml l.3; codeloop samples every call at the run's one temperature), the static analysis before each run, and the embedding model behind the plan clustering (TF-IDF features here)",
    },
    Preset {
        name: "codetree",
        description: "CodeTree (Li et al., NAACL 2025): thinker, solver, debugger and critic over a depth-first tree, depth 3, width 10, 20 programs, greedy decoding",
        strategy: Sourced {
            value: "codetree",
            source: "llm_agent_guide.py l.107-108 (SalesforceAIResearch/CodeTree @ 72c9c87) and agent_humaneval.sh l.10: max_depth 3, search_width 10, max_iters 20",
        },
        temperature: Some(Sourced {
            value: 0.0,
            source: "llm_agent_guide.py l.133: the agents ask at temperature 0",
        }),
        top_p: None,
        trajectories: Some(Sourced {
            value: 1,
            source: "methods.md 2.16: pass@1 of one run per problem",
        }),
        pool: None,
        unrecorded: "the critic parser's quirk of reading the largest digit of its last line (codeloop reads `Score: N`)",
    },
    Preset {
        name: "sfs",
        description: "Scattered Forest Search (Light et al. 2024): 5 seeds in different styles, 5 UCT iterations, 2 directions per scattering, c = sqrt(2)",
        strategy: Sourced {
            value: "sfs",
            source: "src/scripts/sbatch_search_compare.sh l.34 (codespace-optimization/sfs @ 9185737): num_seeds=5, max_iters=5, num_ideas_per_strategy=2; search_utils.py l.103: c = sqrt(2)",
        },
        temperature: Some(Sourced {
            value: 0.2,
            source: "src/scripts/sbatch_search_compare.sh l.11: TEMPERATURE=0.2",
        }),
        top_p: None,
        trajectories: Some(Sourced {
            value: 1,
            source: "methods.md 2.17: pass@1 of one run per problem",
        }),
        pool: None,
        unrecorded: "visible tests the model writes when a problem has fewer than 6 (codeloop uses the public tests as they are)",
    },
];

impl Preset {
    /// The preset of a name.
    #[must_use]
    pub fn named(name: &str) -> Option<&'static Preset> {
        PRESETS.iter().find(|p| p.name == name)
    }

    /// Model-written tests for a pool of `samples` programs: the preset's multiple of N, and at
    /// least its minimum (`AlphaCode`'s 50 inputs).
    #[must_use]
    pub fn tests_for(&self, samples: u32) -> Option<u32> {
        self.pool.map(|p| {
            let scaled = (f64::from(samples) * p.tests_per_sample).ceil() as u32;
            scaled.max(p.tests_min).max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_names_a_known_strategy_and_its_sources() {
        for p in PRESETS {
            let name = p.strategy.value;
            assert!(
                crate::Selector::named(name).is_some()
                    || crate::BUILTIN_STRATEGIES.iter().any(|(n, _)| *n == name),
                "{name}"
            );
            assert!(!p.strategy.source.is_empty() && !p.unrecorded.is_empty());
        }
    }

    #[test]
    fn pool_sizes_scale_with_n() {
        let codet = Preset::named("codet").unwrap();
        assert_eq!(codet.tests_for(10), Some(10));
        assert_eq!(codet.tests_for(100), Some(100));
        let alphacode = Preset::named("alphacode").unwrap();
        assert_eq!(alphacode.tests_for(1_000), Some(50));
        assert_eq!(
            alphacode.tests_for(20),
            Some(50),
            "never fewer than the paper's 50 inputs"
        );
        assert_eq!(alphacode.tests_for(4_000), Some(200));
        assert_eq!(Preset::named("zheng2025").unwrap().tests_for(10), None);
    }
}
