use std::process::ExitCode;

/// mimalloc: the linter builds every object of a run and its span index before any rule runs,
/// and the webhook allocates per request; glibc's malloc spends measurably more on both.
/// Built with `no_thp`: backing its first arena with a transparent huge page costs about 1.5 ms
/// of page zeroing at start-up, a third of the editor path's budget.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rollgate::cli::run()
}
