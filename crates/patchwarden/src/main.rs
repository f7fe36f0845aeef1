//! `patchwarden`: the server and administration command line.
//!
//! This is the binary edge: it reads arguments and files, calls the library crates and prints. Errors
//! become `anyhow` here and nowhere else.

mod assess;
mod version_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "patchwarden",
    version,
    about = "Patch management: scan, classify, approve, deploy, verify, report"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the patches one host is missing, from its package records and advisory feeds (§7.5.2).
    Assess(assess::Args),
    /// Package version ordering.
    Version {
        #[command(subcommand)]
        command: version_cmd::Command,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Assess(args) => assess::run(&args),
        Command::Version { command } => version_cmd::run(&command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("patchwarden: {error:#}");
            ExitCode::from(2)
        }
    }
}
