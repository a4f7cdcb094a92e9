//! The `nnsched` command: parse the arguments, run the command through the
//! library (`cli`), and turn its failure into one line and an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// The search allocates and frees many small vectors from two threads;
/// mimalloc's thread-local free lists serve them faster than glibc's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cli::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("nnsched: {}", nnsched::one_line(&f.message));
            ExitCode::from(f.code)
        }
    }
}
