//! The shopper's language: every text of the payment page comes from the Fluent
//! catalogue in `locales/<language>/*.ftl` (compiled into the binary), and so do
//! the rules for writing amounts and dates. Adding a language is adding a folder
//! with a translated file: it then shows in the language switch and `?lang=`.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};

use crate::links::Language;
use crate::money::{self, Currency};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around placeables: our values are plain
        // left-to-right text, and the marks would end up inside amounts.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language of the catalogue, offered in the language switch.
pub struct LanguageChoice {
    pub code: String,
    pub name: String,
    pub current: bool,
}

/// Texts and formats in one language of the catalogue.
#[derive(Clone, Debug)]
pub struct Tr {
    lang: LanguageIdentifier,
}

impl Tr {
    /// The page's language: `?lang=` when the catalogue has it, else the link's.
    pub fn choose(requested: Option<&str>, link_language: Language) -> Tr {
        requested
            .and_then(Tr::available)
            .unwrap_or_else(|| Tr::of_link(link_language))
    }

    /// The catalogue language for a code such as `es` or `ES`, if there is one.
    pub fn available(code: &str) -> Option<Tr> {
        let wanted: LanguageIdentifier = code.trim().to_ascii_lowercase().parse().ok()?;
        LOCALES
            .locales()
            .find(|l| l.language == wanted.language)
            .map(|l| Tr { lang: l.clone() })
    }

    pub fn of_link(language: Language) -> Tr {
        Tr::available(language.as_str()).unwrap_or_else(Tr::fallback)
    }

    pub fn fallback() -> Tr {
        Tr {
            lang: LOCALES.fallback().clone(),
        }
    }

    /// The language code, for `<html lang>` and `?lang=`.
    pub fn code(&self) -> String {
        self.lang.to_string()
    }

    /// Every language of the catalogue, sorted by code, marking this one.
    pub fn choices(&self) -> Vec<LanguageChoice> {
        let mut all: Vec<LanguageChoice> = LOCALES
            .locales()
            .map(|l| LanguageChoice {
                code: l.to_string(),
                name: LOCALES.lookup(l, "language-name"),
                current: *l == self.lang,
            })
            .collect();
        all.sort_by(|a, b| a.code.cmp(&b.code));
        all
    }

    /// The text of `key`.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(&self.lang, key)
    }

    /// The text of `key` with its placeables filled in.
    pub fn t_with(&self, key: &str, args: &[(&'static str, &str)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.to_string())))
            .collect();
        LOCALES.lookup_with_args(&self.lang, key, &args)
    }

    fn try_t(&self, key: &str) -> Option<String> {
        LOCALES.try_lookup(&self.lang, key)
    }

    /// An amount in the currency's own minor units, written the language's way:
    /// `€32.99` in English, `32,99 €` in Spanish; currencies without a symbol in
    /// the catalogue by their code (`KWD 1.250`).
    pub fn money(&self, minor: i64, currency: Currency) -> String {
        let plain = money::format_decimal(minor, currency);
        let (int, frac) = plain.split_once('.').unwrap_or((plain.as_str(), ""));
        let min_grouping: usize = self.t("number-min-grouping").trim().parse().unwrap_or(1);
        let mut number = group_digits(int, &self.t("number-group"), min_grouping);
        if !frac.is_empty() {
            number.push_str(&self.t("number-decimal"));
            number.push_str(frac);
        }
        match self.try_t(&format!("currency-{}", currency.code())) {
            Some(symbol) => self.t_with(
                "money-with-symbol",
                &[("symbol", &symbol), ("number", &number)],
            ),
            None => self.t_with(
                "money-with-code",
                &[("code", currency.code()), ("number", &number)],
            ),
        }
    }

    /// A day in the language: `21 November 2026`, `21 de noviembre de 2026`.
    pub fn date(&self, t: DateTime<Utc>) -> String {
        let month = self.t(&format!("month-{}", t.month()));
        self.t_with(
            "date",
            &[
                ("day", &t.day().to_string()),
                ("month", &month),
                ("year", &t.year().to_string()),
            ],
        )
    }

    /// A moment in UTC: `21 November 2026, 14:30 UTC`.
    pub fn date_time(&self, t: DateTime<Utc>) -> String {
        let date = self.date(t);
        let time = t.format("%H:%M").to_string();
        self.t_with("date-time", &[("date", &date), ("time", &time)])
    }
}

/// Groups the digits of a non-negative integer in threes with `separator`, once
/// it has at least `3 + min_grouping` digits.
fn group_digits(int: &str, separator: &str, min_grouping: usize) -> String {
    if int.len() < 3 + min_grouping.max(1) {
        return int.to_string();
    }
    let mut out = String::with_capacity(int.len() + int.len() / 3 * separator.len());
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push_str(separator);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn en() -> Tr {
        Tr::available("en").unwrap()
    }

    fn es() -> Tr {
        Tr::available("es").unwrap()
    }

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn amounts_follow_the_language_and_the_currency() {
        assert_eq!(en().money(3299, cur("EUR")), "€32.99");
        assert_eq!(es().money(3299, cur("EUR")), "32,99 €");
        assert_eq!(en().money(500, cur("JPY")), "¥500");
        assert_eq!(es().money(500, cur("JPY")), "500 ¥");
        assert_eq!(en().money(1250, cur("KWD")), "KWD 1.250");
        assert_eq!(es().money(1250, cur("KWD")), "1,250 KWD");
        assert_eq!(en().money(123_456_789, cur("EUR")), "€1,234,567.89");
        assert_eq!(es().money(123_456_789, cur("EUR")), "1.234.567,89 €");
        assert_eq!(en().money(123_456, cur("USD")), "$1,234.56");
        assert_eq!(es().money(123_456, cur("USD")), "1234,56 US$");
        assert_eq!(es().money(1_234_567, cur("USD")), "12.345,67 US$");
    }

    #[test]
    fn dates_in_each_language() {
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 9, 5, 0).unwrap();
        assert_eq!(en().date_time(t), "21 November 2026, 09:05 UTC");
        assert_eq!(es().date_time(t), "21 de noviembre de 2026, 09:05 UTC");
    }

    #[test]
    fn language_choice() {
        assert_eq!(Tr::choose(Some("es"), Language::En).code(), "es");
        assert_eq!(Tr::choose(Some("ES"), Language::En).code(), "es");
        assert_eq!(Tr::choose(Some("xx"), Language::Es).code(), "es");
        assert_eq!(Tr::choose(Some("<b>"), Language::En).code(), "en");
        assert_eq!(Tr::choose(None, Language::Es).code(), "es");
        let names: Vec<String> = es().choices().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["English", "Español"]);
    }

    #[test]
    fn placeables_are_filled_without_isolation_marks() {
        assert_eq!(
            es().t_with("pay-button", &[("amount", "32,99 €")]),
            "Pagar 32,99 €"
        );
    }

    /// Every language must have every key of the English catalogue, and no key
    /// English lacks: a missing key would show the fallback or a placeholder.
    #[test]
    fn every_language_has_every_key() {
        fn keys(path: &std::path::Path) -> Vec<String> {
            let mut keys: Vec<String> = std::fs::read_dir(path)
                .unwrap()
                .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
                .flat_map(|text| {
                    text.lines()
                        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
                        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
                        .collect::<Vec<_>>()
                })
                .collect();
            keys.sort();
            keys
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
        let english = keys(&root.join("en"));
        assert!(english.len() > 50);
        for dir in std::fs::read_dir(&root).unwrap() {
            let dir = dir.unwrap().path();
            assert_eq!(keys(&dir), english, "keys of {}", dir.display());
        }
    }
}
