//! `/__emulator`: request counts, fault injection and the clock, for tests and benchmarks.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::atomic::Ordering;

use crate::{Faults, Shared, Stats};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/faults", get(faults).put(set_faults))
        .route("/clock/advance", post(advance_clock))
}

async fn stats(State(emulator): State<Shared>) -> Json<Stats> {
    Json(emulator.stats.lock().expect("stats lock").clone())
}

async fn reset_stats(State(emulator): State<Shared>) -> Json<Stats> {
    let mut stats = emulator.stats.lock().expect("stats lock");
    Json(std::mem::take(&mut *stats))
}

async fn faults(State(emulator): State<Shared>) -> Json<Faults> {
    Json(emulator.faults.lock().expect("faults lock").clone())
}

async fn set_faults(State(emulator): State<Shared>, Json(faults): Json<Faults>) -> Json<Faults> {
    *emulator.faults.lock().expect("faults lock") = faults.clone();
    Json(faults)
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

/// Moves the emulator's clock forward, so TTLs expire without waiting.
async fn advance_clock(State(emulator): State<Shared>, Json(advance): Json<Advance>) -> Json<u64> {
    let offset = emulator
        .clock_offset
        .fetch_add(advance.seconds, Ordering::SeqCst)
        + advance.seconds;
    Json(offset)
}
