//! Job events to open pages: one Durable Object per organization holds its members' WebSockets
//! (hibernatable: the object may be evicted while sockets stay open) and broadcasts each
//! generation update to them.

use worker::*;

use crate::auth::acting;
use crate::bind;
use crate::http::{header, ApiError, ApiResult};

pub async fn connect(req: Request, env: &Env) -> ApiResult<Response> {
    let actor = acting(&req, env).await?;
    if !header(&req, "Upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(ApiError::new(
            426,
            "upgrade_required",
            "Open this endpoint as a WebSocket.",
        ));
    }
    let stub = env
        .durable_object(bind::EVENTS)?
        .id_from_name(&actor.org)?
        .get_stub()?;
    Ok(stub.fetch_with_request(req).await?)
}

/// Pushes a generation update to the organization's open pages. Best effort: the page also
/// polls.
pub async fn publish(env: &Env, org_id: &str, generation: &serde_json::Value) {
    let body = serde_json::json!({"type": "generation", "generation": generation}).to_string();
    let res = async {
        let stub = env
            .durable_object(bind::EVENTS)?
            .id_from_name(org_id)?
            .get_stub()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        stub.fetch_with_request(Request::new_with_init("https://events/broadcast", &init)?)
            .await
    }
    .await;
    if let Err(e) = res {
        console_warn!("event publish failed: {e}");
    }
}

#[durable_object]
pub struct UserEvents {
    state: State,
}

impl DurableObject for UserEvents {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() == "/broadcast" {
            let text = req.text().await?;
            let mut sent = 0;
            for ws in self.state.get_websockets() {
                if ws.send_with_str(&text).is_ok() {
                    sent += 1;
                }
            }
            return Response::ok(format!("{sent}"));
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        if let WebSocketIncomingMessage::String(s) = message {
            if s == "ping" {
                ws.send_with_str("{\"type\":\"pong\"}")?;
            }
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _clean: bool,
    ) -> Result<()> {
        let code = if code == 1005 || code == 1006 {
            1000
        } else {
            code as u16
        };
        let _ = ws.close(Some(code), Some(reason));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: Error) -> Result<()> {
        Ok(())
    }
}
