/// jemalloc: a hot read allocates a few dozen small blocks, and glibc's malloc spent about a
/// seventh of the service's CPU on them under load (measured with `perf`; see `scripts/bench`).
/// Not on MSVC, where jemalloc does not build: there the system allocator serves.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match formula_api::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
