//! Routes 9–13: equipment. Unlike the old API, PATCH changes the row named by `id`, and PUT and
//! DELETE exist.

use axum::extract::State;

use formula_cache::keys;
use formula_db::models::{Equipment, EquipmentPatch, NewEquipment};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{parse_owned_id, BatchBody, UserQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, QueryParams, Validate};
use crate::fields::{Id, NonNegative, Positive, PurchaseDate, Rank, Text, UserId};
use crate::openapi::{Deleted, ExpenseErrors, Success};
use crate::reply;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create, update_one, update_many))
        .routes(routes!(remove))
}

/// A new equipment expense.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EquipmentCreate)]
struct CreateBody {
    user_id: Option<UserId>,
    name: Text,
    amount: NonNegative,
    rank: Rank,
    category: Text,
    purchase_date: PurchaseDate,
    usage: NonNegative,
    life_span: Positive,
}

impl Validate for CreateBody {}

impl From<&CreateBody> for NewEquipment {
    fn from(body: &CreateBody) -> Self {
        NewEquipment {
            name: body.name.0.clone(),
            amount: body.amount.0,
            rank: body.rank.0,
            category: body.category.0.clone(),
            purchase_date: body.purchase_date.0,
            usage: body.usage.0,
            life_span: body.life_span.0,
        }
    }
}

/// The fields a PATCH (with its `id`) or one batch item's `data` may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EquipmentChanges)]
struct Changes {
    user_id: Option<UserId>,
    id: Option<Id>,
    name: Option<Text>,
    amount: Option<NonNegative>,
    rank: Option<Rank>,
    category: Option<Text>,
    purchase_date: Option<PurchaseDate>,
    usage: Option<NonNegative>,
    life_span: Option<Positive>,
}

impl Validate for Changes {}

impl From<Changes> for EquipmentPatch {
    fn from(changes: Changes) -> Self {
        EquipmentPatch {
            name: changes.name.map(|text| text.0),
            amount: changes.amount.map(|n| n.0),
            rank: changes.rank.map(|rank| rank.0),
            category: changes.category.map(|text| text.0),
            purchase_date: changes.purchase_date.map(|date| date.0),
            usage: changes.usage.map(|n| n.0),
            life_span: changes.life_span.map(|n| n.0),
        }
    }
}

/// Route 9: the user's equipment, ordered by rank, then id.
#[utoipa::path(get, path = "/api/expenses/equipment-costs", operation_id = "listEquipmentCosts", tag = "equipment", params(UserQuery),
    responses((status = 200, description = "The list (`[]` when none)", body = Success<Vec<Equipment>>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<UserQuery>,
) -> ApiResult {
    let user = caller.user(query.user_id)?;
    let key = keys::equipment_cost_list(user.as_str());
    let (json, lookup) = app
        .read_through(&key, || app.db.list_equipment(user.as_str()))
        .await?;
    Ok(reply::cached(json, lookup))
}

/// Route 10: creates an equipment expense (and the user's row, if missing).
#[utoipa::path(post, path = "/api/expenses/equipment-costs", operation_id = "createEquipmentCost", tag = "equipment", request_body = CreateBody,
    responses((status = 201, description = "The new equipment", body = Success<Equipment>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::equipment_cost_list(user.as_str())];
    let new = NewEquipment::from(&body);
    let write = app.db.create_equipment(user.as_str(), &new, &stale);
    let row = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::created(&row))
}

/// Route 11: changes the given fields of the row named by `id` (required).
#[utoipa::path(patch, path = "/api/expenses/equipment-costs", operation_id = "updateEquipmentCost", tag = "equipment", request_body = Changes,
    responses((status = 200, description = "The updated equipment", body = Success<Equipment>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn update_one(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Changes>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let id = body
        .id
        .ok_or_else(|| ApiError::bad_request("id: required"))?;
    let stale = [keys::equipment_cost_list(user.as_str())];
    let patch = [(id.0, EquipmentPatch::from(body))];
    let write = app.db.update_equipment(user.as_str(), &patch, &stale);
    let mut rows = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::ok(&rows.pop()))
}

/// Route 12: changes several equipment rows, all or nothing.
#[utoipa::path(put, path = "/api/expenses/equipment-costs", operation_id = "updateEquipmentCosts", tag = "equipment", request_body = BatchBody<Changes>,
    responses((status = 200, description = "The updated rows, in request order", body = Success<Vec<Equipment>>), ExpenseErrors),
    security((), ("clerk" = [])))]
async fn update_many(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<BatchBody<Changes>>,
) -> ApiResult {
    let user = caller.user(body.user_id.clone())?;
    let stale = [keys::equipment_cost_list(user.as_str())];
    let patches: Vec<(i32, EquipmentPatch)> = body.into_patches();
    let write = app.db.update_equipment(user.as_str(), &patches, &stale);
    let rows = app.write_then_invalidate(&stale, write).await?;
    Ok(reply::ok(&rows))
}

/// Route 13: deletes one equipment row.
#[utoipa::path(delete, path = "/api/expenses/equipment-costs/{user_id}/{id}", operation_id = "deleteEquipmentCost", tag = "equipment",
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
    let stale = [keys::equipment_cost_list(user.as_str())];
    let write = app.db.delete_equipment(user.as_str(), id.0, &stale);
    app.write_then_invalidate(&stale, write).await?;
    Ok(reply::deleted())
}
