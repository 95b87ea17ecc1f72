//! Currencies (ISO 4217, from `iso_currency`) and amounts held as integer minor
//! units. Amounts cross the API as JSON numbers and the forms as text; both are
//! parsed here from their decimal text so `32.99` is exactly 3299 cents.

use std::fmt;

/// An ISO 4217 currency in use: it has minor units and has not been superseded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn parse(code: &str) -> Option<Currency> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let c = iso_currency::Currency::from_code(code)?;
        // Precious metals, testing codes and funds have no minor units (None) or are
        // not currencies a shopper pays in.
        if c.exponent().is_none() || c.is_superseded().is_some() || c.is_fund() {
            return None;
        }
        Some(Currency(c))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point: EUR 2, JPY 0, KWD 3.
    pub fn minor_digits(self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(0))
    }

    pub fn name(self) -> String {
        self.0.name().to_string()
    }

    /// Every currency accepted by [`Currency::parse`], sorted by code.
    pub fn all() -> Vec<Currency> {
        use iso_currency::IntoEnumIterator;
        let mut all: Vec<Currency> = iso_currency::Currency::iter()
            .filter_map(|c| Currency::parse(c.code()))
            .collect();
        all.sort_by_key(|c| c.code());
        all
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The largest amount accepted, in whole units of any currency. Far above any
/// real payment; it keeps every amount exact in an `f64` (below 2^53 in minor
/// units) and in [`to_scaled`] form within an `i64`.
pub const MAX_UNITS: i64 = 1_000_000_000_000;

/// Digits of the common scale amounts are compared on across currencies (no
/// currency in use has more minor digits).
pub const SCALE_DIGITS: u32 = 4;

/// Minor units of `currency` on the common scale of [`SCALE_DIGITS`] digits.
pub fn to_scaled(minor: i64, currency: Currency) -> i64 {
    minor.saturating_mul(10i64.pow(SCALE_DIGITS.saturating_sub(currency.minor_digits())))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    /// Not a plain decimal number.
    Malformed,
    NotPositive,
    /// More decimals than the currency has minor digits (the number of digits).
    TooPrecise(u32),
    TooLarge,
}

/// Parses decimal text (`"32.99"`, `"500"`) into minor units of a currency with
/// `digits` minor digits. Trailing zeros of the fraction do not count as digits.
pub fn parse_amount(text: &str, digits: u32) -> Result<i64, AmountError> {
    let text = text.trim();
    let negative = text.starts_with('-');
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i, f),
        None => (unsigned, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(AmountError::Malformed);
    }
    let frac = frac_part.trim_end_matches('0');
    let int = int_part.trim_start_matches('0');
    let is_zero = int.is_empty() && frac.is_empty();
    if negative || is_zero {
        return Err(AmountError::NotPositive);
    }
    if frac.len() as u32 > digits {
        return Err(AmountError::TooPrecise(digits));
    }
    if int.len() > 18 {
        return Err(AmountError::TooLarge);
    }
    let mut minor: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| AmountError::TooLarge)?
    };
    for i in 0..digits as usize {
        let d = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(d))
            .ok_or(AmountError::TooLarge)?;
    }
    if minor > MAX_UNITS.saturating_mul(10i64.pow(digits)) {
        return Err(AmountError::TooLarge);
    }
    Ok(minor)
}

/// Minor units as plain decimal text with the currency's digits: `32.99`, `500`.
pub fn format_decimal(minor: i64, currency: Currency) -> String {
    let digits = currency.minor_digits();
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale as u64,
        abs % scale as u64,
        width = digits as usize
    )
}

/// The amount as the JSON number the seed API returns: `32.99`, `11.5`, `500`.
pub fn to_json_number(minor: i64, currency: Currency) -> serde_json::Number {
    let scale = 10i64.pow(currency.minor_digits());
    if minor % scale == 0 {
        serde_json::Number::from(minor / scale)
    } else {
        // The decimal text has at most 16 significant digits (MAX_UNITS), so the
        // nearest f64 prints back as the same text.
        let value: f64 = format_decimal(minor, currency).parse().unwrap_or(0.0);
        serde_json::Number::from_f64(value).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_in_use_with_their_minor_units() {
        assert_eq!(Currency::parse("EUR").unwrap().minor_digits(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_digits(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().minor_digits(), 3);
        for bad in ["eur", "EU", "EURO", "XXX", "XAU", "ZZZ", ""] {
            assert!(Currency::parse(bad).is_none(), "{bad} accepted");
        }
        assert!(Currency::all().len() > 100);
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_amount("32.99", 2), Ok(3299));
        assert_eq!(parse_amount("32.990", 2), Ok(3299));
        assert_eq!(parse_amount("0.01", 2), Ok(1));
        assert_eq!(parse_amount("500", 0), Ok(500));
        assert_eq!(parse_amount("1.234", 3), Ok(1234));
        assert_eq!(parse_amount("32.999", 2), Err(AmountError::TooPrecise(2)));
        assert_eq!(parse_amount("1.5", 0), Err(AmountError::TooPrecise(0)));
        assert_eq!(parse_amount("0", 2), Err(AmountError::NotPositive));
        assert_eq!(parse_amount("-1", 2), Err(AmountError::NotPositive));
        assert_eq!(parse_amount("1e3", 2), Err(AmountError::Malformed));
        assert_eq!(parse_amount("abc", 2), Err(AmountError::Malformed));
        assert_eq!(
            parse_amount("10000000000000000", 2),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn amounts_format_and_round_trip() {
        let eur = Currency::parse("EUR").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(format_decimal(3299, eur), "32.99");
        assert_eq!(format_decimal(5, eur), "0.05");
        assert_eq!(format_decimal(500, jpy), "500");
        assert_eq!(to_json_number(3299, eur).to_string(), "32.99");
        assert_eq!(to_json_number(1150, eur).to_string(), "11.5");
        assert_eq!(to_json_number(1100, eur).to_string(), "11");
        assert_eq!(to_scaled(3299, eur), 329_900);
        assert_eq!(to_scaled(500, jpy), 5_000_000);
        let f: f64 = "32.99".parse().unwrap();
        assert_eq!(parse_amount(&f.to_string(), 2), Ok(3299));
    }
}
