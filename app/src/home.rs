//! Home (where sign-in lands) and the AI Assistant. Home has the Assistant's prompt at the top,
//! quick-access cards for the most used tools and the latest generations; `/assistant` is the
//! same conversation on its own page. A message (with images attached by upload, paste, drop
//! or From Gallery) is planned on the server (`POST /api/assistant/messages`), which runs its
//! steps as Studio generations, one after another; the chat shows each step's progress and
//! result inline with links that open the Studio on exactly those inputs and settings. A plan
//! above the confirmation amount waits for Run.

use atelier_core::assistant::Kind;
use atelier_core::{JobStatus, Tool};
use leptos::prelude::*;

use crate::api::{self, Asset, Generation, StepView, Turn, TurnStatus};
use crate::AppState;

/// The tools on Home's quick-access cards, most used first.
const QUICK: [(Tool, &str); 8] = [
    (Tool::ProductToModel, "Put a product photo on an AI model"),
    (Tool::TryOn, "Dress a model photo in a garment"),
    (Tool::ModelSwap, "Keep the outfit, change the model"),
    (Tool::Edit, "Change anything in plain words"),
    (Tool::ImageToVideo, "Turn an image into a short video"),
    (
        Tool::BackgroundRemove,
        "Cut out onto transparency or a colour",
    ),
    (Tool::Upscale, "Enlarge 2× or 4×, or enhance"),
    (Tool::Packshot, "A clean catalog product shot"),
];

/// Example prompts shown while the conversation is empty (the docs' own).
const EXAMPLES: [&str; 4] = [
    "Show this t-shirt on a male Turkish model",
    "Remove the background, then upscale it 2x",
    "Put this on a model, change the background to a cafe, and upscale the result",
    "How much does a 10 second 1080p video cost?",
];

#[component]
pub fn Home() -> impl IntoView {
    let state = expect_context::<AppState>();
    if state.history.with_untracked(|h| h.is_empty()) {
        leptos::task::spawn_local(async move {
            if let Ok(page) = api::history(None).await {
                state.history.set(page.generations);
                state.history_next.set(page.next_before);
            }
        });
    }
    let recent = move || {
        state.history.with(|h| {
            h.iter()
                .filter(|g| g.status == JobStatus::Completed && !g.outputs.is_empty())
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <main class="atl-home" data-testid="home">
            <h1>"What would you like to create?"</h1>
            <Chat home=true/>
            <section aria-labelledby="atl-quick-h">
                <h2 id="atl-quick-h">"Tools"</h2>
                <div class="atl-quick">
                    {QUICK.iter().map(|(t, blurb)| view! {
                        <a class="atl-quick-card" href=format!("/studio/{}", t.id()) data-testid=format!("quick-{}", t.id())>
                            <strong>{t.label()}</strong>
                            <span class="atl-muted">{*blurb}</span>
                        </a>
                    }).collect_view()}
                </div>
            </section>
            <section aria-labelledby="atl-recent-h">
                <h2 id="atl-recent-h">"Recent generations"</h2>
                <Show when=move || recent().is_empty()>
                    <p class="atl-muted">"Your results appear here. Ask the Assistant above, or open a tool."</p>
                </Show>
                <div class="atl-home-recents">
                    <For each=recent key=|g| g.id.clone() children=move |g: Generation| {
                        let o = &g.outputs[0];
                        view! {
                            <a class="atl-home-recent" href=format!("/studio/{}?result={}", g.tool.id(), g.id)
                                data-testid="recent-item" title=g.tool.label()>
                                <img src=o.preview_url().to_string() alt=g.tool.label() loading="lazy"/>
                            </a>
                        }
                    }/>
                </div>
            </section>
        </main>
    }
}

#[component]
pub fn AssistantPage() -> impl IntoView {
    view! {
        <main class="atl-home atl-assistant-page" data-testid="assistant-page">
            <h1>"AI Assistant"</h1>
            <Chat home=false/>
        </main>
    }
}

/// The conversation and its composer.
#[component]
fn Chat(home: bool) -> impl IntoView {
    let state = expect_context::<AppState>();
    let turns = RwSignal::new(None::<Vec<Turn>>);
    let attached = RwSignal::new(Vec::<Asset>::new());
    let uploading = RwSignal::new(0u32);
    let text = RwSignal::new(String::new());
    let sending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let input_ref = NodeRef::<leptos::html::Input>::new();

    // What the server says now: the turns, their steps' generations into the history too.
    // Async answers use `try_`: one that comes back after the page closed is dropped.
    let absorb = move |list: Vec<Turn>| {
        let Some(was_running) = turns.try_with_untracked(|t| {
            t.as_ref()
                .is_some_and(|t| t.iter().any(|x| x.status == TurnStatus::Running))
        }) else {
            return;
        };
        for g in list
            .iter()
            .flat_map(|t| t.steps.iter().filter_map(|s| s.generation.clone()))
        {
            state.upsert(g);
        }
        if was_running && !list.iter().any(|x| x.status == TurnStatus::Running) {
            state.refresh_credits();
        }
        turns.try_set(Some(list));
    };
    let reload = move || {
        leptos::task::spawn_local(async move {
            match api::assistant_turns().await {
                Ok(list) => absorb(list),
                Err(e) => {
                    error.try_set(Some(e.message));
                }
            }
        })
    };
    reload();
    // While a chain runs, its progress is read again every second.
    let poll = set_interval_with_handle(
        move || {
            let running = turns.with_untracked(|t| {
                t.as_ref()
                    .is_some_and(|t| t.iter().any(|x| x.status == TurnStatus::Running))
            });
            if running {
                reload();
            }
        },
        std::time::Duration::from_millis(1000),
    )
    .ok();

    let attach = move |files: Vec<web_sys::File>| {
        for f in files {
            if attached.with_untracked(|a| a.len()) + uploading.get_untracked() as usize >= 8 {
                error.set(Some("Attach at most 8 images to one message.".into()));
                break;
            }
            uploading.update(|n| *n += 1);
            leptos::task::spawn_local(async move {
                match api::upload(&f).await {
                    Ok(a) => {
                        attached.try_update(|v| v.push(a));
                    }
                    Err(e) => {
                        error.try_set(Some(e.message));
                    }
                }
                uploading.try_update(|n| *n -= 1);
            });
        }
    };
    let files_of = |list: Option<web_sys::FileList>| -> Vec<web_sys::File> {
        list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
            .unwrap_or_default()
    };
    let paste = window_event_listener(leptos::ev::paste, move |ev: web_sys::ClipboardEvent| {
        let files = files_of(ev.clipboard_data().and_then(|d| d.files()));
        if !files.is_empty() {
            ev.prevent_default();
            attach(files);
        }
    });
    let cleanup = send_wrapper::SendWrapper::new((paste, poll));
    on_cleanup(move || {
        let (paste, poll) = cleanup.take();
        paste.remove();
        if let Some(p) = poll {
            p.clear();
        }
    });

    let send = move || {
        let message = text.get_untracked();
        let images: Vec<String> =
            attached.with_untracked(|a| a.iter().map(|a| a.hash.clone()).collect());
        if sending.get_untracked() || uploading.get_untracked() > 0 {
            return;
        }
        if message.trim().is_empty() && images.is_empty() {
            error.set(Some(
                "Write what you would like to make, or attach an image.".into(),
            ));
            return;
        }
        sending.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::assistant_send(&message, &images).await {
                Ok(t) => {
                    text.try_set(String::new());
                    attached.try_set(vec![]);
                    for g in t.steps.iter().filter_map(|s| s.generation.clone()) {
                        state.upsert(g);
                    }
                    turns.try_update(|l| l.get_or_insert_with(Vec::new).push(t));
                    scroll_to_end();
                }
                Err(e) => {
                    error.try_set(Some(e.message));
                }
            }
            sending.try_set(false);
        });
    };
    let decide = move |id: String, run: bool| {
        leptos::task::spawn_local(async move {
            match api::assistant_decide(&id, run).await {
                Ok(t) => {
                    turns.try_update(|l| {
                        if let Some(x) = l
                            .get_or_insert_with(Vec::new)
                            .iter_mut()
                            .find(|x| x.id == t.id)
                        {
                            *x = t;
                        }
                    });
                }
                Err(e) => {
                    error.try_set(Some(e.message));
                }
            }
        });
    };

    let shown = move || {
        let list = turns.get().unwrap_or_default();
        // Home shows the latest few; the Assistant page the whole conversation.
        let skip = if home {
            list.len().saturating_sub(3)
        } else {
            0
        };
        list.into_iter().skip(skip).collect::<Vec<_>>()
    };
    let empty = move || turns.with(|t| t.as_ref().is_some_and(|t| t.is_empty()));
    let listed = move || attached.get().into_iter().enumerate().collect::<Vec<_>>();
    view! {
        <section class="atl-chat" aria-label="AI Assistant" data-testid="chat">
            <Show when=move || { home && turns.with(|t| t.as_ref().is_some_and(|t| t.len() > 3)) }>
                <a class="atl-link" href="/assistant" data-testid="to-whole-chat">"Earlier messages"</a>
            </Show>
            <ol class="atl-turns" data-testid="turns">
                <For each=shown key=|t| (t.id.clone(), t.status, step_key(t)) children=move |t: Turn| {
                    view! { <TurnItem turn=t decide=Callback::new(move |(id, run)| decide(id, run))/> }
                }/>
            </ol>
            <Show when=empty>
                <div class="atl-examples">
                    <span class="atl-muted">"Try:"</span>
                    {EXAMPLES.iter().map(|e| view! {
                        <button type="button" class="atl-chip" on:click=move |_| text.set(e.to_string())>{*e}</button>
                    }).collect_view()}
                </div>
            </Show>
            <form class="atl-composer" data-testid="composer"
                on:submit=move |ev| { ev.prevent_default(); send(); }
                on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
                on:drop=move |ev: web_sys::DragEvent| {
                    ev.prevent_default();
                    attach(files_of(ev.data_transfer().and_then(|d| d.files())));
                }>
                <Show when=move || { !attached.with(|a| a.is_empty()) || uploading.get() > 0 }>
                    <div class="atl-attached" data-testid="attached">
                        <For each=listed key=|(i, a)| (*i, a.hash.clone()) children=move |(i, a): (usize, Asset)| view! {
                            <span class="atl-attached-item">
                                <img src=format!("/api/assets/{}", a.hash) alt=format!("Image {}", i + 1)/>
                                <button type="button" class="atl-attached-x" aria-label=format!("Remove image {}", i + 1)
                                    on:click=move |_| attached.update(|v| { if i < v.len() { v.remove(i); } })>"×"</button>
                            </span>
                        }/>
                        <Show when=move || { uploading.get() > 0 }>
                            <span class="atl-muted" data-testid="attach-uploading">"Uploading…"</span>
                        </Show>
                    </div>
                </Show>
                <textarea class="atl-chat-input" data-testid="assistant-input" rows="2" maxlength="4000"
                    aria-label="Message the Assistant"
                    placeholder="Say what you want: “show this t-shirt on a male Turkish model”, “make the background white”…"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                    on:keydown=move |ev: web_sys::KeyboardEvent| {
                        if ev.key() == "Enter" && !ev.shift_key() {
                            ev.prevent_default();
                            send();
                        }
                    }></textarea>
                <div class="atl-composer-bar">
                    <button type="button" class="atl-chip" data-testid="attach"
                        on:click=move |_| { if let Some(i) = input_ref.get() { i.click(); } }>"Attach"</button>
                    <input type="file" multiple accept="image/png,image/jpeg,image/webp" class="atl-hidden"
                        node_ref=input_ref data-testid="assistant-file"
                        on:change=move |ev| {
                            let input: web_sys::HtmlInputElement = event_target(&ev);
                            attach(files_of(input.files()));
                            input.set_value("");
                        }/>
                    <crate::picker::GalleryPicker label="an image".to_string()
                        on_pick=Callback::new(move |a: Asset| attached.update(|v| v.push(a)))/>
                    <span class="atl-spacer"></span>
                    <button type="submit" class="atl-primary" data-testid="assistant-send"
                        disabled=move || { sending.get() || uploading.get() > 0 }>
                        {move || if sending.get() { "Sending…" } else { "Send" }}
                    </button>
                </div>
                <Show when=move || error.get().is_some()>
                    <p class="atl-error" role="alert" data-testid="assistant-error">{move || error.get()}</p>
                </Show>
            </form>
        </section>
    }
}

/// What changes a turn's rendering besides its status: its steps' generations.
fn step_key(t: &Turn) -> Vec<(JobStatus, u32)> {
    t.steps
        .iter()
        .map(|s| {
            s.generation
                .as_ref()
                .map_or((JobStatus::InQueue, 1000), |g| {
                    (g.status, (g.progress * 100.0) as u32)
                })
        })
        .collect()
}

fn scroll_to_end() {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(".atl-composer").ok().flatten())
    {
        el.scroll_into_view();
    }
}

#[component]
fn TurnItem(turn: Turn, decide: Callback<(String, bool)>) -> impl IntoView {
    let t = turn;
    let (id, id2) = (t.id.clone(), t.id.clone());
    let waiting = t.status == TurnStatus::Waiting;
    let credits = t.credits;
    let steps = t.steps.clone();
    view! {
        <li class="atl-turn" data-testid="turn" data-status=t.status.as_str() data-kind=format!("{:?}", t.kind).to_lowercase()>
            <div class="atl-bubble atl-bubble-user">
                {(!t.images.is_empty()).then(|| view! {
                    <div class="atl-turn-images">
                        {t.images.iter().map(|h| view! { <img src=format!("/api/assets/{h}") alt="Attached image"/> }).collect_view()}
                    </div>
                })}
                <p>{t.message.clone()}</p>
            </div>
            <div class="atl-bubble atl-bubble-bot" data-testid="reply">
                <p class="atl-reply">{t.reply.clone()}</p>
                {(t.kind == Kind::Run).then(|| view! {
                    <ol class="atl-steps">
                        {steps.into_iter().enumerate().map(|(k, s)| view! { <StepItem step=s k=k/> }).collect_view()}
                    </ol>
                })}
                {waiting.then(|| view! {
                    <div class="atl-confirm" data-testid="confirm-box">
                        <span>{format!("This plan costs {credits} credits. Run it?")}</span>
                        <button class="atl-primary" data-testid="confirm" on:click=move |_| decide.run((id.clone(), true))>
                            {format!("Run · {credits} credits")}
                        </button>
                        <button class="atl-link" data-testid="dismiss" on:click=move |_| decide.run((id2.clone(), false))>"Not now"</button>
                    </div>
                })}
                {(t.status == TurnStatus::Dismissed).then(|| view! { <p class="atl-muted">"Not run."</p> })}
                {t.error.clone().map(|e| view! { <p class="atl-error" role="alert" data-testid="turn-error">{e}</p> })}
            </div>
        </li>
    }
}

#[component]
fn StepItem(step: StepView, k: usize) -> impl IntoView {
    let g = step.generation.clone();
    let status = g.as_ref().map_or("pending", |g| g.status.as_str());
    let state_text = match &g {
        None => "Waiting".to_string(),
        Some(g) => match g.status {
            JobStatus::InQueue => "Queued".into(),
            JobStatus::Processing => format!("Running {}%", (g.progress * 100.0).round()),
            JobStatus::Completed => "Done".into(),
            JobStatus::Canceled => "Canceled".into(),
            _ => g
                .error
                .as_ref()
                .and_then(|e| e.message.clone())
                .map_or("Failed".into(), |m| format!("Failed: {m}")),
        },
    };
    // The Studio with exactly this step's inputs and settings (its generation once it exists).
    let link = match (&g, step.tool) {
        (Some(g), _) => Some(format!("/studio/{}?branch={}", g.tool.id(), g.id)),
        (None, Some(t)) => Some(settings_link(t, &step.params)),
        _ => None,
    };
    let media = g.as_ref().filter(|g| g.status == JobStatus::Completed).and_then(|g| {
        let o = g.outputs.first()?;
        let href = format!("/studio/{}?result={}", g.tool.id(), g.id);
        Some(if o.content_type.starts_with("video/") {
            view! {
                <video class="atl-step-media" data-testid="step-result" src=o.url.clone()
                    poster=o.thumb_url.clone().unwrap_or_default() controls muted playsinline preload="none"></video>
            }
            .into_any()
        } else {
            view! {
                <a href=href data-testid="step-result-link">
                    <img class="atl-step-media" data-testid="step-result" src=o.preview_url().to_string() alt=step.summary.clone()/>
                </a>
            }
            .into_any()
        })
    });
    let credits = step
        .credits
        .map(|c| format!(" · {c} credit{}", if c == 1 { "" } else { "s" }))
        .unwrap_or_default();
    view! {
        <li class="atl-step" data-testid="step" data-status=status>
            <div class="atl-step-head">
                <span><strong>{format!("{}. ", k + 1)}</strong>{step.summary.clone()}<span class="atl-muted">{credits}</span></span>
                <span class="atl-muted" data-testid="step-state">{state_text}</span>
            </div>
            {media}
            {link.map(|l| view! { <a class="atl-link" href=l data-testid="step-link">"Open in Studio"</a> })}
        </li>
    }
}

/// `/studio/<tool>?<params>`: a step that has not run yet, with its settings.
fn settings_link(tool: Tool, params: &serde_json::Map<String, serde_json::Value>) -> String {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            format!("{k}={}", String::from(js_sys::encode_uri_component(&v)))
        })
        .collect();
    if q.is_empty() {
        format!("/studio/{}", tool.id())
    } else {
        format!("/studio/{}?{}", tool.id(), q.join("&"))
    }
}
