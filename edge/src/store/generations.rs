//! Every query on the `generations` table: Studio runs (`source = 'app'`) and API predictions
//! (`source = 'api'`). Routes and the queue consumer call these; no other module writes SQL on
//! this table. A state change is always conditional on the state it was read in, so a late or
//! replayed event cannot undo a terminal state.

use atelier_core::catalog::Resolved;
use atelier_core::job::JobStatus;
use atelier_core::pricing::Surface;
use atelier_core::views::{EntryView, ErrorView, GenerationView, OutputView};
use atelier_core::{ErrorName, Tool};
use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::bind;
use crate::http::{now_ms, ApiResult};

/// A generation row as stored in D1.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub id: String,
    pub user_id: String,
    pub tool: String,
    pub inputs: String,
    pub params: String,
    pub status: String,
    pub progress: f64,
    pub stage: Option<String>,
    pub outputs: String,
    pub error_name: Option<String>,
    pub error_message: Option<String>,
    pub engine: Option<String>,
    pub run_ms: Option<f64>,
    pub dispatch_attempts: f64,
    /// Times it was put back in the queue as lost (`jobs::recover_if_stale`).
    #[serde(default)]
    pub requeues: f64,
    pub created_at: f64,
    pub updated_at: f64,
    pub completed_at: Option<f64>,
    pub credits_quoted: f64,
    pub credits_per_output: f64,
    /// 'app' (Studio) or 'api'.
    pub source: String,
    /// core's `catalog::Resolved`, as validated when the generation was made: handed to the
    /// node as is.
    pub options: Option<String>,
    /// The organization that owns it (NULL only in rows older than migration 0014's fill);
    /// API predictions: whether outputs come back as data URIs, the webhook.
    pub org_id: Option<String>,
    pub return_base64: f64,
    pub webhook_url: Option<String>,
    /// Liked in the Gallery (0 or 1).
    pub liked: f64,
    /// A storefront widget's run: its publishable key, when its shopper data goes, and when
    /// it went (then its files are deleted; the row stays as the record of the charge).
    #[serde(default)]
    pub widget_key_id: Option<String>,
    #[serde(default)]
    pub expires_at: Option<f64>,
    #[serde(default)]
    pub purged_at: Option<f64>,
}

/// A stored output, as the node reported it (`thumb`: its Gallery thumbnail is stored too,
/// at [`thumb_key`]). The `outputs` column holds a JSON list of these.
pub type StoredOutput = atelier_core::job::OutputRef;

pub const COLUMNS: &str =
    "id, user_id, tool, inputs, params, status, progress, stage, outputs, error_name, \
    error_message, engine, run_ms, dispatch_attempts, created_at, updated_at, completed_at, \
    credits_quoted, credits_per_output, source, options, org_id, return_base64, webhook_url, liked, \
    requeues, widget_key_id, expires_at, purged_at";

/// Where a stored output's bytes are in R2, with its real extension (core's `job::output_key`).
pub fn output_key(id: &str, out: &StoredOutput) -> String {
    atelier_core::job::output_key(id, out.index, &out.content_type)
}

/// Where a stored output's thumbnail is in R2.
pub fn thumb_key(id: &str, out: &StoredOutput) -> String {
    atelier_core::job::thumb_key(id, out.index)
}

/// The URL the app reads an output from.
pub fn output_url(id: &str, out: &StoredOutput) -> String {
    format!("/api/generations/{id}/outputs/{}", out.index)
}

/// What a grid shows of an output: its thumbnail where one was made, else the file.
pub fn preview_url(id: &str, out: &StoredOutput) -> String {
    if out.thumb {
        format!("{}/thumb", output_url(id, out))
    } else {
        output_url(id, out)
    }
}

impl Row {
    /// The organization that owns it.
    pub fn org(&self) -> &str {
        self.org_id.as_deref().unwrap_or_default()
    }

    pub fn status(&self) -> JobStatus {
        JobStatus::parse(&self.status).unwrap_or(JobStatus::Failed)
    }

    /// Which balance the generation uses: App (Studio) or API.
    pub fn surface(&self) -> Surface {
        if self.source == "api" {
            Surface::Api
        } else {
            Surface::App
        }
    }

    pub fn outputs(&self) -> Vec<StoredOutput> {
        serde_json::from_str(&self.outputs).unwrap_or_default()
    }

    /// The output numbered `index`, if it was stored.
    pub fn output(&self, index: u32) -> Option<StoredOutput> {
        self.outputs().into_iter().find(|o| o.index == index)
    }

    /// Credits charged: per successful output, once completed; nothing otherwise.
    pub fn credits_used(&self) -> f64 {
        if self.status() == JobStatus::Completed {
            self.credits_per_output * self.outputs().len() as f64
        } else {
            0.0
        }
    }

    /// Its outputs as the app reads them.
    fn output_views(&self) -> Vec<OutputView> {
        self.outputs()
            .into_iter()
            .map(|o| OutputView {
                url: output_url(&self.id, &o),
                thumb_url: o.thumb.then(|| preview_url(&self.id, &o)),
                index: o.index,
                content_type: o.content_type,
                width: o.width,
                height: o.height,
                bytes: o.bytes,
            })
            .collect()
    }

    /// The R2 keys of inputs stored for this run alone (a storefront shopper's photo:
    /// `inputs.<field>_blob`), which go with it.
    pub fn input_blobs(&self) -> Vec<String> {
        serde_json::from_str::<serde_json::Map<String, Value>>(&self.inputs)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k.ends_with("_blob"))
            .filter_map(|(_, v)| v.as_str().map(str::to_string))
            .collect()
    }

    /// An imported image (not a run of a tool).
    pub fn is_import(&self) -> bool {
        self.source == "import"
    }

    /// The row as a Gallery entry (core's wire type): a Studio result or an imported image.
    pub fn entry(&self) -> EntryView {
        EntryView {
            id: self.id.clone(),
            tool: if self.is_import() {
                None
            } else {
                Tool::from_id(&self.tool)
            },
            outputs: self.output_views(),
            inputs: serde_json::from_str(&self.inputs).unwrap_or(Value::Null),
            params: serde_json::from_str(&self.params).unwrap_or(Value::Null),
            created_at: self.created_at,
            liked: self.liked != 0.0,
        }
    }

    /// The generation as the app sees it (core's wire type).
    pub fn view(&self) -> GenerationView {
        GenerationView {
            id: self.id.clone(),
            tool: Tool::from_id(&self.tool).unwrap_or(Tool::BackgroundRemove),
            status: self.status(),
            progress: self.progress,
            stage: self.stage.clone(),
            inputs: serde_json::from_str(&self.inputs).unwrap_or(Value::Null),
            params: serde_json::from_str(&self.params).unwrap_or(Value::Null),
            outputs: self.output_views(),
            error: self.error_name.as_ref().map(|n| ErrorView {
                name: n.clone(),
                message: self.error_message.clone(),
            }),
            engine: self.engine.clone(),
            run_ms: self.run_ms,
            created_at: self.created_at,
            updated_at: self.updated_at,
            completed_at: self.completed_at,
            credits_quoted: self.credits_quoted,
            credits_used: self.credits_used(),
            queue_position: None,
        }
    }

    /// [`Row::view`] as JSON (events, the Studio's answers).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.view()).unwrap_or(Value::Null)
    }
}

/// A widget run's publishable key and when its shopper data goes (ms).
#[derive(Debug, Clone, Copy)]
pub struct WidgetFields<'a> {
    pub key_id: &'a str,
    pub expires_at: f64,
}

/// The API fields of a prediction.
pub struct ApiFields<'a> {
    /// The API key, or with `widget` the publishable key (then no API key is recorded).
    pub key_id: &'a str,
    pub widget: Option<WidgetFields<'a>>,
    pub model: &'a str,
    pub return_base64: bool,
    pub webhook_url: Option<&'a str>,
}

/// A generation to record.
pub struct NewGeneration<'a> {
    pub id: &'a str,
    /// The account that pays: the organization's owner of record.
    pub user_id: &'a str,
    /// The organization that owns it.
    pub org_id: &'a str,
    /// The member who ran it (None: an API key).
    pub created_by: Option<&'a str>,
    pub tool: Tool,
    pub inputs: &'a Value,
    pub params: &'a Value,
    /// None only for a prediction that fails at once.
    pub options: Option<&'a Resolved>,
    /// `InQueue`, or `Failed` with `error` (a prediction that fails at once).
    pub status: JobStatus,
    pub error: Option<(ErrorName, &'a str)>,
    /// (credits quoted, credits per output)
    pub quote: (u32, u32),
    /// None: a Studio run.
    pub api: Option<ApiFields<'a>>,
}

fn opt<T: Into<JsValue>>(v: Option<T>) -> JsValue {
    v.map(Into::into).unwrap_or(JsValue::NULL)
}

pub async fn insert(env: &Env, g: &NewGeneration<'_>) -> ApiResult<()> {
    let now = now_ms() as f64;
    let terminal = g.status.is_terminal();
    env.d1(bind::DB)?
        .prepare(
            "INSERT INTO generations (id, user_id, tool, inputs, params, options, status, error_name, \
             error_message, created_at, updated_at, completed_at, credits_quoted, credits_per_output, \
             source, api_key_id, model_name, return_base64, webhook_url, org_id, created_by, \
             widget_key_id, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
        )
        .bind(&[
            g.id.into(),
            g.user_id.into(),
            g.tool.id().into(),
            g.inputs.to_string().into(),
            g.params.to_string().into(),
            opt(g.options.and_then(|o| serde_json::to_string(o).ok())),
            g.status.as_str().into(),
            opt(g.error.map(|(n, _)| n.as_str())),
            opt(g.error.map(|(_, m)| m)),
            now.into(),
            opt(terminal.then_some(now)),
            (g.quote.0 as f64).into(),
            (g.quote.1 as f64).into(),
            if g.api.is_some() { "api" } else { "app" }.into(),
            opt(g
                .api
                .as_ref()
                .filter(|a| a.widget.is_none())
                .map(|a| a.key_id)),
            opt(g.api.as_ref().map(|a| a.model)),
            g.api.as_ref().map_or(0, |a| a.return_base64 as i32).into(),
            opt(g.api.as_ref().and_then(|a| a.webhook_url)),
            g.org_id.into(),
            opt(g.created_by),
            opt(g.api.as_ref().and_then(|a| a.widget).map(|w| w.key_id)),
            opt(g.api.as_ref().and_then(|a| a.widget).map(|w| w.expires_at)),
        ])?
        .run()
        .await?;
    Ok(())
}

/// An operator's fixture prediction (a local instance only): a completed background-remove with
/// the given id, for the SDK tests' fixed status id.
pub async fn insert_fixture(
    env: &Env,
    id: &str,
    user_id: &str,
    org_id: &str,
    key_id: Option<String>,
) -> ApiResult<()> {
    let now = now_ms() as f64;
    env.d1(bind::DB)?
        .prepare(
            "INSERT OR IGNORE INTO generations (id, user_id, tool, inputs, params, status, progress, outputs, created_at, updated_at, completed_at, source, model_name, org_id, api_key_id) \
             VALUES (?1, ?2, 'background-remove', '{}', '{}', 'completed', 1, '[]', ?3, ?3, ?3, 'api', 'background-remove', ?4, ?5)",
        )
        .bind(&[id.into(), user_id.into(), now.into(), org_id.into(), opt(key_id)])?
        .run()
        .await?;
    Ok(())
}

pub async fn load(env: &Env, id: &str) -> ApiResult<Option<Row>> {
    Ok(load_statement(&env.d1(bind::DB)?, id)?.first(None).await?)
}

/// The statement [`load`] runs, for a batch.
pub fn load_statement(
    db: &worker::D1Database,
    id: &str,
) -> worker::Result<worker::D1PreparedStatement> {
    db.prepare(format!("SELECT {COLUMNS} FROM generations WHERE id = ?1"))
        .bind(&[id.into()])
}

/// Active generations without news since `before` (ms), oldest first: the stale-job sweep's.
pub async fn stale(env: &Env, before: f64, limit: u32) -> ApiResult<Vec<Row>> {
    let active = JobStatus::sql_list(&JobStatus::ACTIVE);
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE status IN {active} AND updated_at < ?1 \
             ORDER BY updated_at LIMIT ?2"
        ))
        .bind(&[before.into(), (limit as f64).into()])?
        .all()
        .await?
        .results()?)
}

/// Puts a lost generation back in the queue (its node died, or its queue message went with a
/// restarted edge): `in_queue`, no progress, news now, one more `requeues`. Only if it is still as `row` read it
/// (same status and `updated_at`), so of racing readers exactly one re-sends it; true for that one.
pub async fn requeue(env: &Env, row: &Row) -> ApiResult<bool> {
    let n = super::changes(
        env.d1(bind::DB)?
            .prepare(
                "UPDATE generations SET status = 'in_queue', progress = 0, stage = NULL, updated_at = ?2, \
                 requeues = requeues + 1 WHERE id = ?1 AND status = ?3 AND updated_at = ?4",
            )
            .bind(&[
                row.id.clone().into(),
                (now_ms() as f64).into(),
                row.status.clone().into(),
                row.updated_at.into(),
            ])?,
    )
    .await?;
    Ok(n == 1)
}

/// The generations among `ids` (one query; an id list travels as one JSON array).
pub async fn load_many(env: &Env, ids: &[String]) -> ApiResult<Vec<Row>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE id IN (SELECT value FROM json_each(?1))"
        ))
        .bind(&[list.into()])?
        .all()
        .await?
        .results()?)
}

/// An organization's Studio runs (everyone's), newest first, created before `before`.
pub async fn list_app(env: &Env, org_id: &str, before: f64, limit: u32) -> ApiResult<Vec<Row>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE org_id = ?1 AND source = 'app' AND created_at < ?2 \
             ORDER BY created_at DESC LIMIT ?3"
        ))
        .bind(&[org_id.into(), before.into(), (limit as f64).into()])?
        .all()
        .await?
        .results()?)
}

/// An organization's completed Studio runs (of one tool, or all, with imported images),
/// newest first.
pub async fn completed_app(
    env: &Env,
    org_id: &str,
    before: f64,
    tool: Option<Tool>,
    limit: u32,
) -> ApiResult<Vec<Row>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE org_id = ?1 AND source IN ('app', 'import') \
             AND status = 'completed' AND created_at < ?2 AND (?3 = '' OR tool = ?3) \
             ORDER BY created_at DESC LIMIT ?4"
        ))
        .bind(&[
            org_id.into(),
            before.into(),
            tool.map_or("", |t| t.id()).into(),
            (limit as f64).into(),
        ])?
        .all()
        .await?
        .results()?)
}

/// How many waiting jobs (all users) were created before `created_at`.
pub async fn waiting_before(env: &Env, created_at: f64) -> ApiResult<u64> {
    let n: f64 = env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT COUNT(*) AS n FROM generations WHERE status IN {} AND created_at < ?1",
            JobStatus::sql_list(&JobStatus::WAITING)
        ))
        .bind(&[created_at.into()])?
        .first(Some("n"))
        .await?
        .unwrap_or(0.0);
    Ok(n as u64)
}

/// An organization's API predictions in flight.
pub async fn api_in_flight(env: &Env, org_id: &str) -> ApiResult<u64> {
    let n: f64 = env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT COUNT(*) AS n FROM generations WHERE org_id = ?1 AND source = 'api' \
             AND status IN {}",
            JobStatus::sql_list(&JobStatus::ACTIVE)
        ))
        .bind(&[org_id.into()])?
        .first(Some("n"))
        .await?
        .unwrap_or(0.0);
    Ok(n as u64)
}

/// Moves a row from `from` to a terminal state without outputs (`time_out`, `canceled`,
/// `failed`); false when it had moved on meanwhile.
pub async fn end(
    env: &Env,
    id: &str,
    from: &str,
    to: JobStatus,
    error: Option<(ErrorName, &str)>,
) -> ApiResult<bool> {
    let now = now_ms() as f64;
    let res = env
        .d1(bind::DB)?
        .prepare(
            "UPDATE generations SET status = ?2, stage = NULL, error_name = COALESCE(?3, error_name), \
             error_message = COALESCE(?4, error_message), updated_at = ?5, completed_at = ?5 \
             WHERE id = ?1 AND status = ?6",
        )
        .bind(&[
            id.into(),
            to.as_str().into(),
            opt(error.map(|(n, _)| n.as_str())),
            opt(error.map(|(_, m)| m)),
            now.into(),
            from.into(),
        ])?
        .run()
        .await?;
    Ok(res.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// A running job's progress.
pub async fn progress(
    env: &Env,
    id: &str,
    from: &str,
    progress: f32,
    stage: &str,
) -> ApiResult<()> {
    env.d1(bind::DB)?
        .prepare(
            "UPDATE generations SET status = 'processing', progress = ?2, stage = ?3, updated_at = ?4 \
             WHERE id = ?1 AND status = ?5",
        )
        .bind(&[
            id.into(),
            (progress.clamp(0.0, 1.0) as f64).into(),
            stage.into(),
            (now_ms() as f64).into(),
            from.into(),
        ])?
        .run()
        .await?;
    Ok(())
}

/// A finished job: its stored outputs, engine and run time.
pub async fn complete(
    env: &Env,
    id: &str,
    from: &str,
    outputs: &[StoredOutput],
    engine: &str,
    run_ms: u64,
) -> ApiResult<()> {
    let now = now_ms() as f64;
    env.d1(bind::DB)?
        .prepare(
            "UPDATE generations SET status = 'completed', progress = 1, stage = NULL, outputs = ?2, \
             engine = ?3, run_ms = ?4, updated_at = ?5, completed_at = ?5 WHERE id = ?1 AND status = ?6",
        )
        .bind(&[
            id.into(),
            serde_json::to_string(outputs).unwrap_or_default().into(),
            engine.into(),
            (run_ms as f64).into(),
            now.into(),
            from.into(),
        ])?
        .run()
        .await?;
    Ok(())
}

/// One more delivery to a node.
pub async fn count_dispatch(env: &Env, id: &str) -> ApiResult<()> {
    env.d1(bind::DB)?
        .prepare("UPDATE generations SET dispatch_attempts = dispatch_attempts + 1 WHERE id = ?1")
        .bind(&[id.into()])?
        .run()
        .await?;
    Ok(())
}

/// Takes one of the account's simultaneous-generation slots for a Studio generation and counts
/// the dispatch, in one statement (so racing dispatches cannot exceed `limit`): true when this
/// generation already had a slot or got one; false (nothing changed but `updated_at`, so a
/// waiting run does not time out) when `limit` generations are already running.
pub async fn claim_slot(env: &Env, id: &str, user_id: &str, limit: u32) -> ApiResult<bool> {
    let db = env.d1(bind::DB)?;
    let active = JobStatus::sql_list(&JobStatus::ACTIVE);
    let changed = super::changes(
        db.prepare(format!(
            "UPDATE generations SET dispatch_attempts = dispatch_attempts + 1 WHERE id = ?1 AND \
             (dispatch_attempts > 0 OR (SELECT COUNT(*) FROM generations WHERE user_id = ?2 \
             AND source = 'app' AND status IN {active} AND dispatch_attempts > 0) < ?3)"
        ))
        .bind(&[id.into(), user_id.into(), (limit as f64).into()])?,
    )
    .await?;
    if changed == 0 {
        db.prepare("UPDATE generations SET updated_at = ?2 WHERE id = ?1")
            .bind(&[id.into(), (crate::http::now_ms() as f64).into()])?
            .run()
            .await?;
    }
    Ok(changed == 1)
}

/// Where a prediction's webhook goes, and the key that signs it.
pub async fn webhook_target(env: &Env, id: &str) -> ApiResult<Option<(String, String)>> {
    #[derive(Deserialize)]
    struct W {
        webhook_url: Option<String>,
        key_hash: Option<String>,
    }
    let w: Option<W> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT g.webhook_url AS webhook_url, k.key_hash AS key_hash FROM generations g \
             LEFT JOIN api_keys k ON k.id = g.api_key_id WHERE g.id = ?1",
        )
        .bind(&[id.into()])?
        .first(None)
        .await?;
    Ok(w.and_then(|w| Some((w.webhook_url?, w.key_hash.unwrap_or_default()))))
}

/// One prediction in an organization's request history.
#[derive(Debug, Deserialize)]
pub struct HistoryRow {
    pub id: String,
    pub model_name: Option<String>,
    pub status: String,
    pub created_at: f64,
    pub completed_at: Option<f64>,
    pub credits_per_output: f64,
    pub outputs: String,
    pub error_name: Option<String>,
    pub error_message: Option<String>,
    pub key_name: Option<String>,
    pub key_prefix: Option<String>,
}

impl HistoryRow {
    /// Credits charged: per successful output, once completed (as [`Row::credits_used`]).
    pub fn credits_used(&self) -> u64 {
        if self.status == JobStatus::Completed.as_str() {
            let n = serde_json::from_str::<Vec<StoredOutput>>(&self.outputs).map_or(0, |o| o.len());
            (self.credits_per_output * n as f64) as u64
        } else {
            0
        }
    }
}

/// Filters of the request history.
#[derive(Debug, Default)]
pub struct HistoryFilter<'a> {
    pub model: Option<&'a str>,
    /// A status, or "active" (starting, in queue, processing).
    pub status: Option<&'a str>,
    pub key_id: Option<&'a str>,
}

/// An organization's API predictions, newest first (`limit + 1` rows, to tell if more follow).
pub async fn api_history(
    env: &Env,
    org_id: &str,
    f: &HistoryFilter<'_>,
    before: f64,
    limit: u32,
) -> ApiResult<Vec<HistoryRow>> {
    let mut sql = String::from(
        "SELECT g.id, g.model_name, g.status, g.created_at, g.completed_at, g.credits_per_output, \
         g.outputs, g.error_name, g.error_message, \
         COALESCE(k.name, 'Widget: ' || w.name) AS key_name, COALESCE(k.prefix, substr(w.key, 1, 8)) AS key_prefix \
         FROM generations g LEFT JOIN api_keys k ON k.id = g.api_key_id \
         LEFT JOIN widget_keys w ON w.id = g.widget_key_id \
         WHERE g.org_id = ?1 AND g.source = 'api'",
    );
    let mut binds: Vec<JsValue> = vec![org_id.into()];
    let mut conds: Vec<(&str, JsValue)> = vec![];
    if let Some(m) = f.model {
        conds.push((" AND g.model_name = ?", m.into()));
    }
    match f.status {
        None => {}
        Some("active") => sql.push_str(&format!(
            " AND g.status IN {}",
            JobStatus::sql_list(&JobStatus::ACTIVE)
        )),
        Some(s) => conds.push((" AND g.status = ?", s.into())),
    }
    if let Some(k) = f.key_id {
        conds.push((" AND ? IN (g.api_key_id, g.widget_key_id)", k.into()));
    }
    if before < f64::MAX {
        conds.push((" AND g.created_at < ?", before.into()));
    }
    for (cond, v) in conds {
        binds.push(v);
        sql.push_str(&cond.replace('?', &format!("?{}", binds.len())));
    }
    sql.push_str(&format!(" ORDER BY g.created_at DESC LIMIT {}", limit + 1));
    Ok(env
        .d1(bind::DB)?
        .prepare(&sql)
        .bind(&binds)?
        .all()
        .await?
        .results()?)
}
