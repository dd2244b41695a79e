//! `purchaseDate`, as a property: every value the service accepts reads back identically from
//! the database, the in-process cache and KV, in a form JavaScript's `Date` parses (a four-digit
//! year, milliseconds, `Z`); every value outside that is a 400 naming the field.

use chrono::{DateTime, Datelike};
use kv_emulator::Faults;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::*;

const EQUIPMENT: &str = "/api/expenses/equipment-costs";
/// Each accepted case costs three KV calls; the budget lets 120 go in a burst.
const CASES: usize = 36;

/// A generated `purchaseDate`, and whether the service must accept it (`None`: either is right,
/// e.g. an offset that moves the instant across the year 1 or 9999).
fn sample(rng: &mut StdRng) -> (Value, Option<bool>) {
    let year: i32 = match rng.gen_range(0..4) {
        0 => *[0, 1, 9999, 10000, -1, 275760, -262143]
            .get(rng.gen_range(0..7))
            .unwrap(),
        _ => rng.gen_range(-300..=10300),
    };
    let in_range = (1..=9999).contains(&year);
    let year_text = match year {
        0..=9999 => format!("{year:04}"),
        10000.. => format!("+{year}"),
        _ => format!("-{:04}", -year),
    };
    let (month, day) = (rng.gen_range(1..=12), rng.gen_range(1..=28));
    match rng.gen_range(0..3) {
        0 => (
            json!(format!("{year_text}-{month:02}-{day:02}")),
            Some(in_range),
        ),
        1 => {
            let second = if rng.gen_bool(0.2) {
                60
            } else {
                rng.gen_range(0..60)
            };
            let digits = rng.gen_range(0..=6);
            let fraction: String = (0..digits)
                .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
                .collect();
            let fraction = if digits > 0 {
                format!(".{fraction}")
            } else {
                fraction
            };
            let zone = ["Z", "+02:00", "-05:30"][rng.gen_range(0..3)];
            let text = format!(
                "{year_text}-{month:02}-{day:02}T{:02}:{:02}:{second:02}{fraction}{zone}",
                rng.gen_range(0..24),
                rng.gen_range(0..60)
            );
            let edge = zone != "Z" && [1, 9999, 0, 10000].contains(&year);
            let expected = (!edge).then_some(in_range && second != 60);
            (json!(text), expected)
        }
        _ => {
            let millis: i64 = rng.gen_range(-70_000_000_000_000..=260_000_000_000_000);
            let year = DateTime::from_timestamp_millis(millis).map(|at| at.year());
            (
                json!(millis),
                Some(year.is_some_and(|y| (1..=9999).contains(&y))),
            )
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`: what `Date` parses and `toISOString` writes.
fn is_javascript_iso(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 24
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'.',
            23 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

async fn every_accepted_purchase_date_reads_back_identically(database: TestDatabase) {
    let emulator = kv_emulator(Faults::default()).await;
    let app = app_on_kv(database, &emulator, &[("KV_BUDGET_PER_5_MIN", "1200")]).await;
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut accepted = 0;
    // The values the issue reproduced first, then generated ones.
    let known = [
        (json!("+10000-01-01"), Some(false)),
        (json!("-262143-01-01"), Some(false)),
        (json!("0000-12-31"), Some(false)),
        (json!("2024-06-30T23:59:60Z"), Some(false)),
        (json!(253_402_300_800_000i64), Some(false)),
        (json!("9999-12-31T23:59:59.999999Z"), Some(true)),
        (json!("0001-01-01"), Some(true)),
    ];
    let mut known = known.into_iter();
    for case in 0..CASES {
        let (given, expected) = known.next().unwrap_or_else(|| sample(&mut rng));
        let user = format!("date_{case}");
        let mut body = equipment(&user, "Laptop", 0);
        body["purchaseDate"] = given.clone();
        let reply = app.post(EQUIPMENT, &body).await;
        let context = format!("seed {seed}, purchaseDate {given}: {reply:?}");
        if reply.status == 400 {
            assert!(reply.error().starts_with("purchaseDate: "), "{context}");
            assert_ne!(expected, Some(true), "refused: {context}");
            continue;
        }
        assert_eq!(reply.status, 201, "{context}");
        assert_ne!(expected, Some(false), "accepted: {context}");
        accepted += 1;
        let written = reply.data()["purchaseDate"].clone();
        assert!(is_javascript_iso(written.as_str().unwrap()), "{context}");

        let path = format!("{EQUIPMENT}?userId={user}");
        let from_database = app.get(&path).await;
        assert_eq!(from_database.cache(), "miss");
        let from_memory = app.get(&path).await;
        assert_eq!(from_memory.cache(), "hit");
        let key = format!("equipment-cost-list:{user}");
        let from_kv = in_kv(&emulator, &key).await.expect("stored in KV");
        for (layer, list) in [
            ("database", from_database.data()),
            ("memory", from_memory.data()),
            ("KV", &from_kv),
        ] {
            assert_eq!(list[0]["purchaseDate"], written, "{layer}: {context}");
        }
    }
    assert!(accepted > 0, "seed {seed}: no case was accepted");
}

#[tokio::test]
async fn sqlite_every_accepted_purchase_date_reads_back_identically() {
    every_accepted_purchase_date_reads_back_identically(TestDatabase::sqlite()).await
}

#[cfg(feature = "postgres-tests")]
#[tokio::test]
async fn postgres_every_accepted_purchase_date_reads_back_identically() {
    every_accepted_purchase_date_reads_back_identically(TestDatabase::postgres().await).await
}
