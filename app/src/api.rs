//! Every network call the app makes, in one place. All go to the same origin; the session is an
//! HttpOnly cookie the browser sends by itself.

use gloo_net::http::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// When the profile picture was uploaded (None: none).
    #[serde(default)]
    pub avatar_at: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub hash: String,
    pub content_type: String,
    pub width: f64,
    pub height: f64,
    /// Picked from a starter library (a library face needs no Agency plan).
    #[serde(default)]
    pub library: bool,
}

/// core's wire types: what the edge answers is what the app reads.
pub use atelier_core::views::{GalleryItemView as GalleryItem, GenerationView as Generation};

#[derive(Debug, Clone, Deserialize)]
struct ErrorBody {
    message: String,
}

/// An error a person can read.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

type R<T> = Result<T, ApiError>;

fn net(e: gloo_net::Error) -> ApiError {
    ApiError {
        status: 0,
        message: format!("Could not reach the server: {e}"),
    }
}

async fn read<T: for<'de> Deserialize<'de>>(r: Response) -> R<T> {
    let status = r.status();
    if (200..300).contains(&status) {
        return r.json::<T>().await.map_err(net);
    }
    let message = match r.json::<ErrorBody>().await {
        Ok(b) => b.message,
        Err(_) => format!("The server answered {status}."),
    };
    Err(ApiError { status, message })
}

/// Sends `body` as JSON with `builder` (a POST or PATCH) and reads the answer.
/// A same-origin GET read as JSON.
async fn get_json<T: for<'de> Deserialize<'de>>(url: &str) -> R<T> {
    read::<T>(Request::get(url).send().await.map_err(net)?).await
}

async fn send_json<T: for<'de> Deserialize<'de>>(
    builder: gloo_net::http::RequestBuilder,
    body: &serde_json::Value,
) -> R<T> {
    read::<T>(builder.json(body).map_err(net)?.send().await.map_err(net)?).await
}

#[derive(Deserialize)]
struct UserBody {
    user: User,
}

#[derive(Deserialize)]
struct MeBody {
    credits: f64,
    #[serde(default = "free")]
    plan: atelier_core::pricing::Plan,
    org: Option<OrgNow>,
}

/// The organization the session acts in, as `/api/me` tells it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrgNow {
    pub id: String,
    pub name: String,
    pub role: atelier_core::org::Role,
    pub personal: bool,
}

fn free() -> atelier_core::pricing::Plan {
    atelier_core::pricing::Plan::Free
}

/// The current organization's available App credits, its App plan, and the organization.
pub async fn credits() -> R<(f64, atelier_core::pricing::Plan, Option<OrgNow>)> {
    get_json::<MeBody>("/api/me")
        .await
        .map(|b| (b.credits, b.plan, b.org))
}

// Teams (#16): the switcher, the Organizations page, invites.
pub use atelier_core::org::{InvitePreview, NewInvite, OrgView, OrgsView};

pub async fn orgs() -> R<OrgsView> {
    get_json("/api/orgs").await
}

pub async fn org() -> R<OrgView> {
    get_json("/api/org").await
}

pub async fn switch_org(id: &str) -> R<serde_json::Value> {
    send_json(Request::post("/api/orgs/switch"), &json!({"org_id": id})).await
}

pub async fn rename_org(name: &str) -> R<serde_json::Value> {
    send_json(Request::patch("/api/org"), &json!({"name": name})).await
}

/// An invite link; with `email`, also sent there when the server has SMTP.
pub async fn create_invite(email: &str) -> R<NewInvite> {
    let body = if email.trim().is_empty() {
        json!({})
    } else {
        json!({"email": email.trim()})
    };
    send_json(Request::post("/api/org/invites"), &body).await
}

pub async fn set_role(user_id: &str, role: &str) -> R<serde_json::Value> {
    send_json(
        Request::patch(&format!("/api/org/members/{user_id}")),
        &json!({"role": role}),
    )
    .await
}

/// A body-less call that answers 204 or JSON.
async fn send_empty(builder: gloo_net::http::RequestBuilder) -> R<()> {
    let r = builder.send().await.map_err(net)?;
    if r.ok() {
        return Ok(());
    }
    read::<serde_json::Value>(r).await.map(|_| ())
}

pub async fn revoke_invite(id: &str) -> R<()> {
    send_empty(Request::delete(&format!("/api/org/invites/{id}"))).await
}

pub async fn remove_member(user_id: &str) -> R<()> {
    send_empty(Request::delete(&format!("/api/org/members/{user_id}"))).await
}

pub async fn leave_org() -> R<()> {
    send_empty(Request::post("/api/org/leave")).await
}

pub async fn invite_preview(token: &str) -> R<InvitePreview> {
    get_json(&format!("/api/invites/{token}")).await
}

pub async fn accept_invite(token: &str) -> R<()> {
    send_empty(Request::post(&format!("/api/invites/{token}/accept"))).await
}

/// Who is signed in, with the current organization's App credits, plan and the organization
/// (`/api/me` once at start: the shell does not ask again for the credits).
pub async fn me() -> R<(User, f64, atelier_core::pricing::Plan, Option<OrgNow>)> {
    // Not `#[serde(flatten)]` over the two bodies: that cost the first load 6.7 KB (brotli).
    #[derive(Deserialize)]
    struct Both {
        user: User,
        credits: f64,
        #[serde(default = "free")]
        plan: atelier_core::pricing::Plan,
        org: Option<OrgNow>,
    }
    get_json::<Both>("/api/me")
        .await
        .map(|b| (b.user, b.credits, b.plan, b.org))
}

pub async fn sign_in(email: &str, password: &str, create: bool) -> R<User> {
    let path = if create {
        "/api/auth/signup"
    } else {
        "/api/auth/signin"
    };
    send_json::<UserBody>(
        Request::post(path),
        &json!({"email": email, "password": password}),
    )
    .await
    .map(|b| b.user)
}

pub async fn sign_out() -> R<()> {
    let r = Request::post("/api/auth/signout")
        .send()
        .await
        .map_err(net)?;
    if r.ok() || r.status() == 401 {
        Ok(())
    } else {
        Err(ApiError {
            status: r.status(),
            message: "Sign-out failed.".into(),
        })
    }
}

#[derive(Deserialize)]
struct AssetBody {
    asset: Asset,
}

/// Stores an image (a picked file, or the editor's result) as an input asset.
pub async fn upload(file: &web_sys::Blob) -> R<Asset> {
    let ct = file.type_();
    let mut b = Request::post("/api/assets");
    if !ct.is_empty() {
        b = b.header("Content-Type", &ct);
    }
    let r = b
        .body(wasm_bindgen::JsValue::from(file.clone()))
        .map_err(net)?
        .send()
        .await
        .map_err(net)?;
    read::<AssetBody>(r).await.map(|b| b.asset)
}

#[derive(Deserialize)]
struct GenBody {
    generation: Generation,
}

/// `inputs`: `{"image": hash, <reference field>: hash…}` (see `core::studio::GenerationRequest`).
pub async fn create_generation(
    tool: &str,
    inputs: serde_json::Value,
    params: serde_json::Value,
) -> R<Generation> {
    send_json::<GenBody>(
        Request::post("/api/generations"),
        &json!({"tool": tool, "inputs": inputs, "params": params}),
    )
    .await
    .map(|b| b.generation)
}

/// Cancels a queued or running generation (nothing is charged); 409 once it has finished.
pub async fn cancel_generation(id: &str) -> R<Generation> {
    send_json::<GenBody>(
        Request::post(&format!("/api/generations/{id}/cancel")),
        &json!({}),
    )
    .await
    .map(|b| b.generation)
}

/// Export for Web: the output re-encoded by the server; the file's bytes (as a Blob) and size.
pub async fn export_output(
    id: &str,
    index: u32,
    format: &str,
    quality: u8,
) -> R<(web_sys::Blob, usize)> {
    let r = Request::post(&format!("/api/generations/{id}/outputs/{index}/export"))
        .json(&json!({"format": format, "quality": quality}))
        .map_err(net)?
        .send()
        .await
        .map_err(net)?;
    let status = r.status();
    if !(200..300).contains(&status) {
        let message = match r.json::<ErrorBody>().await {
            Ok(b) => b.message,
            Err(_) => format!("The server answered {status}."),
        };
        return Err(ApiError { status, message });
    }
    let mime = r.headers().get("content-type").unwrap_or_default();
    let bytes = r.binary().await.map_err(net)?;
    let len = bytes.len();
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes.as_slice()));
    let bag = web_sys::BlobPropertyBag::new();
    bag.set_type(&mime);
    let blob =
        web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &bag).map_err(|_| {
            ApiError {
                status: 0,
                message: "The exported file could not be prepared for download.".into(),
            }
        })?;
    Ok((blob, len))
}

pub async fn generation(id: &str) -> R<Generation> {
    get_json::<GenBody>(&format!("/api/generations/{id}"))
        .await
        .map(|b| b.generation)
}

#[derive(Deserialize)]
pub struct Page {
    pub generations: Vec<Generation>,
    pub next_before: Option<f64>,
}

pub async fn history(before: Option<f64>) -> R<Page> {
    get_json::<Page>(&format!(
        "/api/generations?limit=20{}",
        before_param(before)
    ))
    .await
}

/// An API key as listed (never its value).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: f64,
    pub last_used_at: Option<f64>,
    pub revoked_at: Option<f64>,
}

#[derive(Deserialize)]
struct KeysBody {
    keys: Vec<ApiKey>,
}

/// A key just created: its value is in this answer only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewKey {
    pub id: String,
    pub name: String,
    pub key: String,
}

pub async fn keys() -> R<Vec<ApiKey>> {
    get_json::<KeysBody>("/api/keys").await.map(|b| b.keys)
}

pub async fn create_key(name: &str) -> R<NewKey> {
    send_json::<NewKey>(Request::post("/api/keys"), &json!({ "name": name })).await
}

pub async fn rename_key(id: &str, name: &str) -> R<()> {
    send_json::<serde_json::Value>(
        Request::patch(&format!("/api/keys/{id}")),
        &json!({ "name": name }),
    )
    .await
    .map(|_| ())
}

pub async fn revoke_key(id: &str) -> R<()> {
    let r = Request::delete(&format!("/api/keys/{id}"))
        .send()
        .await
        .map_err(net)?;
    read::<serde_json::Value>(r).await.map(|_| ())
}

// The storefront widget's publishable keys (#20), core's wire type.
pub use atelier_core::views::WidgetKeyView;

#[derive(Deserialize)]
struct WidgetKeysBody {
    keys: Vec<WidgetKeyView>,
}

#[derive(Deserialize)]
struct WidgetKeyBody {
    key: WidgetKeyView,
}

pub async fn widget_keys() -> R<Vec<WidgetKeyView>> {
    get_json::<WidgetKeysBody>("/api/widget-keys")
        .await
        .map(|b| b.keys)
}

pub async fn create_widget_key(
    name: &str,
    origins: &[String],
    retention_hours: f64,
) -> R<WidgetKeyView> {
    send_json::<WidgetKeyBody>(
        Request::post("/api/widget-keys"),
        &json!({"name": name, "origins": origins, "retention_hours": retention_hours}),
    )
    .await
    .map(|b| b.key)
}

pub async fn update_widget_key(
    id: &str,
    name: &str,
    origins: &[String],
    retention_hours: f64,
) -> R<WidgetKeyView> {
    send_json::<WidgetKeyBody>(
        Request::patch(&format!("/api/widget-keys/{id}")),
        &json!({"name": name, "origins": origins, "retention_hours": retention_hours}),
    )
    .await
    .map(|b| b.key)
}

pub async fn revoke_widget_key(id: &str) -> R<()> {
    send_empty(Request::delete(&format!("/api/widget-keys/{id}"))).await
}

/// One API prediction in the request history (core's wire type).
pub use atelier_core::views::RequestView as ApiRequest;

#[derive(Deserialize)]
pub struct RequestPage {
    pub requests: Vec<ApiRequest>,
    pub next_before: Option<f64>,
}

/// The organization's request history; `model` and `status` filter when not empty.
pub async fn requests(model: &str, status: &str, before: Option<f64>) -> R<RequestPage> {
    get_json::<RequestPage>(&format!(
        "/api/requests?limit=25&model={}&status={}{}",
        js_sys::encode_uri_component(model),
        js_sys::encode_uri_component(status),
        before_param(before)
    ))
    .await
}

/// Whether the inference service runs a tool now, and why not (core's wire type).
pub use atelier_core::job::ToolCapability as ToolCap;

pub async fn capabilities() -> R<Vec<ToolCap>> {
    get_json::<atelier_core::job::Capabilities>("/api/capabilities")
        .await
        .map(|b| b.tools)
}

/// A completed result of the user's becomes an input asset (the suggestion bar).
pub async fn asset_from_output(generation_id: &str, index: u32) -> R<Asset> {
    send_json::<AssetBody>(
        Request::post("/api/assets/from-output"),
        &json!({"generation_id": generation_id, "index": index}),
    )
    .await
    .map(|b| b.asset)
}

#[derive(Deserialize)]
pub struct AssetPage {
    pub assets: Vec<Asset>,
    pub next_before: Option<f64>,
}

fn before_param(before: Option<f64>) -> String {
    before.map_or(String::new(), |b| format!("&before={b}"))
}

/// Your uploads (and carried-over results), newest first, a page at a time.
pub async fn uploads(before: Option<f64>) -> R<AssetPage> {
    get_json::<AssetPage>(&format!("/api/assets?limit=24{}", before_param(before))).await
}

#[derive(Deserialize)]
pub struct GalleryPage {
    pub items: Vec<GalleryItem>,
    pub next_before: Option<f64>,
}

/// Your completed image results, newest first; `tool` keeps one tool's (e.g. `create-face`).
pub async fn gallery(tool: Option<&str>, before: Option<f64>) -> R<GalleryPage> {
    let t = tool.map_or(String::new(), |t| format!("&tool={t}"));
    get_json::<GalleryPage>(&format!(
        "/api/gallery?limit=24&media=image{t}{}",
        before_param(before)
    ))
    .await
}

/// One image of a starter library.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LibraryItem {
    pub kind: String,
    pub hash: String,
    pub name: String,
    pub url: String,
}

#[derive(Deserialize)]
struct LibraryPage {
    items: Vec<LibraryItem>,
}

/// The items of the `kind` starter library (`face`, `background`, `packshot-reference`, `model`).
pub async fn library(kind: &str) -> R<Vec<LibraryItem>> {
    get_json::<LibraryPage>(&format!("/api/library?kind={kind}"))
        .await
        .map(|p| p.items)
}

/// A starter-library image becomes one of your assets, to use as an input.
pub async fn use_library(kind: &str, hash: &str) -> R<Asset> {
    send_json::<AssetBody>(
        Request::post(&format!("/api/library/{kind}/{hash}/use")),
        &json!({}),
    )
    .await
    .map(|b| b.asset)
}

pub use atelier_core::gallery::Filter as GalleryFilter;
pub use atelier_core::views::{
    CollectionView as Collection, EntryView as Entry, LibraryPage as EntriesPage,
};

/// A filter's query string (`tool=…&liked=1`), without a leading `?`.
pub fn filter_query(f: &GalleryFilter) -> String {
    f.query()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", String::from(js_sys::encode_uri_component(&v))))
        .collect::<Vec<_>>()
        .join("&")
}

/// The URL of one Library page for the filters.
pub fn library_url(filter: &GalleryFilter, page: u32) -> String {
    format!("/api/gallery/entries?page={page}&{}", filter_query(filter))
}

/// One Library page (whole generations, newest first) for the filters: the one [`fetch_early`]
/// started for the same URL, if any, else asked now.
pub async fn library_page(filter: &GalleryFilter, page: u32) -> R<EntriesPage> {
    let url = library_url(filter, page);
    match take_early(&url) {
        Some(p) => match wasm_bindgen_futures::JsFuture::from(p).await {
            Ok(r) => {
                use wasm_bindgen::JsCast;
                read::<EntriesPage>(Response::from(r.unchecked_into::<web_sys::Response>())).await
            }
            Err(_) => get_json::<EntriesPage>(&url).await,
        },
        None => get_json::<EntriesPage>(&url).await,
    }
}

thread_local! {
    /// A GET started ahead of its page: (URL, when, the `fetch` promise).
    static EARLY: std::cell::RefCell<Option<(String, f64, js_sys::Promise)>> =
        const { std::cell::RefCell::new(None) };
}

/// Starts a same-origin GET of `url` now, for the page's first request of the same URL (within
/// 10 s) to pick up: a lazy page's `data()` asks for its data while the page's own wasm module is
/// still loading, instead of after (#17: the Gallery's first page).
pub fn fetch_early(url: String) {
    if let Some(w) = web_sys::window() {
        let p = w.fetch_with_str(&url);
        EARLY.with(|e| *e.borrow_mut() = Some((url, js_sys::Date::now(), p)));
    }
}

/// The promise [`fetch_early`] started for `url`, once; None when there is none, or it is older
/// than 10 s (its answer could be stale), or it was for another URL.
fn take_early(url: &str) -> Option<js_sys::Promise> {
    EARLY.with(|e| {
        let mut e = e.borrow_mut();
        match e.take() {
            Some((u, at, p)) if u == url && js_sys::Date::now() - at < 10_000.0 => Some(p),
            Some((u, at, p)) if u != url => {
                *e = Some((u, at, p));
                None
            }
            _ => None,
        }
    })
}

/// Which entries a bulk action takes: some by id, or every entry the filters show.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    Ids(Vec<String>),
    All(GalleryFilter),
}

impl Selection {
    pub fn body(&self) -> serde_json::Value {
        match self {
            Selection::Ids(ids) => json!({ "ids": ids }),
            Selection::All(f) => {
                let mut m = serde_json::Map::new();
                m.insert("all".into(), json!(true));
                for (k, v) in f.query() {
                    m.insert(k.into(), json!(v));
                }
                serde_json::Value::Object(m)
            }
        }
    }

    /// The same as form fields (the ZIP download is a form POST, so the browser streams it
    /// straight to disk).
    pub fn fields(&self) -> Vec<(String, String)> {
        match self {
            Selection::Ids(ids) => vec![("ids".into(), ids.join(","))],
            Selection::All(f) => std::iter::once(("all".to_string(), "1".to_string()))
                .chain(f.query().into_iter().map(|(k, v)| (k.to_string(), v)))
                .collect(),
        }
    }
}

/// A same-origin PATCH with a JSON body; Ok when it succeeded.
async fn patch(url: &str, body: serde_json::Value) -> R<()> {
    send_json::<serde_json::Value>(Request::patch(url), &body)
        .await
        .map(|_| ())
}

pub async fn set_liked(id: &str, liked: bool) -> R<()> {
    patch(&format!("/api/generations/{id}"), json!({ "liked": liked })).await
}

/// A same-origin DELETE; Ok when it succeeded.
async fn delete(url: &str) -> R<()> {
    read::<serde_json::Value>(Request::delete(url).send().await.map_err(net)?)
        .await
        .map(|_| ())
}

pub async fn delete_generation(id: &str) -> R<()> {
    delete(&format!("/api/generations/{id}")).await
}

#[derive(Deserialize)]
struct Deleted {
    deleted: Vec<String>,
}

/// Deletes a selection for good; the ids deleted.
pub async fn delete_selection(sel: &Selection) -> R<Vec<String>> {
    send_json::<Deleted>(Request::post("/api/gallery/delete"), &sel.body())
        .await
        .map(|d| d.deleted)
}

#[derive(Deserialize)]
struct CollectionsBody {
    collections: Vec<Collection>,
}

#[derive(Deserialize)]
struct CollectionBody {
    collection: Collection,
}

pub async fn collections() -> R<Vec<Collection>> {
    get_json::<CollectionsBody>("/api/collections")
        .await
        .map(|b| b.collections)
}

pub async fn create_collection(name: &str) -> R<Collection> {
    send_json::<CollectionBody>(Request::post("/api/collections"), &json!({ "name": name }))
        .await
        .map(|b| b.collection)
}

pub async fn rename_collection(id: &str, name: &str) -> R<()> {
    patch(&format!("/api/collections/{id}"), json!({ "name": name })).await
}

pub async fn delete_collection(id: &str) -> R<()> {
    delete(&format!("/api/collections/{id}")).await
}

#[derive(Deserialize)]
struct Count {
    count: u64,
}

/// Adds a selection to a Collection; how many entries it now holds.
pub async fn add_to_collection(id: &str, sel: &Selection) -> R<u64> {
    send_json::<Count>(
        Request::post(&format!("/api/collections/{id}/items")),
        &sel.body(),
    )
    .await
    .map(|c| c.count)
}

pub async fn remove_from_collection(id: &str, generation_id: &str) -> R<()> {
    delete(&format!("/api/collections/{id}/items/{generation_id}")).await
}

#[derive(Deserialize)]
struct EntryBody {
    entry: Entry,
}

/// One Gallery entry (a result or an imported image).
pub async fn entry(id: &str) -> R<Entry> {
    get_json::<EntryBody>(&format!("/api/gallery/entries/{id}"))
        .await
        .map(|b| b.entry)
}

/// Imports an image of your own into the Gallery's Library.
pub async fn import(file: &web_sys::File) -> R<Entry> {
    let name = String::from(js_sys::encode_uri_component(&file.name()));
    let mut b = Request::post("/api/gallery/import").header("X-File-Name", &name);
    let ct = file.type_();
    if !ct.is_empty() {
        b = b.header("Content-Type", &ct);
    }
    let r = b
        .body(wasm_bindgen::JsValue::from(file.clone()))
        .map_err(net)?
        .send()
        .await
        .map_err(net)?;
    read::<EntryBody>(r).await.map(|b| b.entry)
}

/// A turn of the Assistant's conversation (core's wire type).
pub use atelier_core::assistant::{StepView, TurnStatus, TurnView as Turn};

#[derive(Deserialize)]
struct TurnsBody {
    messages: Vec<Turn>,
}

#[derive(Deserialize)]
struct TurnBody {
    message: Turn,
}

/// The Assistant's conversation, oldest first.
pub async fn assistant_turns() -> R<Vec<Turn>> {
    get_json::<TurnsBody>("/api/assistant/messages")
        .await
        .map(|b| b.messages)
}

/// Sends a message with its attached images (asset hashes): the planned (and started) turn.
pub async fn assistant_send(message: &str, images: &[String]) -> R<Turn> {
    send_json::<TurnBody>(
        Request::post("/api/assistant/messages"),
        &json!({"message": message, "images": images}),
    )
    .await
    .map(|b| b.message)
}

/// Runs (`confirm`) or sets aside (`dismiss`) a plan that waits for its confirmation.
pub async fn assistant_decide(id: &str, confirm: bool) -> R<Turn> {
    let what = if confirm { "confirm" } else { "dismiss" };
    send_json::<TurnBody>(
        Request::post(&format!("/api/assistant/messages/{id}/{what}")),
        &json!({}),
    )
    .await
    .map(|b| b.message)
}

/// What a billing change answers: what happened, what was charged, both surfaces after it.
#[derive(Debug, Clone, Deserialize)]
pub struct BillingDone {
    pub result: String,
    pub charged_cents: Option<u64>,
    /// With Stripe: where the user finishes (Checkout, the Billing Portal).
    #[serde(default)]
    pub url: Option<String>,
    pub billing: atelier_core::billing::BillingView,
}

/// One payment (purchase, renewal, automatic top-up).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Payment {
    pub id: String,
    pub description: String,
    pub cents: f64,
    pub credits: f64,
    pub status: String,
    pub provider: String,
    pub created_at: f64,
}

#[derive(Deserialize)]
struct PaymentsBody {
    payments: Vec<Payment>,
}

/// Both surfaces' plans and credit buckets.
pub async fn billing() -> R<atelier_core::billing::BillingView> {
    get_json("/api/billing").await
}

/// A billing change: `plan`, `tier`, `keep`, `topup`, `auto-topup` or `payment-method`.
pub async fn billing_change(what: &str, body: serde_json::Value) -> R<BillingDone> {
    send_json::<BillingDone>(Request::post(&format!("/api/billing/{what}")), &body).await
}

/// The latest payments of a surface (`app` or `api`).
pub async fn payments(surface: &str) -> R<Vec<Payment>> {
    get_json::<PaymentsBody>(&format!("/api/billing/payments?surface={surface}"))
        .await
        .map(|b| b.payments)
}

// The Account page (#16).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OwnedOrg {
    pub id: String,
    pub name: String,
    pub members: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Account {
    pub email: String,
    pub name: Option<String>,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub owned_organizations: Vec<OwnedOrg>,
}

pub async fn account() -> R<Account> {
    get_json("/api/account").await
}

pub async fn set_display_name(name: &str) -> R<serde_json::Value> {
    send_json(Request::patch("/api/account"), &json!({"name": name})).await
}

/// Uploads `bytes` (a PNG) as the profile picture.
pub async fn put_avatar(bytes: Vec<u8>) -> R<serde_json::Value> {
    let arr = js_sys::Uint8Array::from(bytes.as_slice());
    let r = Request::put("/api/account/avatar")
        .header("Content-Type", "image/png")
        .body(wasm_bindgen::JsValue::from(arr))
        .map_err(net)?
        .send()
        .await
        .map_err(net)?;
    read(r).await
}

pub async fn delete_account(email: &str) -> R<()> {
    let r = Request::post("/api/account/delete")
        .json(&json!({"email": email}))
        .map_err(net)?
        .send()
        .await
        .map_err(net)?;
    if r.ok() {
        return Ok(());
    }
    read::<serde_json::Value>(r).await.map(|_| ())
}

pub async fn sign_out_everywhere() -> R<()> {
    send_empty(Request::post("/api/auth/signout-all")).await
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Help {
    pub chat_url: String,
    pub community_url: String,
    pub support_email: String,
    pub billing_email: String,
    pub legal_email: String,
    pub privacy_url: String,
    pub terms_url: String,
}

pub async fn help() -> R<Help> {
    get_json("/api/help").await
}

/// A sign-in provider (OpenID Connect) the operator configured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuthProvider {
    pub id: String,
    pub name: String,
    pub url: String,
}

#[derive(Deserialize)]
struct ProvidersBody {
    providers: Vec<AuthProvider>,
}

pub async fn auth_providers() -> R<Vec<AuthProvider>> {
    get_json::<ProvidersBody>("/api/auth/providers")
        .await
        .map(|b| b.providers)
}
