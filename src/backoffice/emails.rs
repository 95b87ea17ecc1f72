//! A link's emails in the backoffice: "Send by email" on its detail page,
//! sending one email again, and the rows the detail page lists.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use chrono_tz::Tz;

use super::forms::display_time;
use super::{see_other, set_flash, Flash, Form, NoFields, SignedIn};
use crate::email::{self, Attempt, DeliveryStatus, Email, EmailError, Kind, Outcome};
use crate::startup::AppState;
use crate::web::PageError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/links/{id}/email", web::post().to(send_link))
        .route("/links/{id}/emails/{email}/resend", web::post().to(resend));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn back_to(link: &str) -> HttpResponse {
    see_other(&format!("/links/{}#emails", urlencode(link)))
}

/// "Send by email": queues the link email to the link's addresses; staff and
/// admins alike.
async fn send_link(
    user: SignedIn,
    id: web::Path<String>,
    Form(_): Form<NoFields>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let flash = match email::send_link(&state.db, state.outbox(), user.merchant(), &id, Utc::now())
        .await
    {
        Ok(queued) => {
            let to: Vec<&str> = queued.iter().map(|e| e.recipient.as_str()).collect();
            Flash::ok(format!(
                "The link is being sent by email to {}.",
                to.join(", ")
            ))
        }
        Err(EmailError::NotConfigured) => Flash::error(
            "Email is not configured on this server: set PAYBYLINK_SMTP_URL and \
             PAYBYLINK_MAIL_FROM to send links by email.",
        ),
        Err(EmailError::NoAddress) => Flash::error(
            "This link has no email address: edit it to add a customer email or receiver emails.",
        ),
        Err(EmailError::NotSendable(s)) => Flash::error(format!(
            "The link is {} and can no longer be paid, so it is not sent.",
            s.as_str()
        )),
        Err(EmailError::LinkNotFound | EmailError::NotFound) => return Err(PageError::NotFound),
        Err(e) => return Err(PageError::internal(e)),
    };
    set_flash(&user.session, flash);
    Ok(back_to(&id))
}

/// Sends one sent or failed email of a link again.
async fn resend(
    user: SignedIn,
    path: web::Path<(String, String)>,
    Form(_): Form<NoFields>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (link, id) = path.into_inner();
    let flash = match email::resend(
        &state.db,
        state.outbox(),
        user.merchant(),
        &link,
        &id,
        Utc::now(),
    )
    .await
    {
        Ok(e) => Flash::ok(format!("The email to {} is being sent again.", e.recipient)),
        Err(EmailError::NotConfigured) => {
            Flash::error("Email is not configured on this server: nothing can be sent.")
        }
        Err(EmailError::NotFound) => return Err(PageError::NotFound),
        Err(e) => return Err(PageError::internal(e)),
    };
    set_flash(&user.session, flash);
    Ok(back_to(&link))
}

/// One attempt as the detail page shows it.
pub struct AttemptRow {
    pub at: String,
    pub ok: bool,
    pub outcome: &'static str,
    /// The server's answer or the error.
    pub detail: String,
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
            ok: a.outcome == Outcome::Sent,
            outcome: match a.outcome {
                Outcome::Sent => "Sent",
                Outcome::Temporary => "Failed, will retry",
                Outcome::Permanent => "Refused",
            },
            detail: a
                .error
                .clone()
                .or_else(|| a.reply.clone())
                .unwrap_or_default(),
            duration: format!("{} ms", a.duration_ms),
        }
    }
}

/// One email as the detail page shows it.
pub struct EmailRow {
    pub id: String,
    pub kind: &'static str,
    pub what: String,
    pub recipient: String,
    pub subject: String,
    pub delivery: &'static str,
    pub created: String,
    /// When the next attempt is due, while pending.
    pub next: Option<String>,
    pub attempts: Vec<AttemptRow>,
    pub resendable: bool,
}

impl EmailRow {
    fn new(e: &Email, tz: Tz) -> EmailRow {
        EmailRow {
            id: e.id.clone(),
            kind: e.kind.as_str(),
            what: match (e.kind, &e.payment_id) {
                (Kind::Link, _) => "Payment link".to_string(),
                (Kind::Receipt, Some(t)) => format!("Receipt of {t}"),
                (Kind::Receipt, None) => "Receipt".to_string(),
            },
            recipient: e.recipient.clone(),
            subject: e.subject.clone(),
            delivery: e.delivery.as_str(),
            created: display_time(e.created_at, tz),
            next: e
                .next_attempt_at
                .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()),
            attempts: e.attempts.iter().map(|a| AttemptRow::new(a, tz)).collect(),
            resendable: e.delivery != DeliveryStatus::Pending,
        }
    }
}

/// The emails of a link, for its detail page.
pub async fn of_link(
    state: &AppState,
    user: &SignedIn,
    link_id: &str,
) -> Result<Vec<EmailRow>, PageError> {
    let tz = user.user.time_zone;
    Ok(email::of_link(&state.db, user.merchant(), link_id)
        .await
        .map_err(PageError::internal)?
        .iter()
        .map(|e| EmailRow::new(e, tz))
        .collect())
}
