//! A minimal W3C WebDriver client for the browser tests: it starts Debian's chromedriver
//! and drives headless Chromium over the protocol's JSON-over-HTTP (no crate needed).

use std::io::{Read, Write};

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The key that submits a form.
pub const ENTER: &str = "\u{E007}";

/// A chromedriver process with one headless Chromium session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open: read the headers, then the body's length.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the headers".into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let have = raw.len() - head_end;
        let done = match length {
            Some(n) => have >= n,
            None if chunked => raw.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&raw[head_end..]).into_owned();
    let body = if chunked { dechunk(&rest) } else { rest };
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if let Some(err) = v["value"]["error"].as_str() {
        return Err(format!(
            "{err}: {}",
            v["value"]["message"].as_str().unwrap_or_default()
        ));
    }
    Ok(v["value"].clone())
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session.
    pub fn start() -> Browser {
        let port = crate::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (Debian package chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while request(port, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--window-size=1280,1000"],
            },
        }}});
        let v = request(port, "POST", "/session", Some(&caps)).expect("a Chromium session");
        let session = v["sessionId"].as_str().expect("the session id").to_string();
        Browser {
            driver,
            port,
            session,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        request(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    /// Opens `url`.
    pub fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .expect("navigate");
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call("GET", "/url", None)
            .expect("the URL")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching CSS `selector`, waiting up to 20 s for it.
    pub fn find(&self, selector: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.call(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": selector})),
            ) {
                Ok(v) => return v[ELEMENT].as_str().unwrap_or_default().to_string(),
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "no element {selector}: {e}\n{}",
                    self.source()
                ),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the page's text holds `needle`.
    pub fn wait_text(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle:?} never shown:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks element `id`.
    pub fn click(&self, id: &str) {
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})))
            .expect("click");
    }

    /// Types `text` into element `id`.
    pub fn type_in(&self, id: &str, text: &str) {
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .expect("type");
    }

    /// The visible text of element `id`.
    pub fn element_text(&self, id: &str) -> String {
        self.call("GET", &format!("/element/{id}/text"), None)
            .expect("element text")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        let body = self.find("body");
        self.element_text(&body)
    }

    /// The page's source as the browser holds it now (after the script ran).
    pub fn source(&self) -> String {
        self.call("GET", "/source", None)
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    }

    /// A PNG screenshot of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        let v = self.call("GET", "/screenshot", None).expect("screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
