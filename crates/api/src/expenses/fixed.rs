//! Routes 1–5: fixed costs.

use axum::extract::State;
use formula_cache::keys;
use formula_db::models::{FixedCost, FixedCostPatch, NewFixedCost, Period};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{parse_owned_id, path_id, BatchBody, UserQuery};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{JsonBody, Path, QueryParams, Validate};
use crate::fields::{present, NonNegative, Rank, Text, UserId};
use crate::openapi::{Deleted, ExpenseErrors, Success};
use crate::reply;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create, update_many))
        .routes(routes!(update_one))
        .routes(routes!(remove))
}

/// A new fixed cost.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FixedCostCreate)]
struct CreateBody {
    user_id: Option<UserId>,
    name: Text,
    amount: NonNegative,
    category: Text,
    rank: Rank,
    period: Option<Period>,
}

impl Validate for CreateBody {}

impl From<&CreateBody> for NewFixedCost {
    fn from(body: &CreateBody) -> Self {
        NewFixedCost {
            name: body.name.0.clone(),
            amount: body.amount.0,
            category: body.category.0.clone(),
            rank: body.rank.0,
            period: body.period,
        }
    }
}

/// The fields a PATCH (or one batch item's `data`) may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FixedCostChanges)]
struct Changes {
    user_id: Option<UserId>,
    name: Option<Text>,
    amount: Option<NonNegative>,
    category: Option<Text>,
    rank: Option<Rank>,
    /// `null` clears the period; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Period>, nullable)]
    period: Option<Option<Period>>,
}

impl Validate for Changes {}

impl From<Changes> for FixedCostPatch {
    fn from(changes: Changes) -> Self {
        FixedCostPatch {
            name: changes.name.map(|text| text.0),
            amount: changes.amount.map(|n| n.0),
            category: changes.category.map(|text| text.0),
            rank: changes.rank.map(|rank| rank.0),
            period: changes.period,
        }
    }
}

/// Route 1: the user's fixed costs, ordered by rank, then id.
#[utoipa::path(get, path = "/api/expenses/fixed-costs", operation_id = "listFixedCosts", tag = "fixed costs", params(UserQuery),
    responses((status = 200, description = "The list (`[]` when none)", body = Success<Vec<FixedCost>>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<UserQuery>,
) -> ApiResult {
    let user = caller.user(query.user_id)?;
    let key = keys::fixed_cost_list(user.as_str());
    let (json, lookup) = app
        .read_through(&key, || app.db.list_fixed_costs(user.as_str()))
        .await?;
    Ok(reply::cached(json, lookup))
}

/// Route 2: creates a fixed cost (and the user's row, if missing).
#[utoipa::path(post, path = "/api/expenses/fixed-costs", operation_id = "createFixedCost", tag = "fixed costs", request_body = CreateBody,
    responses((status = 201, description = "The new fixed cost", body = Success<FixedCost>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::fixed_cost_list(user.as_str())];
    let new = NewFixedCost::from(&body);
    let write = app.db.create_fixed_cost(user.as_str(), &new, &stale);
    let row = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::created(&row))
}

/// Route 3: changes the given fields of one fixed cost.
#[utoipa::path(patch, path = "/api/expenses/fixed-costs/{id}", operation_id = "updateFixedCost", tag = "fixed costs",
    params(("id" = i32, Path, description = "Row id (a positive integer)", minimum = 1)),
    request_body = Changes,
    responses((status = 200, description = "The updated fixed cost", body = Success<FixedCost>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn update_one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Changes>,
) -> ApiResult {
    let id = path_id(&id)?;
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::fixed_cost_list(user.as_str())];
    let patch = [(id.0, FixedCostPatch::from(body))];
    let write = app.db.update_fixed_costs(user.as_str(), &patch, &stale);
    let mut rows = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::ok(&rows.pop()))
}

/// Route 4: changes several fixed costs, all or nothing.
#[utoipa::path(put, path = "/api/expenses/fixed-costs", operation_id = "updateFixedCosts", tag = "fixed costs", request_body = BatchBody<Changes>,
    responses((status = 200, description = "The updated fixed costs, in request order", body = Success<Vec<FixedCost>>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn update_many(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<BatchBody<Changes>>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::fixed_cost_list(user.as_str())];
    let patches: Vec<(i32, FixedCostPatch)> = body.into_patches();
    let write = app.db.update_fixed_costs(user.as_str(), &patches, &stale);
    let rows = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::ok(&rows))
}

/// Route 5: deletes one fixed cost.
#[utoipa::path(delete, path = "/api/expenses/fixed-costs/{user_id}/{id}", operation_id = "deleteFixedCost", tag = "fixed costs",
    params(("user_id" = UserId, Path, description = "The owner's user id"), ("id" = i32, Path, description = "Row id", minimum = 1)),
    responses((status = 200, description = "Deleted: `data` is null", body = Deleted), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult {
    let (named, id) = parse_owned_id(&user_id, &id)?;
    let user = caller.user(Some(named))?;
    let stale = [keys::fixed_cost_list(user.as_str())];
    let write = app.db.delete_fixed_cost(user.as_str(), id.0, &stale);
    app.write_then_invalidate(&stale, write).await?;
    Ok(reply::deleted())
}
