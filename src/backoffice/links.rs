//! The links pages: overview, detail, create, edit, cancel (one and several),
//! and the CSV export of the overview's filter.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use chrono_tz::Tz;
use serde::Deserialize;

use super::forms::{self, csv_field, display_time, FieldErrors};
use super::link_form::{self, LinkForm, OptionsView};
use super::{see_other, set_flash, Chrome, Flash, Form, NoFields, SignedIn};
use crate::links::{
    self, Created, Cursor, Idempotency, Link, LinkError, LinkInput, ListQuery, SortKey, Status,
    WithPayments,
};
use crate::money::{self, Currency};
use crate::startup::AppState;
use crate::web::PageError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/links", web::get().to(overview))
        .route("/links/export.csv", web::get().to(export))
        .route("/links/view", web::post().to(view_selected))
        .route("/links/cancel", web::post().to(cancel_selected))
        .route("/links/new", web::get().to(new_form))
        .route("/links/new", web::post().to(create))
        .route("/links/{id}", web::get().to(detail))
        .route("/links/{id}/qr.svg", web::get().to(qr))
        .route("/links/{id}/edit", web::get().to(edit_form))
        .route("/links/{id}/edit", web::post().to(update))
        .route("/links/{id}/cancel", web::get().to(cancel_confirm))
        .route("/links/{id}/cancel", web::post().to(cancel_one));
}

fn html(status: StatusCode, page: impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(PageError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

fn link_error(e: LinkError) -> PageError {
    match e {
        LinkError::NotFound => PageError::NotFound,
        other => PageError::internal(other),
    }
}

pub(super) fn amount_text(minor: i64, currency: Currency) -> String {
    format!(
        "{} {}",
        money::format_decimal(minor, currency),
        currency.code()
    )
}

// ---------------------------------------------------------------- overview

/// The overview's filters as typed, kept for re-display and for building URLs.
#[derive(Debug, Default, Clone)]
struct Filters {
    statuses: Vec<Status>,
    q: String,
    created_from: String,
    created_to: String,
    due_from: String,
    due_to: String,
    amount_min: String,
    amount_max: String,
    currency: String,
    sort: SortKey,
    ascending: bool,
}

impl Filters {
    fn parse(query: &str) -> (Filters, Option<String>, Vec<String>) {
        let mut f = Filters::default();
        let mut cursor = None;
        let mut problems = Vec::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = v.trim().to_string();
            match k.as_ref() {
                "status" => {
                    for s in v.split(',').filter(|s| !s.is_empty()) {
                        match Status::parse(s) {
                            Some(st) if !f.statuses.contains(&st) => f.statuses.push(st),
                            Some(_) => {}
                            None => problems.push(format!("Unknown status {s:?} ignored.")),
                        }
                    }
                }
                "q" => f.q = v,
                "createdFrom" => f.created_from = v,
                "createdTo" => f.created_to = v,
                "dueFrom" => f.due_from = v,
                "dueTo" => f.due_to = v,
                "amountMin" => f.amount_min = v,
                "amountMax" => f.amount_max = v,
                "currency" => f.currency = v.to_uppercase(),
                "sort" if !v.is_empty() => match SortKey::parse(&v) {
                    Some(s) => f.sort = s,
                    None => problems.push(format!("Unknown sort {v:?} ignored.")),
                },
                "order" => f.ascending = v == "asc",
                "cursor" if !v.is_empty() => cursor = Some(v),
                _ => {}
            }
        }
        (f, cursor, problems)
    }

    /// The domain query; values that do not parse are reported and left out.
    fn to_query(
        &self,
        tz: Tz,
        cursor: Option<&str>,
        limit: u32,
        problems: &mut Vec<String>,
    ) -> ListQuery {
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
        let created_from = date(&self.created_from, "Created from", false);
        let created_to = date(&self.created_to, "Created to", true);
        let due_from = date(&self.due_from, "Due from", false);
        let due_to = date(&self.due_to, "Due to", true);
        let mut amount = |text: &str, label: &str| {
            if text.is_empty() {
                return None;
            }
            match money::parse_amount(text, money::SCALE_DIGITS) {
                Ok(v) => Some(v),
                Err(money::AmountError::NotPositive)
                    if text.trim_start_matches(['0', '.']).is_empty() =>
                {
                    Some(0)
                }
                Err(_) => {
                    problems.push(format!("{label} {text:?} is not an amount; ignored."));
                    None
                }
            }
        };
        let amount_min_scaled = amount(&self.amount_min, "Minimum amount");
        let amount_max_scaled = amount(&self.amount_max, "Maximum amount");
        let currency = match self.currency.as_str() {
            "" => None,
            code => {
                let c = Currency::parse(code);
                if c.is_none() {
                    problems.push(format!("Unknown currency {code:?} ignored."));
                }
                c
            }
        };
        let after = cursor.and_then(|c| {
            let decoded = Cursor::decode(c);
            if decoded.is_none() {
                problems.push("That page position is not valid; showing the first page.".into());
            }
            decoded
        });
        ListQuery {
            statuses: self.statuses.clone(),
            q: Some(self.q.clone()).filter(|q| !q.is_empty()),
            created_from,
            created_to,
            due_from,
            due_to,
            amount_min_scaled,
            amount_max_scaled,
            currency,
            sort: self.sort,
            ascending: self.ascending,
            limit,
            after,
        }
    }

    fn is_filtered(&self) -> bool {
        !(self.statuses.is_empty()
            && self.q.is_empty()
            && self.created_from.is_empty()
            && self.created_to.is_empty()
            && self.due_from.is_empty()
            && self.due_to.is_empty()
            && self.amount_min.is_empty()
            && self.amount_max.is_empty()
            && self.currency.is_empty())
    }

    /// The query string of these filters with the given order (and cursor).
    fn query_string(&self, sort: SortKey, ascending: bool, cursor: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for st in &self.statuses {
            s.append_pair("status", st.as_str());
        }
        for (k, v) in [
            ("q", &self.q),
            ("createdFrom", &self.created_from),
            ("createdTo", &self.created_to),
            ("dueFrom", &self.due_from),
            ("dueTo", &self.due_to),
            ("amountMin", &self.amount_min),
            ("amountMax", &self.amount_max),
            ("currency", &self.currency),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        if sort != SortKey::Created || ascending {
            s.append_pair("sort", sort.as_str());
            s.append_pair("order", if ascending { "asc" } else { "desc" });
        }
        if let Some(c) = cursor {
            s.append_pair("cursor", c);
        }
        s.finish()
    }
}

/// One column header that sorts.
struct SortHeader {
    url: String,
    /// `aria-sort` value.
    aria: &'static str,
    arrow: &'static str,
}

struct Row {
    id: String,
    status: &'static str,
    merchant_transaction_id: String,
    description: String,
    amount: String,
    customer_id: String,
    created: String,
    due: String,
    url: String,
}

fn row(link: &Link, public_url: &str, tz: Tz, now: chrono::DateTime<Utc>) -> Row {
    Row {
        id: link.id.clone(),
        status: link.status_at(now).as_str(),
        merchant_transaction_id: link.merchant_transaction_id.clone(),
        description: link.description.clone().unwrap_or_default(),
        amount: amount_text(link.amount_minor, link.currency),
        customer_id: link.customer_id.clone(),
        created: display_time(link.created_at, tz),
        due: display_time(link.due_date, tz),
        url: link.url(public_url),
    }
}

struct StatusOption {
    value: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "backoffice/links/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    rows: Vec<Row>,
    filters: Filters,
    status_options: Vec<StatusOption>,
    currencies: Vec<&'static str>,
    sort_created: SortHeader,
    sort_due: SortHeader,
    sort_amount: SortHeader,
    sort_status: SortHeader,
    sort_value: &'static str,
    order_value: &'static str,
    next_url: Option<String>,
    first_url: Option<String>,
    export_url: String,
    problems: Vec<String>,
    empty_merchant: bool,
    time_zone: String,
}

const OVERVIEW_PAGE: u32 = 50;

async fn overview(
    req: HttpRequest,
    user: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let tz = user.user.time_zone;
    let (filters, cursor, mut problems) = Filters::parse(req.query_string());
    let query = filters.to_query(tz, cursor.as_deref(), OVERVIEW_PAGE, &mut problems);
    let now = Utc::now();
    let page = links::list(&state.db, user.merchant(), &query, WithPayments::No, now)
        .await
        .map_err(link_error)?;
    let empty_merchant = page.items.is_empty()
        && !filters.is_filtered()
        && !links::has_any(&state.db, user.merchant())
            .await
            .map_err(link_error)?;
    let header = |key: SortKey| {
        let current = filters.sort == key;
        // A click on the current column flips its order; on another, starts descending.
        let ascending = current && !filters.ascending;
        SortHeader {
            url: format!("/links?{}", filters.query_string(key, ascending, None)),
            aria: match (current, filters.ascending) {
                (false, _) => "none",
                (true, true) => "ascending",
                (true, false) => "descending",
            },
            arrow: match (current, filters.ascending) {
                (false, _) => "",
                (true, true) => "▲",
                (true, false) => "▼",
            },
        }
    };
    let page_html = OverviewPage {
        chrome: user.chrome("links"),
        rows: page
            .items
            .iter()
            .map(|l| row(l, &state.settings.public_url, tz, now))
            .collect(),
        status_options: Status::ALL
            .iter()
            .map(|s| StatusOption {
                value: s.as_str(),
                checked: filters.statuses.contains(s),
            })
            .collect(),
        currencies: Currency::all().into_iter().map(Currency::code).collect(),
        sort_created: header(SortKey::Created),
        sort_due: header(SortKey::Due),
        sort_amount: header(SortKey::Amount),
        sort_status: header(SortKey::Status),
        sort_value: filters.sort.as_str(),
        order_value: if filters.ascending { "asc" } else { "desc" },
        next_url: page.next.map(|c| {
            format!(
                "/links?{}",
                filters.query_string(filters.sort, filters.ascending, Some(&c.encode()))
            )
        }),
        first_url: cursor.as_ref().map(|_| {
            format!(
                "/links?{}",
                filters.query_string(filters.sort, filters.ascending, None)
            )
        }),
        export_url: format!(
            "/links/export.csv?{}",
            filters.query_string(filters.sort, filters.ascending, None)
        ),
        problems,
        empty_merchant,
        time_zone: tz.name().to_string(),
        filters,
    };
    html(StatusCode::OK, page_html)
}

/// The current filter as CSV, streamed a page at a time so that a large export
/// never sits in memory whole.
async fn export(
    req: HttpRequest,
    user: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let tz = user.user.time_zone;
    let (filters, _, mut problems) = Filters::parse(req.query_string());
    let query = filters.to_query(tz, None, links::MAX_PAGE, &mut problems);
    let merchant = user.merchant();
    let header = "id,status,merchantTransactionId,description,amount,currency,customerId,referenceId,createdAt,dueDate,url\r\n";
    struct Cursor {
        query: ListQuery,
        done: bool,
    }
    let stream = futures_util::stream::unfold(
        (Cursor { query, done: false }, Some(header.to_string())),
        move |(mut at, first)| {
            let state = state.clone();
            async move {
                if let Some(h) = first {
                    return Some((Ok::<_, actix_web::Error>(web::Bytes::from(h)), (at, None)));
                }
                if at.done {
                    return None;
                }
                let now = Utc::now();
                let page = match links::list(&state.db, merchant, &at.query, WithPayments::No, now)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(error = %e, "CSV export failed");
                        return Some((
                            Err(actix_web::error::ErrorInternalServerError("export failed")),
                            (Cursor { done: true, ..at }, None),
                        ));
                    }
                };
                let mut chunk = String::new();
                for l in &page.items {
                    let fields = [
                        l.id.clone(),
                        l.status_at(now).as_str().to_string(),
                        l.merchant_transaction_id.clone(),
                        l.description.clone().unwrap_or_default(),
                        money::format_decimal(l.amount_minor, l.currency),
                        l.currency.code().to_string(),
                        l.customer_id.clone(),
                        l.reference_id.clone().unwrap_or_default(),
                        links::format_time(l.created_at),
                        links::format_time(l.due_date),
                        l.url(&state.settings.public_url),
                    ];
                    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                    chunk.push_str(&line.join(","));
                    chunk.push_str("\r\n");
                }
                match page.next {
                    Some(c) => at.query.after = Some(c),
                    None => at.done = true,
                }
                Some((Ok(web::Bytes::from(chunk)), (at, None)))
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"payment-links.csv\"",
        ))
        .streaming(stream))
}

#[derive(Deserialize)]
struct Selection {
    #[serde(default)]
    ids: Vec<String>,
}

/// "View" in the overview: exactly one selected link opens its page.
async fn view_selected(user: SignedIn, Form(selection): Form<Selection>) -> HttpResponse {
    match selection.ids.as_slice() {
        [id] => see_other(&format!("/links/{}", urlencode(id))),
        _ => {
            set_flash(
                &user.session,
                Flash::error("Select exactly one link to view it."),
            );
            see_other("/links")
        }
    }
}

pub(super) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// "Cancel selected": each link is cancelled on its own terms and the outcome
/// reported per link; the page's own check that all were CREATED is only a hint.
async fn cancel_selected(
    user: SignedIn,
    Form(selection): Form<Selection>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if selection.ids.is_empty() {
        set_flash(
            &user.session,
            Flash::error("Select the links to cancel first."),
        );
        return Ok(see_other("/links"));
    }
    let now = Utc::now();
    let mut items = Vec::new();
    let (mut cancelled, mut refused) = (0, 0);
    for id in selection.ids.iter().take(links::MAX_PAGE as usize) {
        match links::cancel(
            &state.db,
            user.merchant(),
            id,
            &state.settings.public_url,
            now,
        )
        .await
        {
            Ok(_) => {
                cancelled += 1;
                items.push(format!("{id}: cancelled"));
            }
            Err(LinkError::NotCancellable(status)) => {
                refused += 1;
                items.push(format!("{id}: not cancelled, it is {}", status.as_str()));
            }
            Err(LinkError::NotFound) => {
                refused += 1;
                items.push(format!("{id}: not cancelled, no such link"));
            }
            Err(e) => return Err(PageError::internal(e)),
        }
    }
    let text = match (cancelled, refused) {
        (c, 0) => format!("{c} link(s) cancelled."),
        (0, r) => format!("No link cancelled; {r} refused."),
        (c, r) => format!("{c} link(s) cancelled, {r} refused."),
    };
    set_flash(
        &user.session,
        Flash {
            ok: refused == 0,
            text,
            items,
        },
    );
    Ok(see_other("/links"))
}

// ------------------------------------------------------------------ detail

struct PaymentRow {
    transaction_id: String,
    status: String,
    amount: String,
    /// What has been refunded, when anything has.
    refunded: Option<String>,
    card: String,
    created: String,
    refunds: Vec<RefundRow>,
    /// The refund page, for an admin while something is left to refund.
    refund_url: Option<String>,
}

struct RefundRow {
    id: String,
    amount: String,
    reason: String,
    status: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "backoffice/links/detail.html")]
struct DetailPage {
    chrome: Chrome,
    id: String,
    status: &'static str,
    amount: String,
    country: String,
    merchant_id: i64,
    product_id: i64,
    merchant_transaction_id: String,
    description: Option<String>,
    customer_id: String,
    reference_id: Option<String>,
    merchant_params: Option<String>,
    code: Option<String>,
    language: &'static str,
    due: String,
    created: String,
    updated: String,
    paid: Option<String>,
    payments: Vec<PaymentRow>,
    notifications: Vec<super::notifications::EventRow>,
    emails: Vec<super::emails::EmailRow>,
    /// Where "Send by email" sends the link.
    email_to: Vec<String>,
    url: String,
    qr_url: String,
    editable: bool,
    time_zone: String,
    /// The section-11 options that are set, as (label, value).
    options: Vec<(&'static str, String)>,
    /// (kind, amount, base)
    taxes: Vec<(String, String, String)>,
    /// (keyword, value, where shown)
    additional: Vec<(String, String, &'static str)>,
}

/// The options of a link that differ from the defaults, for the detail page.
fn option_rows(link: &Link) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    match link.payments_allowed {
        Some(1) => {}
        Some(n) => rows.push((
            "Payments allowed",
            format!(
                "{n} ({} made, {} left)",
                link.payments_approved,
                link.available_payments().unwrap_or_default()
            ),
        )),
        None => rows.push((
            "Payments allowed",
            format!("Unlimited ({} made)", link.payments_approved),
        )),
    }
    if let Some(url) = &link.notification_url {
        rows.push(("Notification URL", url.clone()));
    }
    if let Some(email) = &link.customer_email {
        rows.push(("Customer email", email.clone()));
    }
    if !link.receiver_emails.is_empty() {
        rows.push(("Also sent to", link.receiver_emails.join(", ")));
    }
    if link.send_by_email {
        rows.push(("Sent by email", "When created".into()));
    }
    if !link.allowed_payment_methods.is_empty() {
        let names: Vec<&str> = link
            .allowed_payment_methods
            .iter()
            .map(|b| b.display_name())
            .collect();
        rows.push(("Accepted cards", names.join(", ")));
    }
    rows
}

fn where_shown(d: links::DisplayOn) -> &'static str {
    match d {
        links::DisplayOn::None => "Not shown",
        links::DisplayOn::Payment => "Payment page",
        links::DisplayOn::Receipt => "Receipt",
        links::DisplayOn::Both => "Payment page and receipt",
    }
}

/// The QR code of a link's URL, as an image of its own rather than inline in the
/// detail page: choosing its mask took a fifth of the page's time, and a link's
/// URL never changes, so the browser keeps the image instead of asking again.
async fn qr(
    user: SignedIn,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let link = links::get(&state.db, user.merchant(), &id)
        .await
        .map_err(link_error)?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ))
        .body(qr_svg(&link.url(&state.settings.public_url))))
}

/// The link URL as a QR code, as SVG markup made by us (no user text in it).
fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(180, 180)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

async fn detail(
    user: SignedIn,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let link = links::get(&state.db, user.merchant(), &id)
        .await
        .map_err(link_error)?;
    let tz = user.user.time_zone;
    let now = Utc::now();
    let status = link.status_at(now);
    let url = link.url(&state.settings.public_url);
    let notifications = super::notifications::of_link(&state, &user, &link.id).await?;
    let emails = super::emails::of_link(&state, &user, &link.id).await?;
    let page = DetailPage {
        chrome: user.chrome("links"),
        status: status.as_str(),
        amount: amount_text(link.amount_minor, link.currency),
        country: link.country.clone(),
        merchant_id: link.merchant_id.0,
        product_id: link.product_id.0,
        merchant_transaction_id: link.merchant_transaction_id.clone(),
        description: link.description.clone(),
        customer_id: link.customer_id.clone(),
        reference_id: link.reference_id.clone(),
        merchant_params: link.merchant_params.clone(),
        code: link.code.clone(),
        language: link.language.as_str(),
        due: display_time(link.due_date, tz),
        created: display_time(link.created_at, tz),
        updated: display_time(link.updated_at, tz),
        paid: link.paid_at.map(|t| display_time(t, tz)),
        payments: link
            .payments
            .iter()
            .map(|p| PaymentRow {
                transaction_id: p.id.clone(),
                status: p.status.clone(),
                amount: amount_text(p.amount_minor, link.currency),
                refunded: (p.refunded_minor() > 0)
                    .then(|| amount_text(p.refunded_minor(), link.currency)),
                card: match (&p.brand, &p.last4) {
                    (Some(b), Some(l)) => format!("{b} •••• {l}"),
                    _ => String::new(),
                },
                created: display_time(p.created_at, tz),
                refunds: p
                    .refunds
                    .iter()
                    .map(|r| RefundRow {
                        id: r.id.clone(),
                        amount: amount_text(r.amount_minor, link.currency),
                        reason: r.reason.clone().unwrap_or_default(),
                        status: r.status.as_str(),
                        created: display_time(r.created_at, tz),
                    })
                    .collect(),
                refund_url: (user.user.is_admin() && p.refundable_minor() > 0)
                    .then(|| super::refunds::refund_path(&link.id, &p.id)),
            })
            .collect(),
        notifications,
        emails,
        email_to: crate::email::link_recipients(&link),
        qr_url: format!("/links/{}/qr.svg", link.id),
        url,
        editable: status == Status::Created,
        time_zone: tz.name().to_string(),
        options: option_rows(&link),
        taxes: link
            .taxes
            .iter()
            .map(|t| {
                (
                    link_form::tax_label(&t.kind).to_string(),
                    amount_text(t.amount_minor, link.currency),
                    t.base_minor
                        .map(|b| amount_text(b, link.currency))
                        .unwrap_or_default(),
                )
            })
            .collect(),
        additional: link
            .additional
            .iter()
            .map(|a| {
                (
                    a.keyword.clone(),
                    a.value.clone(),
                    where_shown(a.display_on),
                )
            })
            .collect(),
        id: link.id,
    };
    html(StatusCode::OK, page)
}

#[derive(Template)]
#[template(path = "backoffice/links/cancel.html")]
struct CancelPage {
    chrome: Chrome,
    id: String,
    amount: String,
    description: String,
}

/// The link `id` if it is still CREATED; otherwise the way back to its page with
/// `refusal` as the message (cancel and edit are for CREATED links only).
async fn created_link(
    user: &SignedIn,
    state: &AppState,
    id: &str,
    refusal: &str,
) -> Result<Result<Link, HttpResponse>, PageError> {
    let link = links::get(&state.db, user.merchant(), id)
        .await
        .map_err(link_error)?;
    if link.status_at(Utc::now()) != Status::Created {
        set_flash(&user.session, Flash::error(refusal));
        return Ok(Err(see_other(&format!("/links/{}", urlencode(&link.id)))));
    }
    Ok(Ok(link))
}

async fn cancel_confirm(
    user: SignedIn,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let link =
        match created_link(&user, &state, &id, "Only a CREATED link can be cancelled.").await? {
            Ok(link) => link,
            Err(back) => return Ok(back),
        };
    html(
        StatusCode::OK,
        CancelPage {
            chrome: user.chrome("links"),
            amount: amount_text(link.amount_minor, link.currency),
            description: link.description.unwrap_or_default(),
            id: link.id,
        },
    )
}

async fn cancel_one(
    user: SignedIn,
    id: web::Path<String>,
    Form(_): Form<NoFields>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let location = format!("/links/{}", urlencode(&id));
    match links::cancel(
        &state.db,
        user.merchant(),
        &id,
        &state.settings.public_url,
        Utc::now(),
    )
    .await
    {
        Ok(_) => set_flash(&user.session, Flash::ok("The link is cancelled.")),
        Err(LinkError::NotCancellable(s)) => set_flash(
            &user.session,
            Flash::error(format!(
                "The link is {} and cannot be cancelled.",
                s.as_str()
            )),
        ),
        Err(e) => return Err(link_error(e)),
    }
    Ok(see_other(&location))
}

// ------------------------------------------------------------ create, edit

struct ProductOption {
    id: i64,
    name: String,
}

struct CountryOption {
    code: &'static str,
    name: &'static str,
}

#[derive(Template)]
#[template(path = "backoffice/links/form.html")]
struct FormPage {
    chrome: Chrome,
    /// `None` on create; the link id on edit.
    editing: Option<String>,
    values: LinkInput,
    errors: FieldErrors,
    products: Vec<ProductOption>,
    currencies: Vec<(&'static str, String)>,
    countries: Vec<CountryOption>,
    form_token: String,
    time_zone: String,
    options: OptionsView,
}

async fn form_page(
    user: &SignedIn,
    state: &AppState,
    editing: Option<String>,
    values: LinkInput,
    errors: FieldErrors,
    form_token: String,
) -> Result<FormPage, PageError> {
    let products = state
        .db
        .products(user.merchant())
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|p| ProductOption {
            id: p.id.0,
            name: p.name,
        })
        .collect();
    let mut countries: Vec<CountryOption> = isocountry::CountryCode::as_array()
        .iter()
        .map(|c| CountryOption {
            code: c.alpha2(),
            name: c.name(),
        })
        .collect();
    countries.sort_by_key(|c| c.name);
    Ok(FormPage {
        chrome: user.chrome(if editing.is_some() { "links" } else { "new" }),
        editing,
        products,
        currencies: Currency::all()
            .into_iter()
            .map(|c| (c.code(), c.name()))
            .collect(),
        countries,
        form_token,
        time_zone: user.user.time_zone.name().to_string(),
        options: OptionsView::new(&values, &errors),
        values,
        errors,
    })
}

async fn new_form(user: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let values = LinkInput {
        currency: Some("EUR".into()),
        language: Some("EN".into()),
        ..Default::default()
    };
    let page = form_page(
        &user,
        &state,
        None,
        values,
        FieldErrors::default(),
        crate::random::base64_bytes(18),
    )
    .await?;
    html(StatusCode::OK, page)
}

/// The form's input as the validator reads it: the merchant from the session,
/// blanks as absent, the due date from the user's time zone to UTC.
fn prepared(mut input: LinkInput, user: &SignedIn) -> LinkInput {
    input = input.without_blanks();
    input.merchant_id = Some(user.merchant().to_string());
    input.id = None;
    input.due_date = input
        .due_date
        .map(|d| forms::local_to_utc(&d, user.user.time_zone));
    input
}

async fn create(
    user: SignedIn,
    Form(form): Form<LinkForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let typed = form.input();
    let input = prepared(form.input(), &user);
    let token = form.form_token.filter(|t| !t.is_empty() && t.len() <= 64);
    // The form token is the idempotency key: a double-clicked or re-sent form
    // finds the link the first submission made instead of making another.
    let key = token.as_ref().map(|t| format!("form:{t}"));
    let render = |link: &Link| link.id.clone();
    let idempotency = key.as_deref().map(|key| Idempotency {
        key,
        request_hash: "backoffice-form",
        render: &render,
    });
    match links::create(
        &state.db,
        user.merchant(),
        &input,
        state.link_rules(),
        state.outbox(),
        idempotency,
        Utc::now(),
    )
    .await
    {
        Ok(Created::New(link)) => {
            let recipients = crate::email::link_recipients(&link);
            let text = if link.send_by_email && !recipients.is_empty() {
                format!(
                    "Payment link created and being sent by email to {}.",
                    recipients.join(", ")
                )
            } else {
                "Payment link created. Share the link below with your customer.".to_string()
            };
            set_flash(&user.session, Flash::ok(text));
            Ok(see_other(&format!("/links/{}", urlencode(&link.id))))
        }
        Ok(Created::Replay(id)) => Ok(see_other(&format!("/links/{}", urlencode(&id)))),
        Err(LinkError::Invalid(errors)) => {
            let page = form_page(
                &user,
                &state,
                None,
                typed,
                FieldErrors::from_list(&errors),
                token.unwrap_or_else(|| crate::random::base64_bytes(18)),
            )
            .await?;
            html(StatusCode::BAD_REQUEST, page)
        }
        Err(e) => Err(link_error(e)),
    }
}

async fn edit_form(
    user: SignedIn,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let link = match created_link(&user, &state, &id, "Only a CREATED link can be edited.").await? {
        Ok(link) => link,
        Err(back) => return Ok(back),
    };
    let values = link_form::values_of(&link, user.user.time_zone);
    let page = form_page(
        &user,
        &state,
        Some(link.id),
        values,
        FieldErrors::default(),
        String::new(),
    )
    .await?;
    html(StatusCode::OK, page)
}

async fn update(
    user: SignedIn,
    id: web::Path<String>,
    Form(form): Form<LinkForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let typed = form.input();
    let input = prepared(form.input(), &user);
    let location = format!("/links/{}", urlencode(&id));
    match links::update(
        &state.db,
        user.merchant(),
        &id,
        &input,
        state.link_rules(),
        Utc::now(),
    )
    .await
    {
        Ok(_) => {
            set_flash(&user.session, Flash::ok("The link is updated."));
            Ok(see_other(&location))
        }
        Err(LinkError::Invalid(errors)) => {
            let page = form_page(
                &user,
                &state,
                Some(id.into_inner()),
                typed,
                FieldErrors::from_list(&errors),
                String::new(),
            )
            .await?;
            html(StatusCode::BAD_REQUEST, page)
        }
        Err(LinkError::NotUpdatable(s)) => {
            set_flash(
                &user.session,
                Flash::error(format!(
                    "The link is {} and can no longer be edited.",
                    s.as_str()
                )),
            );
            Ok(see_other(&location))
        }
        Err(e) => Err(link_error(e)),
    }
}
