//! Card details as a shopper types them: parsing, validation (Luhn, expiry, CVC,
//! cardholder) and brand detection. The number and the CVC live only in values
//! whose `Debug` hides them and which have no `Display` or `Serialize`, so they
//! cannot reach a log line or a row by accident; only the brand and the last four
//! digits leave this module.

use std::fmt;

use chrono::{DateTime, Datelike, Utc};

/// Card brands the page recognises. `as_str` is the stored and API value (the
/// names of CONTRACT section 11's `allowedPaymentMethods`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Diners,
    Jcb,
    /// A number that passes the checks but matches no range above.
    Other,
}

impl Brand {
    pub fn as_str(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "master",
            Brand::Amex => "amex",
            Brand::Discover => "discover",
            Brand::Diners => "diners",
            Brand::Jcb => "jcb",
            Brand::Other => "other",
        }
    }

    /// The brand's name for people (the shopper's pages have their own, translated).
    pub fn display_name(self) -> &'static str {
        match self {
            Brand::Visa => "Visa",
            Brand::Mastercard => "Mastercard",
            Brand::Amex => "American Express",
            Brand::Discover => "Discover",
            Brand::Diners => "Diners Club",
            Brand::Jcb => "JCB",
            Brand::Other => "Other",
        }
    }

    pub fn parse(s: &str) -> Option<Brand> {
        [
            Brand::Visa,
            Brand::Mastercard,
            Brand::Amex,
            Brand::Discover,
            Brand::Diners,
            Brand::Jcb,
            Brand::Other,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }

    /// The brand of a number by its leading digits (issuer identification ranges).
    pub fn detect(digits: &str) -> Brand {
        let prefix = |n: usize| -> u32 {
            digits
                .get(..n)
                .and_then(|p| p.parse().ok())
                .unwrap_or(u32::MAX)
        };
        let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
        if p1 == 4 {
            Brand::Visa
        } else if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
            Brand::Mastercard
        } else if p2 == 34 || p2 == 37 {
            Brand::Amex
        } else if p4 == 6011
            || p2 == 65
            || (644..=649).contains(&p3)
            || (622126..=622925).contains(&p6)
        {
            Brand::Discover
        } else if p2 == 36 || p2 == 38 || p2 == 39 || (300..=305).contains(&p3) || p3 == 309 {
            Brand::Diners
        } else if (3528..=3589).contains(&p4) {
            Brand::Jcb
        } else {
            Brand::Other
        }
    }

    /// The number lengths the brand issues.
    fn lengths(self) -> &'static [usize] {
        match self {
            Brand::Visa => &[13, 16, 19],
            Brand::Mastercard => &[16],
            Brand::Amex => &[15],
            Brand::Discover | Brand::Jcb => &[16, 17, 18, 19],
            Brand::Diners => &[14, 15, 16, 17, 18, 19],
            Brand::Other => &[12, 13, 14, 15, 16, 17, 18, 19],
        }
    }

    /// American Express prints a four-digit code; the others three.
    fn cvc_lengths(self) -> &'static [usize] {
        match self {
            Brand::Amex => &[4],
            Brand::Other => &[3, 4],
            _ => &[3],
        }
    }
}

/// A card number that passed the checks. Its `Debug` shows only the last four.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl CardNumber {
    /// The digits, for an acquirer connector to send to its processor.
    pub fn digits(&self) -> &str {
        &self.0
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(…{})", self.last4())
    }
}

/// A card security code. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Cvc(String);

impl Cvc {
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc(***)")
    }
}

/// The last month a card is valid in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry {
    pub year: i32,
    pub month: u32,
}

/// A card that passed every form check.
#[derive(Clone, Debug)]
pub struct Card {
    pub number: CardNumber,
    pub expiry: Expiry,
    pub cvc: Cvc,
    pub holder: String,
    pub brand: Brand,
}

/// What the shopper typed, unchecked. Its `Debug` hides the number and the CVC.
#[derive(Clone, Default)]
pub struct CardInput {
    pub number: String,
    pub expiry: String,
    pub cvc: String,
    pub holder: String,
}

impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardInput")
            .field("number", &"<hidden>")
            .field("expiry", &self.expiry)
            .field("cvc", &"<hidden>")
            .field("holder", &self.holder)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardField {
    Number,
    Expiry,
    Cvc,
    Holder,
}

impl CardField {
    /// The form field's name (CONTRACT section 6).
    pub fn name(self) -> &'static str {
        match self {
            CardField::Number => "cardNumber",
            CardField::Expiry => "expiry",
            CardField::Cvc => "cvc",
            CardField::Holder => "cardholder",
        }
    }
}

/// Why a field was refused; the web layer turns each into a message in the
/// shopper's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardProblem {
    Missing,
    /// Characters other than digits, spaces and dashes.
    NotDigits,
    /// Too short or too long for the brand.
    Length,
    /// The check digit is wrong (a typo).
    Luhn,
    /// Not `MM/YY`.
    ExpiryFormat,
    ExpiryPast,
    /// Further ahead than any card is issued for.
    ExpiryTooFar,
    /// Not 3 digits (4 for American Express).
    CvcLength,
    /// A cardholder name must hold letters and no digits.
    HolderInvalid,
    TooLong,
    /// A valid card of a brand the link does not accept.
    BrandNotAccepted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardError {
    pub field: CardField,
    pub problem: CardProblem,
}

/// How far ahead an expiry may lie; cards are issued for a few years at most.
const MAX_YEARS_AHEAD: i32 = 20;
const MAX_HOLDER: usize = 100;

impl CardInput {
    /// Checks every field and reports every problem at once.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<Card, Vec<CardError>> {
        let mut errors = Vec::new();
        let mut fail = |field, problem| errors.push(CardError { field, problem });

        let number = match parse_number(&self.number) {
            Ok(n) => Some(n),
            Err(p) => {
                fail(CardField::Number, p);
                None
            }
        };
        let brand = number
            .as_ref()
            .map(|n| Brand::detect(n.digits()))
            .unwrap_or(Brand::Other);

        let expiry = match parse_expiry(&self.expiry, now) {
            Ok(e) => Some(e),
            Err(p) => {
                fail(CardField::Expiry, p);
                None
            }
        };

        let cvc = self.cvc.trim();
        let cvc = if cvc.is_empty() {
            fail(CardField::Cvc, CardProblem::Missing);
            None
        } else if !cvc.bytes().all(|b| b.is_ascii_digit()) {
            fail(CardField::Cvc, CardProblem::NotDigits);
            None
        } else if !brand.cvc_lengths().contains(&cvc.len()) {
            fail(CardField::Cvc, CardProblem::CvcLength);
            None
        } else {
            Some(Cvc(cvc.to_string()))
        };

        let holder = self.holder.split_whitespace().collect::<Vec<_>>().join(" ");
        let holder = if holder.is_empty() {
            fail(CardField::Holder, CardProblem::Missing);
            None
        } else if holder.chars().count() > MAX_HOLDER {
            fail(CardField::Holder, CardProblem::TooLong);
            None
        } else if !holder.chars().any(char::is_alphabetic)
            || holder.chars().any(|c| c.is_numeric() || c.is_control())
        {
            fail(CardField::Holder, CardProblem::HolderInvalid);
            None
        } else {
            Some(holder)
        };

        match (number, expiry, cvc, holder) {
            (Some(number), Some(expiry), Some(cvc), Some(holder)) if errors.is_empty() => {
                Ok(Card {
                    number,
                    expiry,
                    cvc,
                    holder,
                    brand,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Digits with optional spaces or dashes between groups, of a length the brand
/// issues, passing the Luhn check.
fn parse_number(text: &str) -> Result<CardNumber, CardProblem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CardProblem::Missing);
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return Err(CardProblem::NotDigits);
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if !Brand::detect(&digits).lengths().contains(&digits.len()) {
        return Err(CardProblem::Length);
    }
    if !luhn_valid(&digits) {
        return Err(CardProblem::Luhn);
    }
    Ok(CardNumber(digits))
}

/// The Luhn (mod 10) check over ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum % 10 == 0
}

/// `MM/YY` (also `MM / YY`, `MMYY` and `MM/YYYY`); a card is valid to the end of
/// its expiry month, so the current month is not in the past.
fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<Expiry, CardProblem> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(CardProblem::Missing);
    }
    let (mm, yy) = match compact.split_once('/') {
        Some(parts) => parts,
        None if compact.len() == 4 => compact.split_at(2),
        None => return Err(CardProblem::ExpiryFormat),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(mm) || !all_digits(yy) || mm.len() > 2 || !(yy.len() == 2 || yy.len() == 4) {
        return Err(CardProblem::ExpiryFormat);
    }
    let month: u32 = mm.parse().map_err(|_| CardProblem::ExpiryFormat)?;
    if !(1..=12).contains(&month) {
        return Err(CardProblem::ExpiryFormat);
    }
    let year: i32 = yy.parse().map_err(|_| CardProblem::ExpiryFormat)?;
    let year = if yy.len() == 2 {
        now.year() / 100 * 100 + year
    } else {
        year
    };
    let expiry = Expiry { year, month };
    let current = Expiry {
        year: now.year(),
        month: now.month(),
    };
    if expiry < current {
        return Err(CardProblem::ExpiryPast);
    }
    if year > now.year() + MAX_YEARS_AHEAD {
        return Err(CardProblem::ExpiryTooFar);
    }
    Ok(expiry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn input(number: &str, expiry: &str, cvc: &str, holder: &str) -> CardInput {
        CardInput {
            number: number.into(),
            expiry: expiry.into(),
            cvc: cvc.into(),
            holder: holder.into(),
        }
    }

    fn problems(i: &CardInput) -> Vec<(CardField, CardProblem)> {
        match i.validate(now()) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| (e.field, e.problem)).collect(),
        }
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4242424242424242"));
        assert!(luhn_valid("4000000000000002"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid(""));
    }

    #[test]
    fn brands() {
        for (n, b) in [
            ("4242424242424242", Brand::Visa),
            ("5555555555554444", Brand::Mastercard),
            ("2223003122003222", Brand::Mastercard),
            ("2720990000000007", Brand::Mastercard),
            ("378282246310005", Brand::Amex),
            ("371449635398431", Brand::Amex),
            ("6011111111111117", Brand::Discover),
            ("36227206271667", Brand::Diners),
            ("3530111333300000", Brand::Jcb),
            ("2721000000000004", Brand::Other),
        ] {
            assert_eq!(Brand::detect(n), b, "{n}");
        }
        assert_eq!(Brand::parse("master"), Some(Brand::Mastercard));
        assert_eq!(Brand::parse("mastercard"), None);
    }

    #[test]
    fn a_valid_card_keeps_only_what_it_needs() {
        let card = input("4242 4242 4242 4242", "12/30", "123", "  Ana   García ")
            .validate(now())
            .unwrap();
        assert_eq!(card.brand, Brand::Visa);
        assert_eq!(card.number.last4(), "4242");
        assert_eq!(card.holder, "Ana García");
        assert_eq!(
            card.expiry,
            Expiry {
                year: 2030,
                month: 12
            }
        );
        let amex = input("3782-822463-10005", "1130", "1234", "J. Smith")
            .validate(now())
            .unwrap();
        assert_eq!(amex.brand, Brand::Amex);
    }

    #[test]
    fn debug_output_hides_number_and_cvc() {
        let raw = input("4242 4242 4242 4242", "12/30", "987", "Ana");
        let card = raw.validate(now()).unwrap();
        for text in [format!("{raw:?}"), format!("{card:?}")] {
            assert!(!text.contains("4242 4242"), "{text}");
            assert!(!text.contains("4242424242424242"), "{text}");
            assert!(!text.contains("987"), "{text}");
        }
        assert!(format!("{card:?}").contains("…4242"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        assert_eq!(
            problems(&input("", "", "", "")),
            vec![
                (CardField::Number, CardProblem::Missing),
                (CardField::Expiry, CardProblem::Missing),
                (CardField::Cvc, CardProblem::Missing),
                (CardField::Holder, CardProblem::Missing),
            ]
        );
        assert_eq!(
            problems(&input("4242 4242 4242 4241", "10/26", "12", "4242")),
            vec![
                (CardField::Number, CardProblem::Luhn),
                (CardField::Expiry, CardProblem::ExpiryPast),
                (CardField::Cvc, CardProblem::CvcLength),
                (CardField::Holder, CardProblem::HolderInvalid),
            ]
        );
    }

    #[test]
    fn number_rules() {
        let p = |n: &str| problems(&input(n, "12/30", "123", "Ana"));
        assert_eq!(
            p("4242 4242 4242 424x"),
            vec![(CardField::Number, CardProblem::NotDigits)]
        );
        assert_eq!(
            p("4242 4242 4242"),
            vec![(CardField::Number, CardProblem::Length)]
        );
        assert_eq!(p("4000 0000 0000 0002"), vec![]);
        assert_eq!(p("5555555555554444"), vec![]);
    }

    #[test]
    fn expiry_rules() {
        let p = |e: &str| problems(&input("4242424242424242", e, "123", "Ana"));
        assert_eq!(p("11/26"), vec![], "the current month is still valid");
        assert_eq!(p("11 / 2026"), vec![]);
        assert_eq!(
            p("10/26"),
            vec![(CardField::Expiry, CardProblem::ExpiryPast)]
        );
        assert_eq!(
            p("13/30"),
            vec![(CardField::Expiry, CardProblem::ExpiryFormat)]
        );
        assert_eq!(
            p("1/2/3"),
            vec![(CardField::Expiry, CardProblem::ExpiryFormat)]
        );
        assert_eq!(
            p("12/99"),
            vec![(CardField::Expiry, CardProblem::ExpiryTooFar)]
        );
    }

    #[test]
    fn cvc_length_follows_the_brand() {
        let p = |n: &str, c: &str| problems(&input(n, "12/30", c, "Ana"));
        assert_eq!(p("4242424242424242", "123"), vec![]);
        assert_eq!(
            p("4242424242424242", "1234"),
            vec![(CardField::Cvc, CardProblem::CvcLength)]
        );
        assert_eq!(p("378282246310005", "1234"), vec![]);
        assert_eq!(
            p("378282246310005", "123"),
            vec![(CardField::Cvc, CardProblem::CvcLength)]
        );
        assert_eq!(
            p("4242424242424242", "12a"),
            vec![(CardField::Cvc, CardProblem::NotDigits)]
        );
    }
}
