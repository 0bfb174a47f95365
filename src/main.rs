//! The `lore` command line: parses flags, builds the configuration, starts logging and
//! dispatches to the library. Errors become a message on stderr and exit code 1 (2 for
//! usage errors, from clap).

mod cli;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`lore config | head`) like other Unix tools, instead of
    // panicking on the failed write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::run()
}
