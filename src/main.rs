//! The `switchyard` command: [`switchyard::cli::main_with`] with no backends of its own.

fn main() -> std::process::ExitCode {
    switchyard::cli::main_with(vec![])
}
