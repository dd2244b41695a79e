//! Routes 1–5: fixed costs.

use axum::extract::{Path, State};
use axum::routing::{delete, get, patch};
use axum::Router;
use formula_cache::keys;
use formula_db::models::{FixedCostPatch, NewFixedCost, Period};
use serde::Deserialize;

use super::{parse_owned_id, path_id, BatchBody, UserQuery};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{JsonBody, QueryParams, Validate};
use crate::fields::{present, NonNegative, Rank, Text, UserId};
use crate::reply;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/fixed-costs", get(list).post(create).put(update_many))
        .route("/fixed-costs/{id}", patch(update_one))
        .route("/fixed-costs/{user_id}/{id}", delete(remove))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
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
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Changes {
    user_id: Option<UserId>,
    name: Option<Text>,
    amount: Option<NonNegative>,
    category: Option<Text>,
    rank: Option<Rank>,
    #[serde(default, deserialize_with = "present")]
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

async fn list(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<UserQuery>,
) -> ApiResult {
    let user = caller.user(query.user_id)?;
    let key = keys::fixed_cost_list(user.as_str());
    let (json, lookup) = app
        .read_through(&key, app.db.list_fixed_costs(user.as_str()))
        .await?;
    Ok(reply::cached(json, lookup))
}

async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::fixed_cost_list(user.as_str())];
    let new = NewFixedCost::from(&body);
    let write = app.db.create_fixed_cost(user.as_str(), &new);
    let row = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::created(&row))
}

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
    let write = app.db.update_fixed_costs(user.as_str(), &patch);
    let mut rows = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::ok(&rows.pop()))
}

async fn update_many(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<BatchBody<Changes>>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::fixed_cost_list(user.as_str())];
    let patches: Vec<(i32, FixedCostPatch)> = body.into_patches();
    let rows = app
        .write_then_invalidate(&stale, app.db.update_fixed_costs(user.as_str(), &patches))
        .await?;
    Ok(reply::ok(&rows))
}

async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult {
    let (named, id) = parse_owned_id(&user_id, &id)?;
    let user = caller.user(Some(named))?;
    let stale = [keys::fixed_cost_list(user.as_str())];
    app.write_then_invalidate(&stale, app.db.delete_fixed_cost(user.as_str(), id.0))
        .await?;
    Ok(reply::deleted())
}
