//! `patchwarden`: the server and administration command line.
//!
//! This is the binary edge: it reads arguments and files, calls the library crates and prints. Errors
//! become `anyhow` here and nowhere else.

mod assess;
mod serve;
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
    /// Run the server: agent API, REST API, TLS (its own CA unless given one).
    Serve(serve::ServeArgs),
    /// Advisory sources in the server's database.
    Feeds {
        #[command(subcommand)]
        command: serve::FeedsCommand,
    },
    /// Hosts in the server's database, filtered by IP range, name glob, OS, department (§7.2).
    Hosts(serve::HostsArgs),
    /// One host: addresses, software versions and missing patches, as JSON.
    Host(serve::HostArgs),
    /// Missing patches with the number of hosts missing each.
    Patches(serve::PatchesArgs),
    /// Deployment jobs: patches applied and patches that could not be applied (§7.5.4, §7.5.5).
    Jobs(serve::JobsArgs),
    /// The hash-chained audit trail of every state change (§13.2).
    Audit {
        #[command(subcommand)]
        command: serve::AuditCommand,
    },
    /// The patch management policy in force.
    Policy {
        #[command(subcommand)]
        command: serve::PolicyCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Assess(args) => assess::run(&args),
        Command::Version { command } => version_cmd::run(&command),
        Command::Serve(args) => serve::serve(&args),
        Command::Feeds { command } => serve::feeds(&command),
        Command::Hosts(args) => serve::hosts(&args),
        Command::Host(args) => serve::host(&args),
        Command::Patches(args) => serve::patches(&args),
        Command::Jobs(args) => serve::jobs(&args),
        Command::Policy { command } => serve::policy(&command),
        Command::Audit { command } => serve::audit(&command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("patchwarden: {error:#}");
            ExitCode::from(2)
        }
    }
}
