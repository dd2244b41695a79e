//! Routes 6–8: the user's one billable-cost row.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use formula_cache::keys;
use formula_db::models::BillableCostPatch;
use serde::Deserialize;

use super::UserQuery;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{JsonBody, QueryParams, Validate};
use crate::fields::{present, Bounded, NonNegative, UserId};
use crate::reply;
use crate::state::AppState;

/// Day counts: at most a (leap) year.
type DayCount = Bounded<366>;

pub fn router() -> Router<AppState> {
    Router::new().route("/billable-costs", get(fetch).post(create).patch(update))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    user_id: Option<UserId>,
}

impl Validate for CreateBody {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Changes {
    user_id: Option<UserId>,
    work_days: Option<Bounded<7>>,
    hours_per_day: Option<Bounded<24>>,
    holidays_days: Option<DayCount>,
    vacations_days: Option<DayCount>,
    sick_leave_days: Option<DayCount>,
    monthly_salary: Option<NonNegative>,
    taxes: Option<NonNegative>,
    fees: Option<NonNegative>,
    margin: Option<NonNegative>,
    #[serde(default, deserialize_with = "present")]
    billable_hours: Option<Option<NonNegative>>,
}

impl Validate for Changes {}

impl From<&Changes> for BillableCostPatch {
    fn from(changes: &Changes) -> Self {
        BillableCostPatch {
            work_days: changes.work_days.map(|n| n.0),
            hours_per_day: changes.hours_per_day.map(|n| n.0),
            holidays_days: changes.holidays_days.map(|n| n.0),
            vacations_days: changes.vacations_days.map(|n| n.0),
            sick_leave_days: changes.sick_leave_days.map(|n| n.0),
            monthly_salary: changes.monthly_salary.map(|n| n.0),
            taxes: changes.taxes.map(|n| n.0),
            fees: changes.fees.map(|n| n.0),
            margin: changes.margin.map(|n| n.0),
            billable_hours: changes.billable_hours.map(|hours| hours.map(|n| n.0)),
        }
    }
}

async fn fetch(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<UserQuery>,
) -> ApiResult {
    let user = caller.user(query.user_id)?;
    let key = keys::billable_cost(user.as_str());
    let (json, lookup) = app
        .read_through(&key, app.db.get_billable_cost(user.as_str()))
        .await?;
    Ok(reply::cached(json, lookup))
}

/// 201 with the defaults, or 200 with the row the user already has; either way the cache then
/// holds the row.
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult {
    let user = caller.user(body.user_id)?;
    let (row, created) = app.db.create_billable_cost(user.as_str()).await?;
    app.cache
        .refresh(&keys::billable_cost(user.as_str()), &row)
        .await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply::success(status, &row))
}

async fn update(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Changes>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::billable_cost(user.as_str())];
    let patch = BillableCostPatch::from(&body);
    let write = app.db.update_billable_cost(user.as_str(), &patch);
    let row = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::ok(&row))
}
