//! `ironflux`: the server and its command-line client.
//!
//! Each subcommand lives in its own module: [`serve`] runs the server, [`setup`] onboards a
//! fresh server over HTTP as `influx setup` does.

mod backup;
mod client;
mod duration;
mod inspect;
mod query;
mod restore;
mod serve;
mod setup;
mod transfer;
mod v1auth;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ironflux",
    version,
    about = "A time-series database speaking InfluxDB's v2 API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Back up a server into a directory, as `influx backup` does.
    Backup(backup::BackupArgs),
    /// Restore a backup directory into a server, as `influx restore` does.
    Restore(restore::RestoreArgs),
    /// Inspect TSM files offline: dump them, or verify every block.
    Inspect(inspect::InspectArgs),
    /// Run a Flux query and print its results, as `influx query` does.
    Query(query::QueryArgs),
    /// Set up a fresh server: initial user, organization, bucket and operator token.
    Setup(setup::SetupArgs),
    /// Commands for the InfluxDB 1.x compatibility API: `v1 auth` manages 1.x usernames and
    /// passwords, as `influx v1 auth` does.
    V1(v1auth::V1Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Query(args) => query::run(args),
        Command::V1(args) => v1auth::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Cli, Command};

    /// Tokens are URL-safe base64 (as InfluxDB makes them) and one in 64 begins with `-`;
    /// passwords may too. Each is taken as the flag's value, as the `influx` CLI takes it.
    #[test]
    fn secrets_may_begin_with_a_hyphen() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map_err(|e| e.to_string());
        let restore = parse(&[
            "ironflux",
            "restore",
            "dir",
            "--token",
            "-uXy",
            "--operator-token",
            "-op",
        ]);
        assert_eq!(
            restore.map(|c| matches!(c.command, Command::Restore(_))),
            Ok(true)
        );
        let backup = parse(&["ironflux", "backup", "dir", "-t", "--k"]);
        assert_eq!(
            backup.map(|c| matches!(c.command, Command::Backup(_))),
            Ok(true)
        );
        let query = parse(&["ironflux", "query", "buckets()", "--token", "-q"]);
        assert_eq!(
            query.map(|c| matches!(c.command, Command::Query(_))),
            Ok(true)
        );
        let setup = parse(&[
            "ironflux",
            "setup",
            "--username",
            "u",
            "--password",
            "-secret-pw",
            "--token",
            "-t",
            "--org",
            "o",
            "--bucket",
            "b",
            "--force",
        ]);
        assert_eq!(
            setup.map(|c| matches!(c.command, Command::Setup(_))),
            Ok(true)
        );
    }
}
