//! The edge's storage, a module per table: every SQL statement on a table is in its module.
//! Routes, the queue consumer and the services call these; they import nothing but `bind`,
//! `http` (errors, clock) and `crypto`.

pub mod assistant;
pub mod gallery;
pub mod generations;
pub mod orgs;

/// Runs a write and returns how many rows it changed (0 when a condition held it back).
pub async fn changes(stmt: worker::D1PreparedStatement) -> crate::http::ApiResult<usize> {
    Ok(stmt
        .run()
        .await?
        .meta()?
        .and_then(|m| m.changes)
        .unwrap_or(0))
}
