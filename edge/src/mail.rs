//! E-mail over SMTP from the Worker (TCP sockets, `connect()`): invite e-mails go out only when
//! the operator configured a server. `SMTP_HOST`, `SMTP_PORT` (465: TLS from the start; any
//! other: STARTTLS when the server offers it, required unless `SMTP_TLS=off`), `SMTP_FROM`, and
//! optionally `SMTP_USER` / `SMTP_PASSWORD` (a secret) for AUTH PLAIN.

use std::future::poll_fn;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use worker::{Env, SecureTransport, Socket};

use crate::config::setting as var;

#[derive(Debug, Clone)]
pub struct Smtp {
    host: String,
    port: u16,
    from: String,
    user: Option<String>,
    password: Option<String>,
    /// Whether TLS is required (`SMTP_TLS=off` allows a plain connection, e.g. a relay on the
    /// same host).
    tls: bool,
}

impl Smtp {
    /// The configured server, or None (no e-mail is sent).
    pub fn from_env(env: &Env) -> Option<Smtp> {
        Some(Smtp {
            host: var(env, "SMTP_HOST")?,
            port: var(env, "SMTP_PORT")
                .and_then(|p| p.parse().ok())
                .unwrap_or(587),
            from: var(env, "SMTP_FROM")?,
            user: var(env, "SMTP_USER"),
            password: var(env, "SMTP_PASSWORD"),
            tls: var(env, "SMTP_TLS").as_deref() != Some("off"),
        })
    }
}

struct Conn {
    socket: Socket,
    buf: Vec<u8>,
}

impl Conn {
    async fn write(&mut self, line: &str) -> Result<(), String> {
        let mut rest = line.as_bytes();
        while !rest.is_empty() {
            let n = poll_fn(|cx| Pin::new(&mut self.socket).poll_write(cx, rest))
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the connection closed".into());
            }
            rest = &rest[n..];
        }
        poll_fn(|cx| Pin::new(&mut self.socket).poll_flush(cx))
            .await
            .map_err(|e| e.to_string())
    }

    /// One reply (all its lines): its code and text.
    async fn reply(&mut self) -> Result<(u16, String), String> {
        loop {
            // A complete reply ends with a line "NNN text" (no dash after the code).
            let text = String::from_utf8_lossy(&self.buf).to_string();
            let lines: Vec<&str> = text.split("\r\n").collect();
            if let Some(end) = lines
                .iter()
                .take(lines.len().saturating_sub(1))
                .position(|l| l.len() >= 3 && l.as_bytes().get(3) != Some(&b'-'))
            {
                let code = lines[end][..3]
                    .parse::<u16>()
                    .map_err(|_| "a garbled reply")?;
                let consumed: usize = lines[..=end].iter().map(|l| l.len() + 2).sum();
                let reply = lines[..=end].join("\n");
                self.buf.drain(..consumed.min(self.buf.len()));
                return Ok((code, reply));
            }
            let mut tmp = [0u8; 2048];
            let mut rb = ReadBuf::new(&mut tmp);
            poll_fn(|cx| Pin::new(&mut self.socket).poll_read(cx, &mut rb))
                .await
                .map_err(|e| e.to_string())?;
            if rb.filled().is_empty() {
                return Err("the server closed the connection".into());
            }
            self.buf.extend_from_slice(rb.filled());
        }
    }

    async fn expect(&mut self, line: Option<&str>, ok: &[u16]) -> Result<String, String> {
        if let Some(l) = line {
            self.write(&format!("{l}\r\n")).await?;
        }
        let (code, text) = self.reply().await?;
        if ok.contains(&code) {
            Ok(text)
        } else {
            let what = line
                .map(|l| l.split(' ').next().unwrap_or(l).to_string())
                .unwrap_or_else(|| "the greeting".into());
            Err(format!("{what} was answered {text}"))
        }
    }
}

/// Dot-stuffing and CRLF line ends for the DATA section.
fn data_section(body: &str) -> String {
    body.replace("\r\n", "\n")
        .split('\n')
        .map(|l| {
            if l.starts_with('.') {
                format!(".{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn clean_header(v: &str) -> String {
    v.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// Sends a plain-text message. Errors say which step failed (logged; the caller decides).
pub async fn send(s: &Smtp, to: &str, subject: &str, body: &str) -> Result<(), String> {
    let to = clean_header(to);
    let implicit = s.port == 465;
    let socket = Socket::builder()
        .secure_transport(if implicit {
            SecureTransport::On
        } else if s.tls {
            SecureTransport::StartTls
        } else {
            SecureTransport::Off
        })
        .connect(s.host.clone(), s.port)
        .map_err(|e| format!("cannot connect to {}:{}: {e}", s.host, s.port))?;
    let mut c = Conn {
        socket,
        buf: vec![],
    };
    c.expect(None, &[220]).await?;
    let ehlo = c.expect(Some("EHLO atelier"), &[250]).await?;
    if !implicit && s.tls {
        if !ehlo.to_ascii_uppercase().contains("STARTTLS") {
            return Err(
                "the server offers no STARTTLS (set SMTP_TLS=off only for a local relay)".into(),
            );
        }
        c.expect(Some("STARTTLS"), &[220]).await?;
        c = Conn {
            socket: c.socket.start_tls(),
            buf: vec![],
        };
        c.expect(Some("EHLO atelier"), &[250]).await?;
    }
    if let (Some(u), Some(p)) = (&s.user, &s.password) {
        use base64::Engine;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{u}\0{p}").as_bytes());
        c.expect(Some(&format!("AUTH PLAIN {token}")), &[235])
            .await?;
    }
    c.expect(
        Some(&format!("MAIL FROM:<{}>", clean_header(&s.from))),
        &[250],
    )
    .await?;
    c.expect(Some(&format!("RCPT TO:<{to}>")), &[250, 251])
        .await?;
    c.expect(Some("DATA"), &[354]).await?;
    let message = format!(
        "From: Atelier <{}>\r\nTo: <{to}>\r\nSubject: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n.\r\n",
        clean_header(&s.from),
        clean_header(subject),
        data_section(body)
    );
    c.write(&message).await?;
    c.expect(None, &[250]).await?;
    let _ = c.expect(Some("QUIT"), &[221]).await;
    let _ = c.socket.close().await;
    Ok(())
}
