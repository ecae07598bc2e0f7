//! The `aicall` binary: parses the command line and hands over to [`aicall::cli`].
fn main() -> std::process::ExitCode {
    aicall::cli::main()
}
