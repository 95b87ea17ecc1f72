//! A signed-in backoffice user driven over HTTP: a cookie-keeping client that
//! reads the CSRF token from each page and posts forms as a browser would.

use paybylink::auth::{self, Role};
use paybylink::merchants::MerchantId;
use reqwest::header::LOCATION;

use crate::helpers::*;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Person {
    pub client: reqwest::Client,
    pub base: String,
    pub email: String,
}

/// The value of `<input type="hidden" name="csrf_token" value="…">` in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a CSRF field in the page") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// The value of an input named `name` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('"').next().unwrap().to_string())
}

impl Person {
    pub fn new(app: &TestApp, email: &str) -> Person {
        Person {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.address.clone(),
            email: email.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// GETs a page, expecting 200, and returns its HTML.
    pub async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    /// Posts `fields` with the CSRF token read from the page at `form_page`.
    pub async fn submit(
        &self,
        form_page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.page(form_page).await;
        let token = csrf_of(&html);
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(action, &all).await
    }

    pub async fn post_raw(&self, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{action}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in_with(&self, password: &str) -> reqwest::Response {
        self.submit(
            "/login",
            "/login",
            &[("email", &self.email), ("password", password)],
        )
        .await
    }

    pub async fn sign_in(&self) {
        let res = self.sign_in_with(PASSWORD).await;
        assert_eq!(res.status(), 303, "sign-in of {}", self.email);
        assert_eq!(res.headers()[LOCATION], "/links");
    }
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A user of the app's merchant (or another), signed in.
pub async fn signed_in(app: &TestApp, merchant: i64, email: &str, role: Role) -> Person {
    auth::create_user(
        &app.state.db,
        MerchantId(merchant),
        email,
        PASSWORD,
        role,
        "Europe/Madrid",
    )
    .await
    .unwrap();
    let person = Person::new(app, email);
    person.sign_in().await;
    person
}

/// Undoes askama's HTML escaping of an attribute value.
pub fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}
