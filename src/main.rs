use std::process::ExitCode;

/// mimalloc: the linter builds every object of a run and its span index before any rule runs,
/// and the webhook allocates per request; glibc's malloc spends measurably more on both.
/// Transparent huge pages stay allowed (mimalloc asks for them on its arenas): a lint of the
/// upstream corpus writes ~30 MB it keeps to the end, and in 4 KiB pages that is ~9,400 page
/// faults, ~17% of the whole process's CPU (`perf stat`: 111-121 ms with 4 KiB pages, 95-105 ms
/// with huge pages, 350 faults). The editor path does not pay for it (3.45 vs 3.65 ms median).
/// `rollgate serve` turns them off for itself (`webhook::args`): a server's heap is small.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rollgate::cli::run()
}
