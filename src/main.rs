//! The `lore` command line: parses flags, builds the configuration, starts logging and
//! dispatches to the library. Errors become a message on stderr and exit code 1 (2 for
//! usage errors, from clap).

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
