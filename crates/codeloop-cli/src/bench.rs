//! `codeloop bench`: the benchmarks live in `codeloop-bench`; the binary lends them its executor
//! options and its way of loading problems, so that they measure what the commands do.

use std::path::{Path, PathBuf};

use anyhow::Result;
use codeloop_engine::prepare::PreparedDataset;
use codeloop_sandbox::{Executor, Isolation};
use codeloop_types::Limits;

use crate::{DatasetArgs, ExecOptions, IsolationArg};

impl codeloop_bench::Host for ExecOptions {
    fn quiet() -> Self {
        ExecOptions::quiet()
    }

    fn with_isolation(&self, isolation: Isolation) -> Self {
        ExecOptions {
            isolation: match isolation {
                Isolation::Warm => IsolationArg::Warm,
                Isolation::Fresh => IsolationArg::Fresh,
            },
            ..self.clone()
        }
    }

    fn without_hardening(&self) -> Self {
        ExecOptions {
            no_namespaces: true,
            ..self.clone()
        }
    }

    fn python(&self) -> Option<&Path> {
        self.python.as_deref()
    }

    fn limits(&self) -> Limits {
        crate::commands::limits(self)
    }

    fn load_problems(
        &self,
        dataset: &str,
        limit: Option<usize>,
    ) -> Result<(Executor, PreparedDataset)> {
        let mut data = DatasetArgs::named(dataset);
        data.limit = limit;
        crate::commands::load_problems(&data, self)
    }

    fn local_model() -> Result<PathBuf> {
        crate::model::resolve_local_model()
    }
}
