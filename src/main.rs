//! The `aicall` binary: the command line ([`cli`]), a thin layer over the `aicall` library,
//! and the figure-printing benchmark harnesses (`aicall bench ...`), which the library does
//! not carry.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
