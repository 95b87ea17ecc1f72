//! paybylink: a self-hosted Pay-By-Link service.
//!
//! Where things live:
//! - `links`: the link model, its validation and lifecycle (the business rules);
//! - `merchants`, `auth`: tenants, users, API clients and tokens;
//! - `money`: currencies and amounts in minor units;
//! - `notifications`: where notifications may go;
//! - `email`: the link and receipt emails, their outbox and SMTP sending;
//! - `payments`: paying a link: card checks, the acquirer boundary, the race-free pay;
//! - `api`: the REST API over those rules; `backoffice`: the merchant's pages;
//!   `shopper`: the hosted payment page and its receipt; `cli`: the admin commands;
//! - `web`: what all HTML pages share (assets, headers, the error page);
//! - `db`: storage for SQLite and PostgreSQL; `startup`: wiring and background work.

pub mod api;
pub mod auth;
pub mod backoffice;
pub mod cli;
pub mod config;
pub mod db;
pub mod email;
pub mod links;
pub mod merchants;
pub mod money;
pub mod notifications;
pub mod outbox;
pub mod payments;
pub mod random;
pub mod shopper;
pub mod startup;
pub mod telemetry;
pub mod web;
