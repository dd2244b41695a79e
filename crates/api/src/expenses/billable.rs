//! Routes 6–8: the user's one billable-cost row.

use axum::extract::State;
use axum::http::StatusCode;

use formula_cache::keys;
use formula_db::models::{BillableCost, BillableCostPatch};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::UserQuery;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{JsonBody, QueryParams, Validate};
use crate::fields::{present, Bounded, NonNegative, UserId};
use crate::openapi::{ExpenseErrors, Success};
use crate::reply;
use crate::state::AppState;

/// Day counts: at most a (leap) year.
type DayCount = Bounded<366>;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(fetch, create, update))
}

/// Creates the user's billable cost with the defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BillableCostCreate)]
struct CreateBody {
    user_id: Option<UserId>,
}

impl Validate for CreateBody {}

/// The fields a PATCH may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BillableCostChanges)]
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
    /// `null` clears it; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, nullable, minimum = 0)]
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

/// Route 6: the user's billable cost, or `null` when there is none.
#[utoipa::path(get, path = "/api/expenses/billable-costs", operation_id = "getBillableCost", tag = "billable costs", params(UserQuery),
    responses((status = 200, description = "The row, or null", body = Success<Option<BillableCost>>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn fetch(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<UserQuery>,
) -> ApiResult {
    let user = caller.user(query.user_id)?;
    let key = keys::billable_cost(user.as_str());
    let (json, lookup) = app
        .read_through(&key, || app.db.get_billable_cost(user.as_str()))
        .await?;
    Ok(reply::cached(json, lookup))
}

/// Route 7: 201 with the defaults, or 200 with the row the user already has; either way the
/// cache then holds the row, loaded by a generation-checked read after the invalidation (a write
/// that commits meanwhile keeps it out).
#[utoipa::path(post, path = "/api/expenses/billable-costs", operation_id = "createBillableCost", tag = "billable costs", request_body = CreateBody,
    responses(
        (status = 201, description = "Created with the defaults", body = Success<BillableCost>),
        (status = 200, description = "The user already had one", body = Success<BillableCost>),
        ExpenseErrors),
    security((), ("clerk" = [])))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult {
    let user = caller.user(body.user_id)?;
    let stale = [keys::billable_cost(user.as_str())];
    let write = app.db.create_billable_cost(user.as_str(), &stale);
    let (row, created) = app.write_then_invalidate(&stale, write).await?;
    let load = app.read_through(&stale[0], || app.db.get_billable_cost(user.as_str()));
    if let Err(error) = load.await {
        tracing::warn!(%error, "billable cost not cached after its creation");
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply::success(status, &row))
}

/// Route 8: changes the given fields; 404 when the user has no row.
#[utoipa::path(patch, path = "/api/expenses/billable-costs", operation_id = "updateBillableCost", tag = "billable costs", request_body = Changes,
    responses((status = 200, description = "The updated row", body = Success<BillableCost>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn update(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Changes>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::billable_cost(user.as_str())];
    let patch = BillableCostPatch::from(&body);
    let write = app.db.update_billable_cost(user.as_str(), &patch, &stale);
    let row = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::ok(&row))
}
