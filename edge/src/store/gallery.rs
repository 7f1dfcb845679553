//! Every query of the Gallery: the Library's pages (completed Studio results), likes, deletes,
//! and Collections. Whose Gallery a request sees is [`Scope`]: the organization it acts in,
//! shared by its members. Id lists travel as one JSON array (`json_each`), so
//! a bulk action of [`atelier_core::gallery::MAX_BULK`] ids stays within D1's 100 bound
//! parameters.

use atelier_core::gallery::{Filter, PAGE_SIZE};
use atelier_core::views::CollectionView;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::Env;

use super::generations::{Row, COLUMNS};
use crate::bind;
use crate::http::{now_ms, ApiResult};

/// Whose Gallery: an organization's results and Collections (everyone's in it). Both tables
/// are filtered by [`OWNER`] = `Scope::id` and nothing else; `payer` (the organization's owner
/// of record) and `by` (the member) are what a new row records besides.
#[derive(Debug, Clone)]
pub struct Scope {
    pub id: String,
    pub payer: String,
    pub by: String,
}

/// The `tool` (and `source`) of an imported image's row.
pub const IMPORT: &str = "import";

/// The column that says whose a generation or Collection is.
const OWNER: &str = "org_id";

/// What the Library shows (the partial indexes' condition, repeated literally so SQLite uses
/// them).
const SHOWN: &str = "source IN ('app', 'import') AND status = 'completed'";

/// The WHERE clause and its parameters for `filter` (parameter 1 is the scope).
fn condition(scope: &Scope, filter: &Filter) -> (String, Vec<JsValue>) {
    let mut sql = format!("{OWNER} = ?1 AND {SHOWN}");
    let mut args: Vec<JsValue> = vec![scope.id.as_str().into()];
    let tools = filter.tools();
    if tools.len() < atelier_core::Tool::ALL.len() || !filter.includes_imports() {
        // Tool ids come from the enum (never from the request), so they are safe to inline.
        let list = tools
            .iter()
            .map(|t| format!("'{}'", t.id()))
            .chain(filter.includes_imports().then(|| format!("'{IMPORT}'")))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(
            " AND tool IN ({})",
            if list.is_empty() { "NULL".into() } else { list }
        ));
    }
    if filter.liked {
        sql.push_str(" AND liked = 1");
    }
    if let Some(c) = &filter.collection {
        args.push(c.as_str().into());
        sql.push_str(&format!(
            " AND id IN (SELECT ci.generation_id FROM collection_items ci JOIN collections c \
             ON c.id = ci.collection_id WHERE ci.collection_id = ?{} AND c.{OWNER} = ?1)",
            args.len()
        ));
    }
    (sql, args)
}

/// One Library page (from 1), newest first, and how many entries match in all.
pub async fn page(
    env: &Env,
    scope: &Scope,
    filter: &Filter,
    page: u32,
) -> ApiResult<(Vec<Row>, u64)> {
    let db = env.d1(bind::DB)?;
    let (cond, args) = condition(scope, filter);
    let n = args.len();
    let mut page_args = args.clone();
    page_args.push((PAGE_SIZE as f64).into());
    page_args.push((((page.max(1) - 1) * PAGE_SIZE) as f64).into());
    let rows = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE {cond} ORDER BY created_at DESC LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        ))
        .bind(&page_args)?;
    let count = db
        .prepare(format!(
            "SELECT COUNT(*) AS n FROM generations WHERE {cond}"
        ))
        .bind(&args)?;
    let mut results = db.batch(vec![rows, count]).await?.into_iter();
    let rows: Vec<Row> = results
        .next()
        .map(|r| r.results())
        .transpose()?
        .unwrap_or_default();
    #[derive(Deserialize)]
    struct N {
        n: f64,
    }
    let total = results
        .next()
        .map(|r| r.results::<N>())
        .transpose()?
        .and_then(|v| v.into_iter().next())
        .map_or(0, |n| n.n as u64);
    Ok((rows, total))
}

/// Every entry matching `filter`, newest first, up to `limit` (Select All's bulk actions).
pub async fn all(env: &Env, scope: &Scope, filter: &Filter, limit: u32) -> ApiResult<Vec<Row>> {
    let (cond, mut args) = condition(scope, filter);
    args.push((limit as f64).into());
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE {cond} ORDER BY created_at DESC LIMIT ?{}",
            args.len()
        ))
        .bind(&args)?
        .all()
        .await?
        .results()?)
}

/// The entries among `ids` that are in the scope's Library (others are left out).
pub async fn entries(env: &Env, scope: &Scope, ids: &[String]) -> ApiResult<Vec<Row>> {
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE {OWNER} = ?1 AND {SHOWN} \
             AND id IN (SELECT value FROM json_each(?2)) ORDER BY created_at DESC"
        ))
        .bind(&[scope.id.as_str().into(), list.into()])?
        .all()
        .await?
        .results()?)
}

/// Sets an entry's like; false when it is not in the scope's Library.
pub async fn set_liked(env: &Env, scope: &Scope, id: &str, liked: bool) -> ApiResult<bool> {
    let r = env
        .d1(bind::DB)?
        .prepare(format!(
            "UPDATE generations SET liked = ?3 WHERE id = ?2 AND {OWNER} = ?1 AND {SHOWN}"
        ))
        .bind(&[scope.id.as_str().into(), id.into(), (liked as i32).into()])?
        .run()
        .await?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// Deletes generations (already checked to be the scope's and ended) and their Collection
/// links, in one batch: all or nothing.
pub async fn delete(env: &Env, scope: &Scope, ids: &[String]) -> ApiResult<()> {
    let db = env.d1(bind::DB)?;
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    db.batch(vec![
        db.prepare(format!(
            "DELETE FROM collection_items WHERE generation_id IN \
             (SELECT id FROM generations WHERE {OWNER} = ?1 AND id IN (SELECT value FROM json_each(?2)))"
        ))
        .bind(&[scope.id.as_str().into(), list.clone().into()])?,
        db.prepare(format!(
            "DELETE FROM generations WHERE {OWNER} = ?1 AND id IN (SELECT value FROM json_each(?2))"
        ))
        .bind(&[scope.id.as_str().into(), list.into()])?,
    ])
    .await?;
    Ok(())
}

/// The scope's generations among `ids` (any status), to check before deleting.
pub async fn owned(env: &Env, scope: &Scope, ids: &[String]) -> ApiResult<Vec<Row>> {
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE {OWNER} = ?1 AND source IN ('app', 'import') \
             AND id IN (SELECT value FROM json_each(?2))"
        ))
        .bind(&[scope.id.as_str().into(), list.into()])?
        .all()
        .await?
        .results()?)
}

#[derive(Deserialize)]
struct CollectionRow {
    id: String,
    name: String,
    created_at: f64,
    count: f64,
}

#[derive(Deserialize)]
struct CoverRow {
    collection_id: String,
    id: String,
    outputs: String,
}

/// The most Collections one Gallery holds.
pub const MAX_COLLECTIONS: u64 = 500;

/// The scope's Collections, newest first, each with its count and up to four covers.
pub async fn collections(env: &Env, scope: &Scope) -> ApiResult<Vec<CollectionView>> {
    let db = env.d1(bind::DB)?;
    let list = db
        .prepare(format!(
            "SELECT c.id, c.name, c.created_at, \
             (SELECT COUNT(*) FROM collection_items ci WHERE ci.collection_id = c.id) AS count \
             FROM collections c WHERE c.{OWNER} = ?1 ORDER BY c.created_at DESC"
        ))
        .bind(&[scope.id.as_str().into()])?;
    let covers = db
        .prepare(format!(
            "SELECT collection_id, id, outputs FROM ( \
               SELECT ci.collection_id, g.id, g.outputs, ROW_NUMBER() OVER \
                 (PARTITION BY ci.collection_id ORDER BY g.created_at DESC) AS k \
               FROM collections c JOIN collection_items ci ON ci.collection_id = c.id \
               JOIN generations g ON g.id = ci.generation_id WHERE c.{OWNER} = ?1) WHERE k <= 4"
        ))
        .bind(&[scope.id.as_str().into()])?;
    let mut r = db.batch(vec![list, covers]).await?.into_iter();
    let list: Vec<CollectionRow> = r
        .next()
        .map(|x| x.results())
        .transpose()?
        .unwrap_or_default();
    let covers: Vec<CoverRow> = r
        .next()
        .map(|x| x.results())
        .transpose()?
        .unwrap_or_default();
    Ok(list
        .into_iter()
        .map(|c| CollectionView {
            cover: covers
                .iter()
                .filter(|k| k.collection_id == c.id)
                .filter_map(|k| {
                    let outs: Vec<super::generations::StoredOutput> =
                        serde_json::from_str(&k.outputs).ok()?;
                    let o = outs.first()?;
                    Some(super::generations::preview_url(&k.id, o))
                })
                .collect(),
            id: c.id,
            name: c.name,
            count: c.count as u64,
            created_at: c.created_at,
        })
        .collect())
}

/// A Collection of the scope's: its name.
pub async fn collection(env: &Env, scope: &Scope, id: &str) -> ApiResult<Option<String>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT name FROM collections WHERE id = ?1 AND {OWNER} = ?2"
        ))
        .bind(&[id.into(), scope.id.as_str().into()])?
        .first(Some("name"))
        .await?)
}

/// How many Collections the scope has.
pub async fn collection_count(env: &Env, scope: &Scope) -> ApiResult<u64> {
    let n: Option<f64> = env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT COUNT(*) AS n FROM collections WHERE {OWNER} = ?1"
        ))
        .bind(&[scope.id.as_str().into()])?
        .first(Some("n"))
        .await?;
    Ok(n.unwrap_or(0.0) as u64)
}

pub async fn create_collection(env: &Env, scope: &Scope, id: &str, name: &str) -> ApiResult<f64> {
    let now = now_ms() as f64;
    env.d1(bind::DB)?
        .prepare(format!(
            "INSERT INTO collections (id, {OWNER}, user_id, name, created_at, updated_at) VALUES (?1, ?2, ?5, ?3, ?4, ?4)"
        ))
        .bind(&[
            id.into(),
            scope.id.as_str().into(),
            name.into(),
            now.into(),
            scope.payer.as_str().into(),
        ])?
        .run()
        .await?;
    Ok(now)
}

/// Renames a Collection; false when it is not the scope's.
pub async fn rename_collection(env: &Env, scope: &Scope, id: &str, name: &str) -> ApiResult<bool> {
    let r = env
        .d1(bind::DB)?
        .prepare(format!(
            "UPDATE collections SET name = ?3, updated_at = ?4 WHERE id = ?1 AND {OWNER} = ?2"
        ))
        .bind(&[
            id.into(),
            scope.id.as_str().into(),
            name.into(),
            (now_ms() as f64).into(),
        ])?
        .run()
        .await?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// Deletes a Collection and its links (its items stay in the Library), in one batch.
pub async fn delete_collection(env: &Env, scope: &Scope, id: &str) -> ApiResult<()> {
    let db = env.d1(bind::DB)?;
    db.batch(vec![
        db.prepare(format!(
            "DELETE FROM collection_items WHERE collection_id = \
             (SELECT id FROM collections WHERE id = ?1 AND {OWNER} = ?2)"
        ))
        .bind(&[id.into(), scope.id.as_str().into()])?,
        db.prepare(format!(
            "DELETE FROM collections WHERE id = ?1 AND {OWNER} = ?2"
        ))
        .bind(&[id.into(), scope.id.as_str().into()])?,
    ])
    .await?;
    Ok(())
}

/// Adds the scope's Library entries among `ids` to a Collection of the scope's (again is a
/// no-op); how many entries it now holds.
pub async fn add_items(env: &Env, scope: &Scope, id: &str, ids: &[String]) -> ApiResult<u64> {
    let db = env.d1(bind::DB)?;
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    db.prepare(format!(
        "INSERT OR IGNORE INTO collection_items (collection_id, generation_id, added_at) \
         SELECT c.id, g.id, ?4 FROM collections c JOIN generations g ON g.{OWNER} = c.{OWNER} \
         WHERE c.id = ?1 AND c.{OWNER} = ?2 AND g.source IN ('app', 'import') AND g.status = 'completed' \
         AND g.id IN (SELECT value FROM json_each(?3))"
    ))
    .bind(&[
        id.into(),
        scope.id.as_str().into(),
        list.into(),
        (now_ms() as f64).into(),
    ])?
    .run()
    .await?;
    let n: Option<f64> = db
        .prepare("SELECT COUNT(*) AS n FROM collection_items WHERE collection_id = ?1")
        .bind(&[id.into()])?
        .first(Some("n"))
        .await?;
    Ok(n.unwrap_or(0.0) as u64)
}

/// Takes an entry out of a Collection of the scope's.
pub async fn remove_item(env: &Env, scope: &Scope, id: &str, generation_id: &str) -> ApiResult<()> {
    env.d1(bind::DB)?
        .prepare(format!(
            "DELETE FROM collection_items WHERE collection_id = \
             (SELECT id FROM collections WHERE id = ?1 AND {OWNER} = ?2) AND generation_id = ?3"
        ))
        .bind(&[id.into(), scope.id.as_str().into(), generation_id.into()])?
        .run()
        .await?;
    Ok(())
}

/// The account id of `email`, if it exists (the seeding of a Gallery).
pub async fn user_id(env: &Env, email: &str) -> ApiResult<Option<String>> {
    Ok(env
        .d1(bind::DB)?
        .prepare("SELECT id FROM users WHERE email = ?1")
        .bind(&[email.into()])?
        .first(Some("id"))
        .await?)
}

/// Records synthetic completed Studio results in one statement: `rows` is a JSON array of
/// `{id, tool, outputs, params, at, liked}` (outputs and params as JSON values).
pub async fn insert_seeded(env: &Env, user_id: &str, rows: &str) -> ApiResult<()> {
    env.d1(bind::DB)?
        .prepare(
            "INSERT INTO generations (id, user_id, org_id, created_by, tool, inputs, params, status, \
             progress, outputs, engine, run_ms, created_at, updated_at, completed_at, source, liked) \
             SELECT json_extract(value, '$.id'), ?1, 'org_' || ?1, ?1, json_extract(value, '$.tool'), '{}', \
             json_extract(value, '$.params'), 'completed', 1, json_extract(value, '$.outputs'), \
             'seed', 0, json_extract(value, '$.at'), json_extract(value, '$.at'), \
             json_extract(value, '$.at'), 'app', json_extract(value, '$.liked') FROM json_each(?2)",
        )
        .bind(&[user_id.into(), rows.into()])?
        .run()
        .await?;
    Ok(())
}

/// Records an imported image as a Library entry (its file already stored).
pub async fn insert_import(
    env: &Env,
    scope: &Scope,
    id: &str,
    outputs: &str,
    params: &str,
) -> ApiResult<f64> {
    let now = now_ms() as f64;
    env.d1(bind::DB)?
        .prepare(format!(
            "INSERT INTO generations (id, {OWNER}, user_id, created_by, tool, inputs, params, status, \
             progress, outputs, created_at, updated_at, completed_at, source) \
             VALUES (?1, ?2, ?6, ?7, '{IMPORT}', '{{}}', ?3, 'completed', 1, ?4, ?5, ?5, ?5, '{IMPORT}')"
        ))
        .bind(&[
            id.into(),
            scope.id.as_str().into(),
            params.into(),
            outputs.into(),
            now.into(),
            scope.payer.as_str().into(),
            scope.by.as_str().into(),
        ])?
        .run()
        .await?;
    Ok(now)
}
