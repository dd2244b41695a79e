//! One repository over both databases. Every query is written once, in the SQL that Postgres and
//! SQLite share: `$n` placeholders, quoted camelCase columns, `RETURNING`, `ON CONFLICT`, and
//! `COALESCE` for partial updates so that a PATCH is a single atomic statement.

use async_trait::async_trait;
use chrono::NaiveDateTime;
use std::ops::{Deref, DerefMut};

use sqlx::database::HasStatementCache;
use sqlx::pool::PoolConnection;
use sqlx::query::{Query, QueryAs};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type};

use crate::models::{
    now_millis, BillableCost, BillableCostPatch, BillableDefaults, Equipment, EquipmentPatch,
    EventOutcome, FixedCost, FixedCostPatch, NewEquipment, NewFixedCost, User, UserChange,
    UserEvent, UserProfile, UserRows,
};
use crate::{DbError, DbKind};

type Result<T> = std::result::Result<T, DbError>;

fn count_query(op: &'static str) {
    metrics::counter!("db_queries_total", "op" => op).increment(1);
}

/// What the service asks of its database. Every write runs in one transaction, which also
/// records `stale`, the cache keys it makes stale, in the outbox (`cache_outbox`): the
/// invalidation commits or rolls back with the write. A write for a user whom Clerk deleted
/// fails with `DbError::Gone` and changes nothing.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn kind(&self) -> DbKind;
    /// A cheap round trip (`SELECT 1`).
    async fn ping(&self) -> Result<()>;

    async fn get_user(&self, user_id: &str) -> Result<Option<User>>;
    /// Applies a Clerk user event in one transaction: at most once per Svix message, and never
    /// over a newer event of the same user.
    async fn apply_user_event(&self, event: &UserEvent, stale: &[String]) -> Result<EventOutcome>;
    /// Forgets Svix messages received before `before` (Svix stops redelivering after about 28 h);
    /// how many were forgotten.
    async fn prune_webhook_events(&self, before: NaiveDateTime) -> Result<usize>;

    async fn list_fixed_costs(&self, user_id: &str) -> Result<Vec<FixedCost>>;
    /// Creates the user's row first when it is missing, in the same transaction.
    async fn create_fixed_cost(
        &self,
        user_id: &str,
        new: &NewFixedCost,
        stale: &[String],
    ) -> Result<FixedCost>;
    /// All or nothing: one unknown or foreign id and no row changes.
    async fn update_fixed_costs(
        &self,
        user_id: &str,
        updates: &[(i32, FixedCostPatch)],
        stale: &[String],
    ) -> Result<Vec<FixedCost>>;
    async fn delete_fixed_cost(&self, user_id: &str, id: i32, stale: &[String]) -> Result<()>;

    async fn get_billable_cost(&self, user_id: &str) -> Result<Option<BillableCost>>;
    /// Creates the row with the API's defaults; `false` when the user already had one (returned).
    async fn create_billable_cost(
        &self,
        user_id: &str,
        stale: &[String],
    ) -> Result<(BillableCost, bool)>;
    async fn update_billable_cost(
        &self,
        user_id: &str,
        patch: &BillableCostPatch,
        stale: &[String],
    ) -> Result<BillableCost>;

    async fn list_equipment(&self, user_id: &str) -> Result<Vec<Equipment>>;
    async fn create_equipment(
        &self,
        user_id: &str,
        new: &NewEquipment,
        stale: &[String],
    ) -> Result<Equipment>;
    async fn update_equipment(
        &self,
        user_id: &str,
        updates: &[(i32, EquipmentPatch)],
        stale: &[String],
    ) -> Result<Vec<Equipment>>;
    async fn delete_equipment(&self, user_id: &str, id: i32, stale: &[String]) -> Result<()>;

    /// The oldest `limit` invalidations of the outbox: `(id, key)`.
    async fn outbox_batch(&self, limit: i64) -> Result<Vec<(i64, String)>>;
    /// Forgets outbox entries once the cache applied them.
    async fn outbox_delete(&self, ids: &[i64]) -> Result<()>;
}

/// The repository, generic over the sqlx driver; `connect` picks the driver from the URL.
pub(crate) struct SqlStore<DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) kind: DbKind,
    /// Behind PgBouncer in transaction mode: every call runs in a transaction (the pooler keeps a
    /// server connection only that long) with unnamed statements (a named one may not exist on
    /// the next transaction's server connection).
    pub(crate) pooled: bool,
}

/// The connection one store call runs on: a transaction when pooled, else a pool connection.
enum Call<DB: Database> {
    Direct(PoolConnection<DB>),
    Pooled(Transaction<'static, DB>),
}

impl<DB: Database> Deref for Call<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            Call::Direct(conn) => conn,
            Call::Pooled(tx) => tx,
        }
    }
}

impl<DB: Database> DerefMut for Call<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Call::Direct(conn) => conn,
            Call::Pooled(tx) => tx,
        }
    }
}

impl<DB: Database> Call<DB> {
    /// Ends the call: commits its transaction, if it has one.
    async fn finish(self) -> Result<()> {
        if let Call::Pooled(tx) = self {
            tx.commit().await?;
        }
        Ok(())
    }
}

const FIXED_COLUMNS: &str =
    r#"id, "userId", rank, name, amount, period, category, "createdAt", "updatedAt""#;
const BILLABLE_COLUMNS: &str = r#"id, "userId", "workDays", "hoursPerDay", "holidaysDays", "vacationsDays", "sickLeaveDays", "monthlySalary", taxes, fees, margin, "billableHours", "createdAt", "updatedAt""#;
const USER_COLUMNS: &str = r#"id, email, name, avatar, plan, "createdAt", "updatedAt""#;
const EQUIPMENT_COLUMNS: &str = r#"id, "userId", name, amount, rank, category, "purchaseDate", usage, "lifeSpan", "createdAt", "updatedAt""#;

/// The SQL of one statement, built once from its table's column list.
macro_rules! sql {
    ($columns:expr, $template:literal) => {{
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| format!($template, columns = $columns));
        SQL.as_str()
    }};
}

/// Writes an impl block for every sqlx driver that `SqlStore` can run on: the bounds say which
/// values the queries bind and decode. Postgres and SQLite both meet them.
macro_rules! for_sql_drivers {
    ($(#[$attr:meta])* impl<DB> [$($head:tt)*] { $($body:tt)* }) => {
        $(#[$attr])*
        impl<DB> $($head)*
        where
            DB: Database + HasStatementCache,
            for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
            for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
            i32: for<'q> Encode<'q, DB> + Type<DB>,
            i64: for<'q> Encode<'q, DB> + Type<DB>,
            f64: for<'q> Encode<'q, DB> + Type<DB>,
            bool: for<'q> Encode<'q, DB> + Type<DB>,
            String: for<'q> Encode<'q, DB> + Type<DB>,
            NaiveDateTime: for<'q> Encode<'q, DB> + Type<DB>,
            Option<i32>: for<'q> Encode<'q, DB> + Type<DB>,
            Option<f64>: for<'q> Encode<'q, DB> + Type<DB>,
            Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
            Option<NaiveDateTime>: for<'q> Encode<'q, DB> + Type<DB>,
            FixedCost: for<'r> FromRow<'r, DB::Row>,
            BillableCost: for<'r> FromRow<'r, DB::Row>,
            Equipment: for<'r> FromRow<'r, DB::Row>,
            User: for<'r> FromRow<'r, DB::Row>,
            (i64, String): for<'r> FromRow<'r, DB::Row>,
        { $($body)* }
    };
}

for_sql_drivers! {
impl<DB> [SqlStore<DB>] {
    /// The connection of one store call, counted as `op` in `db_queries_total`: a transaction of
    /// its own when pooled (see `pooled`).
    async fn call(&self, op: &'static str) -> Result<Call<DB>> {
        count_query(op);
        self.uncounted_call().await
    }

    /// The transaction of one write, counted as `op` in `db_queries_total`.
    async fn begin(&self, op: &'static str) -> Result<Transaction<'static, DB>> {
        count_query(op);
        Ok(self.pool.begin().await?)
    }

    /// `call` for the outbox's own bookkeeping, which `db_queries_total` does not count.
    async fn uncounted_call(&self) -> Result<Call<DB>> {
        Ok(if self.pooled {
            Call::Pooled(self.pool.begin().await?)
        } else {
            Call::Direct(self.pool.acquire().await?)
        })
    }

    /// A statement; prepared once per connection unless pooled (see `pooled`).
    fn query<'q>(&self, sql: &'q str) -> Query<'q, DB, DB::Arguments<'q>> {
        sqlx::query(sql).persistent(!self.pooled)
    }

    /// A statement whose rows are `O`; prepared as `query` says.
    fn query_as<'q, O>(&self, sql: &'q str) -> QueryAs<'q, DB, O, DB::Arguments<'q>>
    where
        O: for<'r> FromRow<'r, DB::Row>,
    {
        sqlx::query_as(sql).persistent(!self.pooled)
    }

    /// Ends a write: refuses it (rolled back) when Clerk deleted the user, records the cache keys
    /// it made stale in the outbox, and commits. The tombstone is read after the write's own
    /// statements, so a deletion committed meanwhile is seen (one committed later waits for the
    /// write's lock on the user row and then removes what it wrote).
    async fn finish_write(&self, mut tx: sqlx::Transaction<'static, DB>, user_id: &str, stale: &[String]) -> Result<()> {
        let deleted = self.query(
            r#"SELECT "userId" FROM clerk_user_versions WHERE "userId" = $1 AND deleted = $2"#,
        )
        .bind(user_id.to_owned())
        .bind(true)
        .fetch_optional(&mut *tx)
        .await?;
        if deleted.is_some() {
            return Err(DbError::Gone(format!("user {user_id}")));
        }
        self.record_stale(&mut tx, stale).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds `stale` to the outbox, inside the caller's transaction.
    async fn record_stale(&self, conn: &mut DB::Connection, stale: &[String]) -> Result<()> {
        for key in stale {
            self.query(r#"INSERT INTO cache_outbox ("key") VALUES ($1)"#)
                .bind(key.clone())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Inserts a minimal `users` row (plan "free") unless the user exists: the Clerk webhook may
    /// not have arrived yet, and every expense has a foreign key to `users`.
    async fn ensure_user(&self, conn: &mut DB::Connection, user_id: &str, now: NaiveDateTime) -> Result<()> {
        self.query(
            r#"INSERT INTO users (id, plan, "createdAt", "updatedAt") VALUES ($1, 'free', $2, $2)
               ON CONFLICT (id) DO NOTHING"#,
        )
        .bind(user_id.to_owned())
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn patch_fixed_cost(&self, conn: &mut DB::Connection,
        user_id: &str,
        id: i32,
        patch: &FixedCostPatch,
        now: NaiveDateTime,
    ) -> Result<FixedCost> {
        self.query_as::<FixedCost>(sql!(
            FIXED_COLUMNS,
            r#"UPDATE "expenses-fixed-cost" SET
                 name = COALESCE($3, name), amount = COALESCE($4, amount),
                 category = COALESCE($5, category), rank = COALESCE($6, rank),
                 period = CASE WHEN $7 THEN $8 ELSE period END, "updatedAt" = $9
               WHERE id = $1 AND "userId" = $2 RETURNING {columns}"#
        ))
        .bind(id)
        .bind(user_id.to_owned())
        .bind(patch.name.clone())
        .bind(patch.amount)
        .bind(patch.category.clone())
        .bind(patch.rank)
        .bind(patch.period.is_some())
        .bind(patch.period.flatten().map(|p| p.as_str().to_owned()))
        .bind(now)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("fixed cost {id}")))
    }

    async fn patch_equipment(&self, conn: &mut DB::Connection,
        user_id: &str,
        id: i32,
        patch: &EquipmentPatch,
        now: NaiveDateTime,
    ) -> Result<Equipment> {
        self.query_as::<Equipment>(sql!(
            EQUIPMENT_COLUMNS,
            r#"UPDATE "equipment-expense" SET
                 name = COALESCE($3, name), amount = COALESCE($4, amount),
                 rank = COALESCE($5, rank), category = COALESCE($6, category),
                 "purchaseDate" = COALESCE($7, "purchaseDate"), usage = COALESCE($8, usage),
                 "lifeSpan" = COALESCE($9, "lifeSpan"), "updatedAt" = $10
               WHERE id = $1 AND "userId" = $2 RETURNING {columns}"#
        ))
        .bind(id)
        .bind(user_id.to_owned())
        .bind(patch.name.clone())
        .bind(patch.amount)
        .bind(patch.rank)
        .bind(patch.category.clone())
        .bind(patch.purchase_date)
        .bind(patch.usage)
        .bind(patch.life_span)
        .bind(now)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("equipment {id}")))
    }

    /// Deletes the row `id` of `table` in `tx` if it belongs to the user; `NotFound` names `entity`.
    async fn delete_owned(&self, mut tx: Transaction<'static, DB>, table: &str, entity: &str, user_id: &str, id: i32, stale: &[String]) -> Result<()> {
        let sql = format!(r#"DELETE FROM "{table}" WHERE id = $1 AND "userId" = $2 RETURNING id"#);
        let deleted = self.query(&sql)
            .bind(id)
            .bind(user_id.to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        deleted.ok_or_else(|| DbError::NotFound(format!("{entity} {id}")))?;
        self.finish_write(tx, user_id, stale).await
    }

    /// The API's default billable row, unless the user has one (then `None`).
    async fn insert_billable_defaults(&self, conn: &mut DB::Connection,
        user_id: &str,
        now: NaiveDateTime,
    ) -> Result<Option<BillableCost>> {
        Ok(self.query_as::<BillableCost>(sql!(
            BILLABLE_COLUMNS,
            r#"INSERT INTO "expenses-billabe-cost" ("userId", "workDays", "hoursPerDay", "holidaysDays", "vacationsDays", "sickLeaveDays", "monthlySalary", taxes, fees, margin, "billableHours", "createdAt", "updatedAt")
               VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, 0, $7, $8, $8)
               ON CONFLICT ("userId") DO NOTHING RETURNING {columns}"#
        ))
        .bind(user_id.to_owned())
        .bind(BillableDefaults::WORK_DAYS)
        .bind(BillableDefaults::HOURS_PER_DAY)
        .bind(BillableDefaults::HOLIDAYS_DAYS)
        .bind(BillableDefaults::VACATIONS_DAYS)
        .bind(BillableDefaults::SICK_LEAVE_DAYS)
        .bind(BillableDefaults::billable_hours())
        .bind(now)
        .fetch_optional(conn)
        .await?)
    }

    async fn select_user(&self, conn: &mut DB::Connection, user_id: &str) -> Result<Option<User>> {
        Ok(self.query_as::<User>(sql!(
            USER_COLUMNS,
            "SELECT {columns} FROM users WHERE id = $1"
        ))
        .bind(user_id.to_owned())
        .fetch_optional(conn)
        .await?)
    }

    /// Records the Svix message; `false` when it was recorded before.
    async fn record_message(&self, conn: &mut DB::Connection, event: &UserEvent, now: NaiveDateTime) -> Result<bool> {
        let recorded = self.query(
            r#"INSERT INTO clerk_webhook_events ("svixId", "eventType", "userId", "receivedAt")
               VALUES ($1, $2, $3, $4) ON CONFLICT ("svixId") DO NOTHING RETURNING "svixId""#,
        )
        .bind(event.svix_id.clone())
        .bind(event.change.event_type().to_owned())
        .bind(event.user_id.clone())
        .bind(now)
        .fetch_optional(conn)
        .await?;
        Ok(recorded.is_some())
    }

    /// Moves the user's version to this event's time; `false` when a newer event was applied.
    async fn advance_version(&self, conn: &mut DB::Connection, event: &UserEvent) -> Result<bool> {
        let advanced = self.query(
            r#"INSERT INTO clerk_user_versions ("userId", "lastEventAt", deleted) VALUES ($1, $2, $3)
               ON CONFLICT ("userId") DO UPDATE
                 SET "lastEventAt" = excluded."lastEventAt", deleted = excluded.deleted
                 WHERE clerk_user_versions."lastEventAt" < excluded."lastEventAt"
               RETURNING "userId""#,
        )
        .bind(event.user_id.clone())
        .bind(event.at_ms)
        .bind(matches!(event.change, UserChange::Deleted))
        .fetch_optional(conn)
        .await?;
        Ok(advanced.is_some())
    }

    /// Inserts or updates the user's Clerk fields; `plan` is set only for a new row.
    async fn upsert_profile(&self, conn: &mut DB::Connection,
        user_id: &str,
        profile: &UserProfile,
        now: NaiveDateTime,
    ) -> Result<()> {
        if let Some(email) = &profile.email {
            // Clerk gives each address to one user; a stale holder here lets it go.
            self.query(r#"UPDATE users SET email = NULL, "updatedAt" = $3 WHERE email = $1 AND id <> $2"#)
                .bind(email.clone())
                .bind(user_id.to_owned())
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
        self.query(
            r#"INSERT INTO users (id, email, name, avatar, plan, "createdAt", "updatedAt")
               VALUES ($1, $2, $3, $4, 'free', $5, $5)
               ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name,
                 avatar = excluded.avatar, "updatedAt" = excluded."updatedAt""#,
        )
        .bind(user_id.to_owned())
        .bind(profile.email.clone())
        .bind(profile.name.clone())
        .bind(profile.avatar.clone())
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn select_billable(&self, conn: &mut DB::Connection, user_id: &str) -> Result<Option<BillableCost>> {
        Ok(self.query_as::<BillableCost>(sql!(
            BILLABLE_COLUMNS,
            r#"SELECT {columns} FROM "expenses-billabe-cost" WHERE "userId" = $1"#
        ))
        .bind(user_id.to_owned())
        .fetch_optional(conn)
        .await?)
    }
}
}

for_sql_drivers! {
#[async_trait]
impl<DB> [Store for SqlStore<DB>] {
    fn kind(&self) -> DbKind {
        self.kind
    }

    async fn ping(&self) -> Result<()> {
        let mut call = self.call("ping").await?;
        self.query("SELECT 1").execute(&mut *call).await?;
        call.finish().await
    }

    async fn get_user(&self, user_id: &str) -> Result<Option<User>> {
        let mut call = self.call("get_user").await?;
        let user = self.select_user(&mut call, user_id).await?;
        call.finish().await?;
        Ok(user)
    }

    async fn apply_user_event(&self, event: &UserEvent, stale: &[String]) -> Result<EventOutcome> {
        let now = now_millis();
        let user_id = event.user_id.as_str();
        let mut tx = self.begin("apply_user_event").await?;
        if !self.record_message(&mut tx, event, now).await? {
            return Ok(EventOutcome::Duplicate);
        }
        let newest = self.advance_version(&mut tx, event).await?;
        match (&event.change, newest) {
            (UserChange::Created(profile), true) => {
                self.upsert_profile(&mut tx, user_id, profile, now).await?;
                self.insert_billable_defaults(&mut tx, user_id, now).await?;
            }
            (UserChange::Updated(profile), true) => {
                self.upsert_profile(&mut tx, user_id, profile, now).await?;
            }
            (UserChange::Deleted, true) => {
                self.query("DELETE FROM users WHERE id = $1")
                    .bind(user_id.to_owned())
                    .execute(&mut *tx)
                    .await?;
            }
            // A late user.created: the newer event wrote the fields, the defaults are still due.
            (UserChange::Created(_), false) => {
                if self.select_user(&mut tx, user_id).await?.is_some() {
                    self.insert_billable_defaults(&mut tx, user_id, now).await?;
                }
            }
            (_, false) => {}
        }
        let rows = UserRows {
            user: self.select_user(&mut tx, user_id).await?,
            billable: self.select_billable(&mut tx, user_id).await?,
        };
        self.record_stale(&mut tx, stale).await?;
        tx.commit().await?;
        Ok(if newest {
            EventOutcome::Applied(rows)
        } else {
            EventOutcome::Superseded(rows)
        })
    }

    async fn prune_webhook_events(&self, before: NaiveDateTime) -> Result<usize> {
        let mut call = self.call("prune_webhook_events").await?;
        let pruned = self.query(
            r#"DELETE FROM clerk_webhook_events WHERE "receivedAt" < $1 RETURNING "svixId""#,
        )
        .bind(before)
        .fetch_all(&mut *call)
        .await?;
        call.finish().await?;
        Ok(pruned.len())
    }

    async fn list_fixed_costs(&self, user_id: &str) -> Result<Vec<FixedCost>> {
        let mut call = self.call("list_fixed_costs").await?;
        let rows = self.query_as::<FixedCost>(sql!(
            FIXED_COLUMNS,
            r#"SELECT {columns} FROM "expenses-fixed-cost" WHERE "userId" = $1 ORDER BY rank, id"#
        ))
        .bind(user_id.to_owned())
        .fetch_all(&mut *call)
        .await?;
        call.finish().await?;
        Ok(rows)
    }

    async fn create_fixed_cost(&self, user_id: &str, new: &NewFixedCost, stale: &[String]) -> Result<FixedCost> {
        let now = now_millis();
        let mut tx = self.begin("create_fixed_cost").await?;
        self.ensure_user(&mut tx, user_id, now).await?;
        let row = self.query_as::<FixedCost>(sql!(
            FIXED_COLUMNS,
            r#"INSERT INTO "expenses-fixed-cost" ("userId", rank, name, amount, period, category, "createdAt", "updatedAt")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {columns}"#
        ))
        .bind(user_id.to_owned())
        .bind(new.rank)
        .bind(new.name.clone())
        .bind(new.amount)
        .bind(new.period.map(|p| p.as_str().to_owned()))
        .bind(new.category.clone())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        self.finish_write(tx, user_id, stale).await?;
        Ok(row)
    }

    async fn update_fixed_costs(
        &self,
        user_id: &str,
        updates: &[(i32, FixedCostPatch)],
        stale: &[String],
    ) -> Result<Vec<FixedCost>> {
        let now = now_millis();
        let mut tx = self.begin("update_fixed_costs").await?;
        let mut rows = Vec::with_capacity(updates.len());
        for (id, patch) in updates {
            rows.push(self.patch_fixed_cost(&mut tx, user_id, *id, patch, now).await?);
        }
        self.finish_write(tx, user_id, stale).await?;
        Ok(rows)
    }

    async fn delete_fixed_cost(&self, user_id: &str, id: i32, stale: &[String]) -> Result<()> {
        let tx = self.begin("delete_fixed_cost").await?;
        self.delete_owned(tx, "expenses-fixed-cost", "fixed cost", user_id, id, stale).await
    }

    async fn get_billable_cost(&self, user_id: &str) -> Result<Option<BillableCost>> {
        let mut call = self.call("get_billable_cost").await?;
        let row = self.select_billable(&mut call, user_id).await?;
        call.finish().await?;
        Ok(row)
    }

    async fn create_billable_cost(&self, user_id: &str, stale: &[String]) -> Result<(BillableCost, bool)> {
        let now = now_millis();
        let mut tx = self.begin("create_billable_cost").await?;
        self.ensure_user(&mut tx, user_id, now).await?;
        let result = match self.insert_billable_defaults(&mut tx, user_id, now).await? {
            Some(row) => (row, true),
            None => {
                let existing = self.select_billable(&mut tx, user_id).await?;
                let row = existing.ok_or_else(|| {
                    DbError::NotFound(format!("billable cost of user {user_id}"))
                })?;
                (row, false)
            }
        };
        self.finish_write(tx, user_id, stale).await?;
        Ok(result)
    }

    async fn update_billable_cost(
        &self,
        user_id: &str,
        patch: &BillableCostPatch,
        stale: &[String],
    ) -> Result<BillableCost> {
        let mut tx = self.begin("update_billable_cost").await?;
        let row = self.query_as::<BillableCost>(sql!(
            BILLABLE_COLUMNS,
            r#"UPDATE "expenses-billabe-cost" SET
                 "workDays" = COALESCE($2, "workDays"), "hoursPerDay" = COALESCE($3, "hoursPerDay"),
                 "holidaysDays" = COALESCE($4, "holidaysDays"), "vacationsDays" = COALESCE($5, "vacationsDays"),
                 "sickLeaveDays" = COALESCE($6, "sickLeaveDays"), "monthlySalary" = COALESCE($7, "monthlySalary"),
                 taxes = COALESCE($8, taxes), fees = COALESCE($9, fees), margin = COALESCE($10, margin),
                 "billableHours" = CASE WHEN $11 THEN $12 ELSE "billableHours" END, "updatedAt" = $13
               WHERE "userId" = $1 RETURNING {columns}"#
        ))
        .bind(user_id.to_owned())
        .bind(patch.work_days)
        .bind(patch.hours_per_day)
        .bind(patch.holidays_days)
        .bind(patch.vacations_days)
        .bind(patch.sick_leave_days)
        .bind(patch.monthly_salary)
        .bind(patch.taxes)
        .bind(patch.fees)
        .bind(patch.margin)
        .bind(patch.billable_hours.is_some())
        .bind(patch.billable_hours.flatten())
        .bind(now_millis())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("billable cost of user {user_id}")))?;
        self.finish_write(tx, user_id, stale).await?;
        Ok(row)
    }

    async fn list_equipment(&self, user_id: &str) -> Result<Vec<Equipment>> {
        let mut call = self.call("list_equipment").await?;
        let rows = self.query_as::<Equipment>(sql!(
            EQUIPMENT_COLUMNS,
            r#"SELECT {columns} FROM "equipment-expense" WHERE "userId" = $1 ORDER BY rank, id"#
        ))
        .bind(user_id.to_owned())
        .fetch_all(&mut *call)
        .await?;
        call.finish().await?;
        Ok(rows)
    }

    async fn create_equipment(&self, user_id: &str, new: &NewEquipment, stale: &[String]) -> Result<Equipment> {
        let now = now_millis();
        let mut tx = self.begin("create_equipment").await?;
        self.ensure_user(&mut tx, user_id, now).await?;
        let row = self.query_as::<Equipment>(sql!(
            EQUIPMENT_COLUMNS,
            r#"INSERT INTO "equipment-expense" ("userId", name, amount, rank, category, "purchaseDate", usage, "lifeSpan", "createdAt", "updatedAt")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {columns}"#
        ))
        .bind(user_id.to_owned())
        .bind(new.name.clone())
        .bind(new.amount)
        .bind(new.rank)
        .bind(new.category.clone())
        .bind(new.purchase_date)
        .bind(new.usage)
        .bind(new.life_span)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        self.finish_write(tx, user_id, stale).await?;
        Ok(row)
    }

    async fn update_equipment(
        &self,
        user_id: &str,
        updates: &[(i32, EquipmentPatch)],
        stale: &[String],
    ) -> Result<Vec<Equipment>> {
        let now = now_millis();
        let mut tx = self.begin("update_equipment").await?;
        let mut rows = Vec::with_capacity(updates.len());
        for (id, patch) in updates {
            rows.push(self.patch_equipment(&mut tx, user_id, *id, patch, now).await?);
        }
        self.finish_write(tx, user_id, stale).await?;
        Ok(rows)
    }

    async fn delete_equipment(&self, user_id: &str, id: i32, stale: &[String]) -> Result<()> {
        let tx = self.begin("delete_equipment").await?;
        self.delete_owned(tx, "equipment-expense", "equipment", user_id, id, stale).await
    }

    async fn outbox_batch(&self, limit: i64) -> Result<Vec<(i64, String)>> {
        let mut call = self.uncounted_call().await?;
        let batch = self.query_as::<(i64, String)>(
            r#"SELECT id, "key" FROM cache_outbox ORDER BY id LIMIT $1"#,
        )
        .bind(limit)
        .fetch_all(&mut *call)
        .await?;
        call.finish().await?;
        Ok(batch)
    }

    async fn outbox_delete(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!("DELETE FROM cache_outbox WHERE id IN ({})", placeholders.join(", "));
        let mut query = self.query(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        let mut call = self.uncounted_call().await?;
        query.execute(&mut *call).await?;
        call.finish().await
    }
}
}
