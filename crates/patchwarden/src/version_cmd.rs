//! `patchwarden version compare`: one comparison, or a batch of pairs from standard input.

use std::cmp::Ordering;
use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use patchwarden_domain::version::{VersionScheme, compare};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print `<`, `=` or `>` for A against B; with --batch, read `A B` pairs from standard input.
    Compare {
        /// debian, rpm or alpine.
        #[arg(long, value_parser = parse_scheme)]
        ecosystem: VersionScheme,
        /// Read one `A B` pair per line from standard input and print one symbol per line.
        #[arg(long)]
        batch: bool,
        #[arg(required_unless_present = "batch")]
        a: Option<String>,
        #[arg(required_unless_present = "batch")]
        b: Option<String>,
    },
}

fn parse_scheme(name: &str) -> Result<VersionScheme, String> {
    VersionScheme::from_name(name).ok_or_else(|| format!("unknown ecosystem {name:?}: use debian, rpm or alpine"))
}

fn symbol(ordering: Ordering) -> &'static str {
    match ordering {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    }
}

pub(crate) fn run(command: &Command) -> anyhow::Result<ExitCode> {
    let Command::Compare { ecosystem, batch, a, b } = command;
    if !batch {
        let (Some(a), Some(b)) = (a, b) else {
            bail!("give two versions, or --batch")
        };
        let ordering = compare(*ecosystem, a, b).with_context(|| format!("cannot compare {a:?} with {b:?}"))?;
        println!("{}", symbol(ordering));
        return Ok(ExitCode::SUCCESS);
    }
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (index, line) in stdin.lines().enumerate() {
        let line_number = index + 1;
        let line = line.with_context(|| format!("standard input, line {line_number}"))?;
        let mut fields = line.split_whitespace();
        let (Some(a), Some(b), None) = (fields.next(), fields.next(), fields.next()) else {
            bail!("standard input, line {line_number}: expected two versions separated by white space, found {line:?}");
        };
        let ordering = compare(*ecosystem, a, b)
            .with_context(|| format!("standard input, line {line_number}: cannot compare {a:?} with {b:?}"))?;
        writeln!(out, "{}", symbol(ordering))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
