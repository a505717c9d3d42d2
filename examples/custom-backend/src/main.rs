//! `custom-switchyard`: the `switchyard` command with this crate's backend added. Its campaign
//! workers are this binary too, so they know `tiny` as well.

fn main() -> std::process::ExitCode {
    switchyard::cli::main_with(vec![custom_backend::TINY])
}
