use std::process::ExitCode;

fn main() -> ExitCode {
    rollgate::cli::run()
}
