/// jemalloc: a hot read allocates a few dozen small blocks, and glibc's malloc spent about a
/// seventh of the service's CPU on them under load (measured with `perf`; see `scripts/bench`).
/// Not on MSVC, where jemalloc does not build: there the system allocator serves.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Tokio's multi-threaded runtime, as `#[tokio::main]` builds it, with the log batching's hooks:
/// a worker hands over its log lines when it runs out of work (`logbatch.rs`).
fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(formula_api::logbatch::on_park)
        .on_thread_stop(formula_api::logbatch::on_stop)
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(formula_api::cli::run()),
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
