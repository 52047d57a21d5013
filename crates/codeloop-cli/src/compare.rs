//! `codeloop compare`: runs side by side at equal budgets (the engine's `report::compare`), as a
//! table, JSON or CSV; `sweep` prints its runs the same way.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use codeloop_engine::report::{Axis, Compared, compare};
use codeloop_store::RunStore;
use codeloop_strategy::stats::Interval;

/// Bootstrap resamples of every interval (Zheng et al. use 10,000).
pub(crate) const RESAMPLES: u32 = 10_000;

/// `--budget`'s value.
pub(crate) fn parse_axis(text: &str) -> Result<Axis, String> {
    Axis::named(text).ok_or_else(|| format!("`{text}` is not programs, tokens or calls"))
}

/// How a comparison is printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// A table for people.
    Table,
    /// One JSON object (runs, rows with intervals and paired differences).
    Json,
    /// One line per (budget, run): data for curves.
    Csv,
}

#[derive(Args, Debug)]
pub(crate) struct CompareArgs {
    /// Run directories over the same problems; differences are against the first.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// What a budget counts: programs generated, prompt plus completion tokens, or LLM calls.
    #[arg(long, default_value = "programs", value_parser = parse_axis)]
    budget: Axis,
    /// The budgets, comma-separated (default: a ladder up to the largest run's spending).
    #[arg(long, value_delimiter = ',')]
    at: Vec<u64>,
    /// Submissions (the n of n@k).
    #[arg(long, default_value_t = 1)]
    n: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run(args: &CompareArgs) -> Result<ExitCode> {
    let mut stores = Vec::with_capacity(args.runs.len());
    for dir in &args.runs {
        if !dir.join("run.sqlite").is_file() {
            bail!("`{}` is not a run directory (no run.sqlite)", dir.display());
        }
        stores.push((dir.display().to_string(), RunStore::open(dir)?));
    }
    let refs: Vec<(String, &RunStore)> = stores.iter().map(|(d, s)| (d.clone(), s)).collect();
    let budgets = (!args.at.is_empty()).then_some(args.at.as_slice());
    let compared = compare(&refs, args.n, budgets, args.budget, RESAMPLES, 0)?;
    print(&compared, args.format)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints `compared` in `format`.
pub(crate) fn print(compared: &Compared, format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(compared)?),
        Format::Csv => print_csv(compared),
        Format::Table => print_table(compared),
    }
    Ok(())
}

fn print_csv(c: &Compared) {
    println!(
        "axis,budget,n,run,strategy,mean,lo,hi,saturated,difference,difference_lo,difference_hi"
    );
    for row in &c.rows {
        for (run, cell) in c.runs.iter().zip(&row.cells) {
            let Some(cell) = cell else { continue };
            let (d, dlo, dhi) = cell
                .difference
                .map_or((String::new(), String::new(), String::new()), |d| {
                    (d.mean.to_string(), d.lo.to_string(), d.hi.to_string())
                });
            println!(
                "{},{},{},{},{},{},{},{},{},{d},{dlo},{dhi}",
                c.axis.name(),
                row.budget,
                c.n,
                csv_field(&run.dir),
                csv_field(&run.strategy),
                cell.value.mean,
                cell.value.lo,
                cell.value.hi,
                cell.saturated
            );
        }
    }
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn pct(i: &Interval) -> String {
    format!(
        "{:.1}% ({:.1}-{:.1})",
        100.0 * i.mean,
        100.0 * i.lo,
        100.0 * i.hi
    )
}

fn print_table(c: &Compared) {
    println!(
        "pass {}@k at equal budgets of k {} over {} problems (95% intervals by bootstrap over problems; differences paired, against the first run)",
        c.n,
        c.axis.name(),
        c.problems
    );
    for (i, run) in c.runs.iter().enumerate() {
        let unread = if run.read_failures > 0 {
            format!("; {} unreadable answers", run.read_failures)
        } else {
            String::new()
        };
        println!(
            "  [{}] {} ({}, {:.1} {} per problem spent{unread}): {}",
            i + 1,
            run.strategy,
            run.model,
            run.spent_per_problem,
            c.axis.name(),
            run.dir
        );
    }
    print!("{:>10}", "k");
    for i in 0..c.runs.len() {
        print!("  {:>24}", format!("[{}]", i + 1));
        if i > 0 {
            print!("  {:>24}", format!("[{}]-[1]", i + 1));
        }
    }
    println!();
    let mut saturated = false;
    for row in &c.rows {
        print!("{:>10}", row.budget);
        for (i, cell) in row.cells.iter().enumerate() {
            let (value, difference) = match cell {
                Some(cell) => {
                    let mark = if cell.saturated > 0 { "*" } else { "" };
                    saturated |= cell.saturated > 0;
                    (
                        format!("{}{mark}", pct(&cell.value)),
                        cell.difference.map_or_else(String::new, |d| {
                            format!(
                                "{:+.1} ({:+.1} to {:+.1})",
                                100.0 * d.mean,
                                100.0 * d.lo,
                                100.0 * d.hi
                            )
                        }),
                    )
                }
                None => ("-".to_owned(), "-".to_owned()),
            };
            print!("  {value:>24}");
            if i > 0 {
                print!("  {difference:>24}");
            }
        }
        println!();
    }
    if saturated {
        println!(
            "* some problems spent their whole pool below this budget: the figure is the pool's"
        );
    }
}
