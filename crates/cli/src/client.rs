//! The HTTP side of the client commands (`backup`, `restore`): the flags every `influx` command
//! shares, a client bound to one server and token, and InfluxDB's error bodies turned into
//! readable errors (`401 Unauthorized: read:authorizations is unauthorized`).

use anyhow::{Context as _, bail};
use clap::Args;
use reqwest::{Method, RequestBuilder, Response, StatusCode};

/// Flags shared by the commands that talk to a server, with the `influx` CLI's environment
/// variables.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// HTTP address of the server.
    #[arg(long, env = "INFLUX_HOST", default_value = "http://localhost:8086")]
    pub host: String,
    /// API token (an operator token for backup and restore). URL-safe base64, so it may begin
    /// with `-`: the next argument is always the value.
    #[arg(short = 't', long, env = "INFLUX_TOKEN", allow_hyphen_values = true)]
    pub token: Option<String>,
}

/// A client for one server with one token.
pub struct Client {
    http: reqwest::Client,
    host: String,
    token: String,
}

impl Client {
    pub fn new(args: &ServerArgs) -> anyhow::Result<Self> {
        let host = args.host.trim_end_matches('/').to_string();
        if !host.starts_with("http://") {
            bail!("--host must be an http:// URL, got {host:?}");
        }
        let Some(token) = args.token.clone().filter(|t| !t.is_empty()) else {
            bail!("a token is required: pass --token or set INFLUX_TOKEN");
        };
        let http = reqwest::Client::builder()
            .build()
            .context("building the HTTP client")?;
        Ok(Self { http, host, token })
    }

    /// Replaces the token for every later request (after a KV restore replaced the tokens).
    pub fn set_token(&mut self, token: String) {
        self.token = token;
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// A request to `path` (starting with `/`) carrying the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.host, path))
            .header("Authorization", format!("Token {}", self.token))
    }

    /// Sends a request and turns a non-2xx answer into an error carrying InfluxDB's message.
    pub async fn send(&self, req: RequestBuilder, what: &str) -> anyhow::Result<Response> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("{what}: cannot reach {}", self.host))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(ApiError::from_response(resp).await).with_context(|| what.to_string())
    }

    /// Checks that the server speaks the InfluxDB 2.1+ backup API, as the `influx` CLI does
    /// from the `version` of `/health`.
    pub async fn check_version(&self) -> anyhow::Result<String> {
        #[derive(serde::Deserialize)]
        struct Health {
            #[serde(default)]
            version: String,
        }
        let resp = self
            .http
            .get(format!("{}/health", self.host))
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.host))?;
        let health: Health = resp.json().await.context("reading /health")?;
        let digits: Vec<u64> = health
            .version
            .trim_start_matches('v')
            .split(['.', '-', '+'])
            .take(3)
            .map_while(|p| p.parse().ok())
            .collect();
        match digits.as_slice() {
            [major, ..] if *major < 2 => bail!("server version {} is not 2.x", health.version),
            [2, 0, ..] => bail!(
                "server version {} uses InfluxDB 2.0's backup API, which is not supported",
                health.version
            ),
            _ => Ok(health.version),
        }
    }
}

/// An error answer of the server: its status and InfluxDB's `{code, message}` body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Option<String>,
    pub message: String,
}

impl ApiError {
    async fn from_response(resp: Response) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            code: Option<String>,
            message: Option<String>,
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<Body>(&text) {
            Ok(b) => Self {
                status,
                code: b.code,
                message: b.message.unwrap_or_default(),
            },
            Err(_) => Self {
                status,
                code: None,
                message: text.trim().to_string(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

/// True if `err` is the server's 404 with code `not found` (as the `influx` CLI tests it).
pub fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ApiError>().is_some_and(|e| {
        e.status == StatusCode::NOT_FOUND && e.code.as_deref().is_none_or(|c| c == "not found")
    })
}
