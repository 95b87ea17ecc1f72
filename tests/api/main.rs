//! One test binary for the whole service; each module is one area. Every
//! database-backed test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL.

mod backoffice;
mod backoffice_browser;
mod backoffice_helpers;
mod browser;
mod helpers;
mod smtp;

mod cli;
mod email;
mod idempotency;
mod lifecycle;
mod link_options;
mod notifications;
mod oauth;
mod pages;
mod pagination;
mod payments;
mod refunds;
mod shopper;
mod status_codes;
mod tenancy;
mod validation;
