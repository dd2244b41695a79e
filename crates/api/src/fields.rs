//! Request fields that can only be built valid. Each one's `Deserialize` checks the contract's
//! rule (`docs/contract.md`, "Validation") and fails with a sentence naming the problem.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A Clerk user id: non-empty, at most 128 bytes, no control characters (it becomes part of
/// cache keys, which Cloudflare caps at 512 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId(String);

impl UserId {
    pub const MAX_BYTES: usize = 128;

    pub fn parse(text: &str) -> Result<UserId, String> {
        if text.is_empty() {
            Err("must not be empty".into())
        } else if text.len() > Self::MAX_BYTES {
            Err(format!("must be at most {} bytes", Self::MAX_BYTES))
        } else if text.chars().any(char::is_control) {
            Err("must not contain control characters".into())
        } else {
            Ok(UserId(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UserId::parse(&string(d)?).map_err(D::Error::custom)
    }
}

/// `name` and `category`: a non-blank string of at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    pub const MAX_CHARS: usize = 255;
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d)?;
        if text.trim().is_empty() {
            Err(D::Error::custom("must not be empty"))
        } else if text.contains('\0') {
            // Postgres text cannot hold NUL.
            Err(D::Error::custom("must not contain NUL characters"))
        } else if text.chars().count() > Self::MAX_CHARS {
            Err(D::Error::custom(format!(
                "must be at most {} characters",
                Self::MAX_CHARS
            )))
        } else {
            Ok(Text(text))
        }
    }
}

/// A finite number ≥ 0 and ≤ `MAX` (`u32::MAX` stands for "no upper bound").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounded<const MAX: u32>(pub f64);

/// Amounts, usage, salaries, rates, hours: ≥ 0.
pub type NonNegative = Bounded<{ u32::MAX }>;

impl<'de, const MAX: u32> Deserialize<'de> for Bounded<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = number(d)?;
        if value < 0.0 {
            Err(D::Error::custom("must be ≥ 0"))
        } else if MAX != u32::MAX && value > f64::from(MAX) {
            Err(D::Error::custom(format!("must be ≤ {MAX}")))
        } else {
            Ok(Bounded(value))
        }
    }
}

/// `lifeSpan`: a finite number > 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Positive(pub f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = number(d)?;
        if value > 0.0 {
            Ok(Positive(value))
        } else {
            Err(D::Error::custom("must be > 0"))
        }
    }
}

/// `rank`: an integer ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank(pub i32);

impl<'de> Deserialize<'de> for Rank {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = number(d)?;
        whole_number(value, 0)
            .map(Rank)
            .ok_or_else(|| D::Error::custom("must be an integer ≥ 0"))
    }
}

/// A row id: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id(pub i32);

impl Id {
    /// An id from a URL path segment.
    pub fn parse(text: &str) -> Result<Id, String> {
        text.parse::<i64>()
            .ok()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Id)
            .ok_or_else(|| format!("expected a positive integer, got {text:?}"))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = number(d)?;
        whole_number(value, 1)
            .map(Id)
            .ok_or_else(|| D::Error::custom("must be a positive integer"))
    }
}

/// `purchaseDate`: an ISO 8601 date or date-time, or milliseconds since the epoch, held in UTC
/// to the millisecond. Only what JavaScript's `Date`, Postgres and the cache all represent the
/// same way: a four-digit year (0001 to 9999), no leap second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseDate(pub NaiveDateTime);

impl PurchaseDate {
    /// The years every reader represents the same way.
    const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;
    const EXPECTED: &'static str =
        "expected an ISO 8601 date (2024-05-01), date-time (2024-05-01T10:00:00.000Z) or milliseconds since the epoch, in the years 0001 to 9999";

    /// The instant, if every reader represents it: years 1 to 9999, no leap second; sub-millisecond
    /// digits are dropped (`TIMESTAMP(3)` and the JSON keep milliseconds).
    fn representable(at: NaiveDateTime) -> Option<NaiveDateTime> {
        use chrono::{Datelike, SubsecRound, Timelike};
        let in_range = Self::YEARS.contains(&at.year()) && at.nanosecond() < 1_000_000_000;
        in_range.then(|| at.trunc_subsecs(3))
    }

    fn from_text(text: &str) -> Option<NaiveDateTime> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Some(at.naive_utc());
        }
        if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
            return Some(at);
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
    }

    fn from_millis(millis: f64) -> Option<NaiveDateTime> {
        if !millis.is_finite() || millis.fract() != 0.0 || millis.abs() > 8.64e15 {
            return None;
        }
        DateTime::from_timestamp_millis(millis as i64).map(|at| at.naive_utc())
    }
}

impl<'de> Deserialize<'de> for PurchaseDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parsed = match Value::deserialize(d)? {
            Value::String(text) => PurchaseDate::from_text(&text),
            Value::Number(n) => n.as_f64().and_then(PurchaseDate::from_millis),
            _ => None,
        };
        parsed
            .and_then(PurchaseDate::representable)
            .map(PurchaseDate)
            .ok_or_else(|| D::Error::custom(Self::EXPECTED))
    }
}

// The OpenAPI schema of each field type: the same rules, for clients and schema-driven tests.

/// A non-empty string of at most `max` characters matching `pattern`.
fn string_schema(max: usize, pattern: &str, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

fn number_schema(
    kind: Type,
    minimum: f64,
    maximum: Option<f64>,
    description: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(kind)
        .minimum(Some(minimum))
        .maximum(maximum)
        .description(Some(description))
        .into()
}

impl PartialSchema for UserId {
    fn schema() -> RefOr<Schema> {
        string_schema(
            UserId::MAX_BYTES,
            // `char::is_control`: Unicode's Cc, U+0000–U+001F and U+007F–U+009F.
            "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
            "Clerk user id: at most 128 bytes of UTF-8 (so at most 128 characters), \
             no control characters",
        )
    }
}
impl ToSchema for UserId {}

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        string_schema(
            Text::MAX_CHARS,
            // No NUL, and one character that is not white space (`char::is_whitespace`).
            concat!(
                "^[^\\u0000]*",
                "[^\\u0000\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A",
                "\\u2028\\u2029\\u202F\\u205F\\u3000]",
                "[^\\u0000]*$"
            ),
            "non-blank text of at most 255 characters, without NUL",
        )
    }
}
impl ToSchema for Text {}

impl<const MAX: u32> PartialSchema for Bounded<MAX> {
    fn schema() -> RefOr<Schema> {
        let maximum = (MAX != u32::MAX).then_some(f64::from(MAX));
        number_schema(Type::Number, 0.0, maximum, "a finite number")
    }
}
impl<const MAX: u32> ToSchema for Bounded<MAX> {
    fn name() -> Cow<'static, str> {
        match MAX {
            u32::MAX => "NonNegative".into(),
            max => format!("AtMost{max}").into(),
        }
    }
}

impl PartialSchema for Positive {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .exclusive_minimum(Some(0.0))
            .description(Some("a finite number > 0"))
            .into()
    }
}
impl ToSchema for Positive {}

impl PartialSchema for Rank {
    fn schema() -> RefOr<Schema> {
        number_schema(
            Type::Integer,
            0.0,
            Some(f64::from(i32::MAX)),
            "an integer ≥ 0",
        )
    }
}
impl ToSchema for Rank {}

impl PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        number_schema(Type::Integer, 1.0, Some(f64::from(i32::MAX)), "a row id")
    }
}
impl ToSchema for Id {}

impl PartialSchema for PurchaseDate {
    fn schema() -> RefOr<Schema> {
        // Years 0001 to 9999 (not 0000) and no leap second (no `:60`).
        let text = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
                .pattern(Some("^(?!0000)(?!.{17}60)"))
        };
        let first = NaiveDate::from_ymd_opt(*PurchaseDate::YEARS.start(), 1, 1)
            .expect("a date")
            .and_hms_opt(0, 0, 0);
        let last = NaiveDate::from_ymd_opt(*PurchaseDate::YEARS.end(), 12, 31)
            .expect("a date")
            .and_hms_milli_opt(23, 59, 59, 999);
        let millis =
            |at: Option<NaiveDateTime>| at.expect("a time").and_utc().timestamp_millis() as f64;
        OneOfBuilder::new()
            .item(text(KnownFormat::Date))
            .item(text(KnownFormat::DateTime))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(millis(first)))
                    .maximum(Some(millis(last)))
                    .description(Some("milliseconds since the epoch")),
            )
            .description(Some(PurchaseDate::EXPECTED))
            .into()
    }
}
impl ToSchema for PurchaseDate {}

/// For fields where `null` means something (clear the value) and absence means "unchanged":
/// use with `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>`.
pub fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(text) => Ok(text),
        other => Err(D::Error::custom(format!(
            "expected a string, got {}",
            kind(&other)
        ))),
    }
}

fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_f64()
            .filter(|value| value.is_finite())
            .ok_or_else(|| D::Error::custom("expected a finite number")),
        other => Err(D::Error::custom(format!(
            "expected a number, got {}",
            kind(&other)
        ))),
    }
}

fn whole_number(value: f64, min: i32) -> Option<i32> {
    let in_range = value >= f64::from(min) && value <= f64::from(i32::MAX);
    (in_range && value.fract() == 0.0).then_some(value as i32)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn user_ids() {
        assert!(parse::<UserId>(json!("user_2abc")).is_ok());
        assert_eq!(parse::<UserId>(json!("")).unwrap_err(), "must not be empty");
        assert!(parse::<UserId>(json!("x".repeat(UserId::MAX_BYTES + 1))).is_err());
        assert!(parse::<UserId>(json!("x".repeat(UserId::MAX_BYTES))).is_ok());
        assert!(parse::<UserId>(json!("a\nb")).is_err());
        assert_eq!(
            parse::<UserId>(json!(12)).unwrap_err(),
            "expected a string, got a number"
        );
    }

    #[test]
    fn texts() {
        assert!(parse::<Text>(json!("Rent")).is_ok());
        assert!(parse::<Text>(json!("  ")).is_err());
        assert!(parse::<Text>(json!("é".repeat(255))).is_ok());
        assert!(parse::<Text>(json!("é".repeat(256))).is_err());
        assert!(parse::<Text>(json!("a\u{0}b")).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse::<NonNegative>(json!(0)).unwrap().0, 0.0);
        assert_eq!(parse::<NonNegative>(json!(-1)).unwrap_err(), "must be ≥ 0");
        assert_eq!(
            parse::<NonNegative>(json!("5")).unwrap_err(),
            "expected a number, got a string"
        );
        assert!(parse::<Bounded<7>>(json!(7)).is_ok());
        assert_eq!(parse::<Bounded<7>>(json!(7.5)).unwrap_err(), "must be ≤ 7");
        assert!(parse::<Positive>(json!(0)).is_err());
        assert!(parse::<Positive>(json!(0.5)).is_ok());
    }

    #[test]
    fn ranks_and_ids() {
        assert_eq!(parse::<Rank>(json!(0)).unwrap(), Rank(0));
        assert_eq!(parse::<Rank>(json!(3.0)).unwrap(), Rank(3));
        assert!(parse::<Rank>(json!(1.5)).is_err());
        assert!(parse::<Rank>(json!(-1)).is_err());
        assert!(parse::<Id>(json!(0)).is_err());
        assert_eq!(parse::<Id>(json!(4)).unwrap(), Id(4));
        assert!(parse::<Id>(json!(3_000_000_000u64)).is_err());
        assert_eq!(Id::parse("12"), Ok(Id(12)));
        assert!(Id::parse("0").is_err());
        assert!(Id::parse("abc").is_err());
        assert!(Id::parse("-3").is_err());
    }

    #[test]
    fn purchase_dates() {
        let day = parse::<PurchaseDate>(json!("2024-05-01")).unwrap().0;
        assert_eq!(day.to_string(), "2024-05-01 00:00:00");
        let at = parse::<PurchaseDate>(json!("2024-05-01T10:00:00.000Z"))
            .unwrap()
            .0;
        assert_eq!(at.to_string(), "2024-05-01 10:00:00");
        let offset = parse::<PurchaseDate>(json!("2024-05-01T12:00:00+02:00"))
            .unwrap()
            .0;
        assert_eq!(offset, at);
        let millis = parse::<PurchaseDate>(json!(1714557600000i64)).unwrap().0;
        assert_eq!(millis, at);
        assert!(parse::<PurchaseDate>(json!("yesterday")).is_err());
        assert!(parse::<PurchaseDate>(json!(true)).is_err());
    }
}
