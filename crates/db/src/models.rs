//! The entities as the contract spells them: camelCase JSON, ISO 8601 UTC timestamps with
//! milliseconds, and the exact column names of the production tables.

use chrono::{NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

/// Now, in UTC, truncated to the millisecond that `TIMESTAMP(3)` keeps, so that what a write
/// answers is exactly what a later read returns.
pub fn now_millis() -> NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    let millis = now.nanosecond() / 1_000_000 * 1_000_000;
    now.with_nanosecond(millis).unwrap_or(now)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct FixedCost {
    pub id: i32,
    pub user_id: String,
    pub rank: i32,
    pub name: String,
    #[serde(serialize_with = "js_number::serialize")]
    pub amount: f64,
    pub period: Option<String>,
    pub category: String,
    #[serde(with = "iso_millis")]
    pub created_at: NaiveDateTime,
    #[serde(with = "iso_millis")]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct BillableCost {
    pub id: i32,
    pub user_id: String,
    #[serde(serialize_with = "js_number::serialize")]
    pub work_days: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub hours_per_day: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub holidays_days: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub vacations_days: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub sick_leave_days: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub monthly_salary: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub taxes: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub fees: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub margin: f64,
    #[serde(serialize_with = "js_number::serialize_option")]
    pub billable_hours: Option<f64>,
    #[serde(with = "iso_millis")]
    pub created_at: NaiveDateTime,
    #[serde(with = "iso_millis")]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct Equipment {
    pub id: i32,
    pub user_id: String,
    pub name: String,
    #[serde(serialize_with = "js_number::serialize")]
    pub amount: f64,
    pub rank: i32,
    pub category: String,
    #[serde(with = "iso_millis")]
    pub purchase_date: NaiveDateTime,
    #[serde(serialize_with = "js_number::serialize")]
    pub usage: f64,
    #[serde(serialize_with = "js_number::serialize")]
    pub life_span: f64,
    #[serde(with = "iso_millis")]
    pub created_at: NaiveDateTime,
    #[serde(with = "iso_millis")]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub plan: String,
    #[serde(with = "iso_millis")]
    pub created_at: NaiveDateTime,
    #[serde(with = "iso_millis")]
    pub updated_at: NaiveDateTime,
}

/// `period` of a fixed cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Monthly,
    Yearly,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }
}

/// A fixed cost to insert; validated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFixedCost {
    pub name: String,
    pub amount: f64,
    pub category: String,
    pub rank: i32,
    pub period: Option<Period>,
}

/// Changes to a fixed cost: `None` leaves a field as it is; `period: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixedCostPatch {
    pub name: Option<String>,
    pub amount: Option<f64>,
    pub category: Option<String>,
    pub rank: Option<i32>,
    pub period: Option<Option<Period>>,
}

/// Changes to a billable cost: `None` leaves a field as it is; `billable_hours: Some(None)`
/// clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BillableCostPatch {
    pub work_days: Option<f64>,
    pub hours_per_day: Option<f64>,
    pub holidays_days: Option<f64>,
    pub vacations_days: Option<f64>,
    pub sick_leave_days: Option<f64>,
    pub monthly_salary: Option<f64>,
    pub taxes: Option<f64>,
    pub fees: Option<f64>,
    pub margin: Option<f64>,
    pub billable_hours: Option<Option<f64>>,
}

/// The API's defaults for a new billable cost (the table's own defaults differ: see
/// `docs/database.md`). Shared by `POST /billable-costs` and the `user.created` webhook.
pub struct BillableDefaults;

impl BillableDefaults {
    pub const WORK_DAYS: f64 = 5.0;
    pub const HOURS_PER_DAY: f64 = 6.0;
    pub const HOLIDAYS_DAYS: f64 = 12.0;
    pub const VACATIONS_DAYS: f64 = 30.0;
    pub const SICK_LEAVE_DAYS: f64 = 3.0;

    /// (workDays × 52 − holidays − vacations − sick leave) × hoursPerDay = 1290.
    pub fn billable_hours() -> f64 {
        (Self::WORK_DAYS * 52.0
            - Self::HOLIDAYS_DAYS
            - Self::VACATIONS_DAYS
            - Self::SICK_LEAVE_DAYS)
            * Self::HOURS_PER_DAY
    }
}

/// A Clerk user event, as the webhook hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct UserEvent {
    /// Svix's message id: the same on every redelivery.
    pub svix_id: String,
    pub user_id: String,
    /// When the change happened in Clerk (milliseconds since the epoch): orders events.
    pub at_ms: i64,
    pub change: UserChange,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserChange {
    Created(UserProfile),
    Updated(UserProfile),
    Deleted,
}

impl UserChange {
    pub fn event_type(&self) -> &'static str {
        match self {
            UserChange::Created(_) => "user.created",
            UserChange::Updated(_) => "user.updated",
            UserChange::Deleted => "user.deleted",
        }
    }
}

/// The user fields Clerk owns (`plan` is the service's own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserProfile {
    pub email: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
}

/// What applying a user event did.
#[derive(Debug, Clone, PartialEq)]
pub enum EventOutcome {
    /// This Svix message was applied before: nothing changed.
    Duplicate,
    /// Applied; the user's rows as they are now (`None` once deleted).
    Applied(UserRows),
    /// Older than an event already applied: the user's fields were left alone (a late
    /// `user.created` still gets its billable defaults, unless the user was deleted).
    Superseded(UserRows),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserRows {
    pub user: Option<User>,
    pub billable: Option<BillableCost>,
}

/// An equipment expense to insert; validated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEquipment {
    pub name: String,
    pub amount: f64,
    pub rank: i32,
    pub category: String,
    pub purchase_date: NaiveDateTime,
    pub usage: f64,
    pub life_span: f64,
}

/// Changes to an equipment expense: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EquipmentPatch {
    pub name: Option<String>,
    pub amount: Option<f64>,
    pub rank: Option<i32>,
    pub category: Option<String>,
    pub purchase_date: Option<NaiveDateTime>,
    pub usage: Option<f64>,
    pub life_span: Option<f64>,
}

/// Numbers as JavaScript's `JSON.stringify` wrote them in the old API: whole numbers without a
/// fraction (`900`, not `900.0`), so cached values stay byte-compatible.
pub mod js_number {
    use serde::Serializer;

    /// 2^53: beyond it, JavaScript prints floats in other ways and integers lose precision.
    const MAX_SAFE: f64 = 9_007_199_254_740_992.0;

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        if value.fract() == 0.0 && value.abs() < MAX_SAFE {
            s.serialize_i64(*value as i64)
        } else {
            s.serialize_f64(*value)
        }
    }

    pub fn serialize_option<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serialize(value, s),
            None => s.serialize_none(),
        }
    }
}

/// Timestamps as the old API wrote them: `2025-03-01T09:30:00.000Z`.
pub mod iso_millis {
    use chrono::{DateTime, NaiveDateTime};
    use serde::{Deserialize, Deserializer, Serializer};

    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

    pub fn format(at: &NaiveDateTime) -> String {
        at.format(FORMAT).to_string()
    }

    pub fn serialize<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&at.format(FORMAT))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.naive_utc())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billable_hours_default_is_1290() {
        assert_eq!(BillableDefaults::billable_hours(), 1290.0);
    }

    #[test]
    fn timestamps_round_trip_with_milliseconds() {
        let at = NaiveDateTime::parse_from_str("2025-03-01 09:30:00.120", "%Y-%m-%d %H:%M:%S%.f")
            .unwrap();
        assert_eq!(iso_millis::format(&at), "2025-03-01T09:30:00.120Z");
        let json = serde_json::json!("2025-03-01T09:30:00.120Z");
        assert_eq!(iso_millis::deserialize(json).unwrap(), at);
    }

    #[test]
    fn whole_numbers_print_like_javascript() {
        #[derive(Serialize)]
        struct N {
            #[serde(serialize_with = "js_number::serialize")]
            a: f64,
            #[serde(serialize_with = "js_number::serialize_option")]
            b: Option<f64>,
        }
        let json = serde_json::to_string(&N {
            a: 900.0,
            b: Some(12.5),
        })
        .unwrap();
        assert_eq!(json, r#"{"a":900,"b":12.5}"#);
        let json = serde_json::to_string(&N { a: -0.0, b: None }).unwrap();
        assert_eq!(json, r#"{"a":0,"b":null}"#);
    }

    #[test]
    fn now_is_truncated_to_milliseconds() {
        assert_eq!(now_millis().nanosecond() % 1_000_000, 0);
    }
}
