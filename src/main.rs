use std::process::ExitCode;

/// mimalloc: the linter builds every object of a run and its span index before any rule runs,
/// and the webhook allocates per request; glibc's malloc spends measurably more on both.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rollgate::cli::run()
}
