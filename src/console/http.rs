//! The console's HTTP on `tiny_http`: a request read into what the routes need (method,
//! path, query, form, the token it carries, where it comes from), and the responses,
//! each with the headers that keep a page from being framed, leaking its URL or running
//! any script but the console's own.

use std::collections::HashMap;
use std::io::Read;

use maud::Markup;
use tiny_http::{Header, Method, Response};

/// The cookie that carries the token once a browser opened the console's link.
pub const TOKEN_COOKIE: &str = "backfill_token";
/// A form larger than this is refused rather than read.
const MAX_FORM: u64 = 64 * 1024;

/// A request as the routes see it.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    /// Every value of every field of a posted form, in order.
    pub form: Vec<(String, String)>,
    /// The token it carries: a form field, a bearer header, or the cookie.
    pub token: Option<String>,
    /// Whether a browser says it comes from another site (`Origin` not this host, or
    /// `Sec-Fetch-Site` cross-site).
    pub cross_site: bool,
}

impl Request {
    /// Reads `request`'s head and (for a POST) its form.
    pub fn read(request: &mut tiny_http::Request) -> Result<Self, String> {
        let (path, query) = match request.url().split_once('?') {
            Some((path, query)) => (path.to_string(), query.to_string()),
            None => (request.url().to_string(), String::new()),
        };
        let header = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|header| header.field.equiv(name))
                .map(|header| header.value.as_str().to_string())
        };
        let cross_site = match (header("Origin"), header("Host")) {
            (Some(origin), Some(host)) => {
                origin != format!("http://{host}") && origin != format!("https://{host}")
            }
            (Some(_), None) => true,
            _ => false,
        } || header("Sec-Fetch-Site")
            .is_some_and(|site| site != "same-origin" && site != "none");
        let cookie_token = header("Cookie").and_then(|cookies| {
            cookies.split(';').find_map(|cookie| {
                let (name, value) = cookie.trim().split_once('=')?;
                (name == TOKEN_COOKIE).then(|| value.to_string())
            })
        });
        let bearer = header("Authorization")
            .and_then(|value| value.strip_prefix("Bearer ").map(str::to_string));
        let mut form = Vec::new();
        if *request.method() == Method::Post {
            let mut body = String::new();
            request
                .as_reader()
                .take(MAX_FORM)
                .read_to_string(&mut body)
                .map_err(|_| "the form is not text".to_string())?;
            form = pairs(&body).collect();
        }
        let form_token = form
            .iter()
            .find(|(name, _)| name == "token")
            .map(|(_, value)| value.clone());
        Ok(Self {
            method: request.method().clone(),
            path,
            query: pairs(&query).collect(),
            form,
            token: form_token.or(bearer).or(cookie_token),
            cross_site,
        })
    }

    /// The first value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

fn pairs(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    url::form_urlencoded::parse(text.as_bytes()).map(|(name, value)| (name.into(), value.into()))
}

/// What a route answers.
pub enum Reply {
    Page(Markup),
    Asset(&'static str, &'static str),
    /// 303 to a path, with a cookie to set.
    Redirect(String, Option<String>),
    /// A status and one sentence saying why.
    Refused(u16, String),
}

impl Reply {
    pub fn into_response(self) -> Response<std::io::Cursor<Vec<u8>>> {
        let (status, content_type, body, extra) = match self {
            Self::Page(page) => (200, "text/html; charset=utf-8", page.into_string(), None),
            Self::Asset(content_type, body) => (200, content_type, body.to_string(), None),
            Self::Redirect(to, cookie) => (
                303,
                "text/plain; charset=utf-8",
                String::new(),
                Some((to, cookie)),
            ),
            Self::Refused(status, why) => (status, "text/plain; charset=utf-8", why, None),
        };
        let mut response = Response::from_string(body).with_status_code(status);
        let mut headers = vec![
            ("Content-Type", content_type.to_string()),
            (
                "Content-Security-Policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'".to_string(),
            ),
            ("X-Content-Type-Options", "nosniff".to_string()),
            // Not `no-referrer`: a browser then sends `Origin: null` with the console's
            // own forms. Same-origin keeps the URL from every other site.
            ("Referrer-Policy", "same-origin".to_string()),
            ("Cache-Control", "no-store".to_string()),
        ];
        if let Some((to, cookie)) = extra {
            headers.push(("Location", to));
            if let Some(token) = cookie {
                headers.push((
                    "Set-Cookie",
                    format!("{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"),
                ));
            }
        }
        for (name, value) in headers {
            if let Ok(header) = Header::from_bytes(name, value) {
                response.add_header(header);
            }
        }
        response
    }
}
