//! Notification pages: the admin settings page (URL, signing secret and its
//! rotation, a test send, the delivery log with filters) and re-sending a
//! delivery, from the log or from a link's detail page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use chrono_tz::Tz;
use serde::Deserialize;

use super::forms::{self, display_time};
use super::settings::TABS;
use super::{see_other, set_flash, Chrome, Flash, Form, SignedIn};
use crate::notifications::{
    self, Attempt, DeliveryStatus, Event, EventCursor, EventQuery, NotifyError,
};
use crate::startup::AppState;
use crate::web::PageError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/notifications", web::get().to(settings_page))
        .route("/settings/notifications", web::post().to(save_url))
        .route(
            "/settings/notifications/rotate-secret",
            web::post().to(rotate_secret),
        )
        .route("/settings/notifications/test", web::post().to(send_test))
        .route(
            "/settings/notifications/{event}/resend",
            web::post().to(resend_from_log),
        )
        .route(
            "/links/{id}/notifications/{event}/resend",
            web::post().to(resend_from_link),
        );
}

fn html(status: StatusCode, page: impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(PageError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn notify_error(e: NotifyError) -> PageError {
    match e {
        NotifyError::NotFound => PageError::NotFound,
        other => PageError::internal(other),
    }
}

/// One attempt as the pages show it.
pub struct AttemptRow {
    pub at: String,
    pub url: String,
    pub outcome: String,
    pub ok: bool,
    pub duration: String,
}

impl AttemptRow {
    fn new(a: &Attempt, tz: Tz) -> AttemptRow {
        AttemptRow {
            at: a
                .at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            url: a.url.clone().unwrap_or_default(),
            outcome: match (a.status_code, &a.error) {
                (Some(code), _) => format!("HTTP {code}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            },
            ok: a.succeeded(),
            duration: format!("{} ms", a.duration_ms),
        }
    }
}

/// One event as the pages show it.
pub struct EventRow {
    pub id: String,
    pub link_id: String,
    pub link_href: String,
    pub link_status: String,
    pub delivery: &'static str,
    pub created: String,
    /// When the next attempt is due, while pending.
    pub next: Option<String>,
    pub attempts: Vec<AttemptRow>,
    /// The last attempt's outcome, for the log.
    pub last: String,
    pub resendable: bool,
}

impl EventRow {
    pub fn new(e: &Event, tz: Tz) -> EventRow {
        let attempts: Vec<AttemptRow> = e.attempts.iter().map(|a| AttemptRow::new(a, tz)).collect();
        EventRow {
            id: e.id.clone(),
            link_href: format!("/links/{}", urlencode(&e.link_id)),
            link_id: e.link_id.clone(),
            link_status: e.link_status.clone(),
            delivery: e.delivery.as_str(),
            created: display_time(e.created_at, tz),
            next: e
                .next_attempt_at
                .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()),
            last: attempts
                .last()
                .map(|a| a.outcome.clone())
                .unwrap_or_default(),
            attempts,
            resendable: e.delivery == DeliveryStatus::Failed,
        }
    }
}

/// The delivery log's filters as typed: query parameters, so a filtered log is
/// a URL that can be shared.
#[derive(Debug, Default)]
struct LogFilters {
    status: String,
    from: String,
    to: String,
    cursor: Option<String>,
}

impl LogFilters {
    fn parse(query: &str) -> LogFilters {
        let mut f = LogFilters::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = v.trim().to_string();
            match k.as_ref() {
                "status" => f.status = v.to_lowercase(),
                "from" => f.from = v,
                "to" => f.to = v,
                "cursor" if !v.is_empty() => f.cursor = Some(v),
                _ => {}
            }
        }
        f
    }

    /// The domain query; values that do not parse are reported and left out.
    fn to_query(&self, tz: Tz, problems: &mut Vec<String>) -> EventQuery {
        let status = match self.status.as_str() {
            "" => None,
            s => {
                let parsed = DeliveryStatus::parse(s);
                if parsed.is_none() {
                    problems.push(format!("Unknown delivery status {s:?} ignored."));
                }
                parsed
            }
        };
        let mut date = |text: &str, label: &str, end: bool| {
            if text.is_empty() {
                return None;
            }
            let t = if end {
                forms::day_end(text, tz)
            } else {
                forms::day_start(text, tz)
            };
            if t.is_none() {
                problems.push(format!(
                    "{label} {text:?} is not a date (YYYY-MM-DD); ignored."
                ));
            }
            t
        };
        let since = date(&self.from, "From", false);
        let until = date(&self.to, "To", true);
        let after = self.cursor.as_deref().and_then(|c| {
            let decoded = EventCursor::decode(c);
            if decoded.is_none() {
                problems.push("That page position is not valid; showing the first page.".into());
            }
            decoded
        });
        EventQuery {
            status,
            since,
            until,
            newest_first: true,
            limit: LOG_PAGE,
            after,
        }
    }

    fn is_filtered(&self) -> bool {
        !(self.status.is_empty() && self.from.is_empty() && self.to.is_empty())
    }

    fn query_string(&self, cursor: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        if let Some(c) = cursor {
            s.append_pair("cursor", c);
        }
        s.finish()
    }
}

const LOG_PAGE: u32 = 50;

/// "after 1, 2, 4, 8 and 16 seconds" for the delays 1,2,4,8,16.
fn retry_schedule(delays: &[u64]) -> String {
    let list: Vec<String> = delays.iter().map(u64::to_string).collect();
    match list.as_slice() {
        [] => "not at all".to_string(),
        [one] => format!("once, after {one} seconds"),
        [init @ .., last] => format!("after {} and {last} seconds", init.join(", ")),
    }
}

#[derive(Template)]
#[template(path = "backoffice/settings/notifications.html")]
struct SettingsPage {
    chrome: Chrome,
    tabs: &'static [(&'static str, &'static str)],
    tab: &'static str,
    notification_uri: String,
    error: Option<String>,
    /// The configured retry delays in words.
    retry_schedule: String,
    webhook_secret: String,
    /// While the previous secret still signs: until when.
    previous_until: Option<String>,
    status_filter: String,
    from: String,
    to: String,
    filtered: bool,
    statuses: [&'static str; 3],
    problems: Vec<String>,
    log: Vec<EventRow>,
    /// The query string of the current log view, to come back to after a resend.
    back: String,
    older_url: Option<String>,
    time_zone: String,
}

async fn render_settings(
    user: &SignedIn,
    state: &AppState,
    query: &str,
    status: StatusCode,
    typed_uri: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let merchant = crate::merchants::get(&state.db, user.merchant())
        .await
        .map_err(PageError::internal)?;
    let keys = notifications::signing_keys(&state.db, user.merchant())
        .await
        .map_err(notify_error)?;
    let tz = user.user.time_zone;
    let filters = LogFilters::parse(query);
    let mut problems = Vec::new();
    let q = filters.to_query(tz, &mut problems);
    let page = notifications::list(&state.db, user.merchant(), &q)
        .await
        .map_err(notify_error)?;
    let previous_until = keys
        .previous_until(Utc::now())
        .map(|(_, until)| display_time(until, tz));
    html(
        status,
        SettingsPage {
            chrome: user.chrome("settings"),
            tabs: &TABS,
            tab: "notifications",
            notification_uri: typed_uri.or(merchant.notification_uri).unwrap_or_default(),
            error,
            retry_schedule: retry_schedule(&state.settings.notify_retry_delays),
            webhook_secret: keys.current,
            previous_until,
            filtered: filters.is_filtered(),
            statuses: DeliveryStatus::ALL.map(DeliveryStatus::as_str),
            problems,
            log: page.items.iter().map(|e| EventRow::new(e, tz)).collect(),
            back: filters.query_string(filters.cursor.as_deref()),
            older_url: page.next.map(|c| {
                format!(
                    "/settings/notifications?{}",
                    filters.query_string(Some(&c.encode()))
                )
            }),
            status_filter: filters.status,
            from: filters.from,
            to: filters.to,
            time_zone: tz.name().to_string(),
        },
    )
}

async fn settings_page(
    req: HttpRequest,
    user: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    render_settings(
        &user,
        &state,
        req.query_string(),
        StatusCode::OK,
        None,
        None,
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UrlForm {
    notification_uri: String,
}

async fn save_url(
    user: SignedIn,
    Form(form): Form<UrlForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    let typed = form.notification_uri.trim();
    // The same rule as the API: http(s), and no private address unless allowed.
    let saved = if typed.is_empty() {
        Ok(None)
    } else {
        notifications::check_url(typed, state.settings.allow_private_webhooks)
            .await
            .map(|u| Some(u.to_string()))
    };
    match saved {
        Ok(uri) => {
            state
                .db
                .set_notification_uri(user.merchant(), uri.as_deref())
                .await
                .map_err(PageError::internal)?;
            set_flash(&user.session, Flash::ok("Notification URL saved."));
            Ok(see_other("/settings/notifications"))
        }
        Err(e) => {
            render_settings(
                &user,
                &state,
                "",
                StatusCode::BAD_REQUEST,
                Some(typed.to_string()),
                Some(format!("The URL {e}.")),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct Confirm {}

async fn rotate_secret(
    user: SignedIn,
    Form(_): Form<Confirm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    notifications::rotate_secret(&state.db, user.merchant(), Utc::now())
        .await
        .map_err(notify_error)?;
    set_flash(
        &user.session,
        Flash::ok(
            "New signing secret created. For the next 24 hours every notification is signed \
             with both the new and the previous secret, so switch your receiver to the new one \
             within that time.",
        ),
    );
    Ok(see_other("/settings/notifications"))
}

async fn send_test(
    user: SignedIn,
    Form(_): Form<Confirm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    let sent = notifications::send_test(
        &state.db,
        &state.notifier,
        user.merchant(),
        &state.settings.public_url,
        Utc::now(),
    )
    .await;
    let flash = match sent {
        Ok(a) if a.succeeded() => Flash::ok(format!(
            "Test notification delivered: {} answered HTTP 200 in {} ms.",
            a.url.unwrap_or_default(),
            a.duration_ms
        )),
        Ok(a) => Flash::error(format!(
            "Test notification not delivered: {} in {} ms from {}.",
            a.summary(),
            a.duration_ms,
            a.url.unwrap_or_default()
        )),
        Err(NotifyError::NoUrl) => Flash::error("Save a notification URL first."),
        Err(e) => return Err(notify_error(e)),
    };
    set_flash(&user.session, flash);
    Ok(see_other("/settings/notifications"))
}

#[derive(Deserialize)]
struct ResendForm {
    /// The log view to return to (its query string).
    #[serde(default)]
    back: String,
}

async fn resend_from_log(
    user: SignedIn,
    event: web::Path<String>,
    Form(form): Form<ResendForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    resend(&user, &state, &event).await?;
    // Only our own query parameters go back into the location.
    let back = LogFilters::parse(&form.back).query_string(None);
    Ok(see_other(&if back.is_empty() {
        "/settings/notifications".to_string()
    } else {
        format!("/settings/notifications?{back}")
    }))
}

async fn resend_from_link(
    user: SignedIn,
    path: web::Path<(String, String)>,
    Form(_): Form<Confirm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (link, event) = path.into_inner();
    let e = state
        .db
        .event(user.merchant(), &event)
        .await
        .map_err(PageError::internal)?;
    if e.as_ref().is_none_or(|e| e.link_id != link) {
        return Err(PageError::NotFound);
    }
    resend(&user, &state, &event).await?;
    Ok(see_other(&format!(
        "/links/{}#notifications",
        urlencode(&link)
    )))
}

async fn resend(user: &SignedIn, state: &AppState, event: &str) -> Result<(), PageError> {
    let e = notifications::resend(&state.db, user.merchant(), event, Utc::now())
        .await
        .map_err(notify_error)?;
    set_flash(
        &user.session,
        Flash::ok(format!(
            "Notification {} queued again; it is sent now.",
            e.id
        )),
    );
    Ok(())
}

/// The notifications of a link, for its detail page.
pub async fn of_link(
    state: &AppState,
    user: &SignedIn,
    link_id: &str,
) -> Result<Vec<EventRow>, PageError> {
    let tz = user.user.time_zone;
    Ok(notifications::of_link(&state.db, user.merchant(), link_id)
        .await
        .map_err(notify_error)?
        .iter()
        .map(|e| EventRow::new(e, tz))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_retry_schedule_in_words() {
        use super::retry_schedule;
        assert_eq!(
            retry_schedule(&[1, 2, 4, 8, 16]),
            "after 1, 2, 4, 8 and 16 seconds"
        );
        assert_eq!(retry_schedule(&[5]), "once, after 5 seconds");
        assert_eq!(retry_schedule(&[]), "not at all");
    }
}
