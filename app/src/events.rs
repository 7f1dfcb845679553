//! Live job events over a WebSocket to `/api/events`, reconnecting with backoff.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WebSocket};

use crate::api::Generation;
use crate::AppState;

#[derive(serde::Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    generation: Option<Generation>,
}

/// Opens the event socket; returns a flag that stops reconnecting when set.
pub fn connect(state: AppState) -> Rc<Cell<bool>> {
    let stop = Rc::new(Cell::new(false));
    open(state, stop.clone(), 0);
    stop
}

fn open(state: AppState, stop: Rc<Cell<bool>>, attempt: u32) {
    if stop.get() {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let loc = window.location();
    let proto = if loc.protocol().ok().as_deref() == Some("https:") {
        "wss"
    } else {
        "ws"
    };
    let host = loc.host().unwrap_or_default();
    let Ok(ws) = WebSocket::new(&format!("{proto}://{host}/api/events")) else {
        return;
    };
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        if let Some(text) = e.data().as_string() {
            if let Ok(ev) = serde_json::from_str::<Event>(&text) {
                if ev.kind == "generation" {
                    if let Some(g) = ev.generation {
                        state.upsert(g);
                    }
                }
            }
        }
    });
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    let opened = Rc::new(Cell::new(false));
    let o2 = opened.clone();
    let onopen = Closure::<dyn FnMut()>::new(move || o2.set(true));
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    onopen.forget();
    let onclose = Closure::<dyn FnMut()>::new(move || {
        let next = if opened.get() { 0 } else { attempt + 1 };
        let delay = (500 * 2u32.pow(next.min(5))) as i32;
        let (s, st) = (state, stop.clone());
        let cb = Closure::once_into_js(move || open(s, st, next));
        if let Some(w) = web_sys::window() {
            let _ =
                w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), delay);
        }
    });
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    onclose.forget();
}
