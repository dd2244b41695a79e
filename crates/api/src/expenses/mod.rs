//! The expense routes of the contract (`docs/contract.md`) and the request shapes they share.

mod billable;
mod equipment;
mod fixed;

use std::collections::HashSet;

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::extract::Validate;
use crate::fields::{Id, UserId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(fixed::router())
        .merge(billable::router())
        .merge(equipment::router())
}

/// `?userId=U` of the list routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct UserQuery {
    /// The user; required without a session token, and must be the token's user with one.
    #[param(value_type = UserId, required = false)]
    user_id: Option<UserId>,
}

/// `{userId, updates: [{id, data}]}` of the batch routes: 1 to 500 items, no id twice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BatchBody<C> {
    user_id: Option<UserId>,
    /// 1 to 500 items; no `id` may appear twice (a repeated id is a 400 naming it).
    #[schema(min_items = 1, max_items = 500)]
    updates: Vec<BatchItem<C>>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct BatchItem<C> {
    id: Id,
    data: C,
}

const MAX_BATCH: usize = 500;

impl<C> Validate for BatchBody<C> {
    fn validate(&self) -> Result<(), ApiError> {
        if self.updates.is_empty() || self.updates.len() > MAX_BATCH {
            return Err(ApiError::bad_request(format!(
                "updates: expected 1 to {MAX_BATCH} items, got {}",
                self.updates.len()
            )));
        }
        let mut seen = HashSet::with_capacity(self.updates.len());
        for (index, item) in self.updates.iter().enumerate() {
            if !seen.insert(item.id) {
                return Err(ApiError::bad_request(format!(
                    "updates[{index}].id: {} appears more than once",
                    item.id.0
                )));
            }
        }
        Ok(())
    }
}

impl<C> BatchBody<C> {
    /// The batch as the repository takes it: `(id, patch)` pairs in request order.
    fn into_patches<P>(self) -> Vec<(i32, P)>
    where
        C: Into<P>,
    {
        self.updates
            .into_iter()
            .map(|item| (item.id.0, item.data.into()))
            .collect()
    }
}

/// `/{userId}/{id}` of the DELETE routes.
fn parse_owned_id(user_id: &str, id: &str) -> Result<(UserId, Id), ApiError> {
    let user_id = UserId::parse(user_id)
        .map_err(|reason| ApiError::bad_request(format!("userId: {reason}")))?;
    Ok((user_id, path_id(id)?))
}

/// `/{id}` of a PATCH route.
fn path_id(id: &str) -> Result<Id, ApiError> {
    Id::parse(id).map_err(|reason| ApiError::bad_request(format!("id: {reason}")))
}
