//! Calendar dates as the ledger writes them: `YYYY-MM-DD`, proleptic Gregorian.
//!
//! The one parser of dates in the workspace. A record field of type date holds any day
//! from 0000-01-01 to 9999-12-31 (a four-digit year, stored as year u16, month u8, day
//! u8); a trade document packs its dates into its circuit witness as days since
//! 1970-01-01, so [`Date::days_since_epoch`] narrows that to 1970-01-01..=9999-12-31.

use std::fmt;

/// A checked calendar day between [`Date::MIN`] and [`Date::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// The first day a date can name.
    pub const MIN: Date = Date {
        year: 0,
        month: 1,
        day: 1,
    };
    /// The last day a date can name (the last with a four-digit year).
    pub const MAX: Date = Date {
        year: 9999,
        month: 12,
        day: 31,
    };
    /// Day 0 of [`Date::days_since_epoch`]: the first day a document date can name.
    pub const EPOCH: Date = Date {
        year: 1970,
        month: 1,
        day: 1,
    };

    /// Parses `YYYY-MM-DD` (exactly ten characters, ASCII digits) naming a day that exists.
    pub fn parse(text: &str) -> Result<Date, String> {
        let bad = || format!("a date is written YYYY-MM-DD, not {text:?}");
        let b = text.as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            b[r].iter().try_fold(0u16, |n, c| {
                c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0'))
            })
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
            return Err(bad());
        };
        let days =
            days_in_month(y, m).ok_or_else(|| format!("{text}: month {m} does not exist"))?;
        if d == 0 || d > u16::from(days) {
            return Err(format!("{text}: day {d} does not exist in that month"));
        }
        Ok(Date {
            year: y,
            month: m as u8,
            day: d as u8,
        })
    }

    /// The year (0 to 9999).
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month (1 to 12).
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month (from 1).
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01, or `None` for an earlier day: how documents count dates.
    pub fn days_since_epoch(self) -> Option<u32> {
        // Days from civil (H. Hinnant's algorithm), with March as the first month.
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        u32::try_from(era * 146_097 + doe - 719_468).ok()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The days of `month` in `year`, if the month exists.
fn days_in_month(year: u16, month: u16) -> Option<u8> {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if leap => Some(29),
        2 => Some(28),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn the_range_ends_are_dates_and_nothing_beyond_them_is() {
        assert_eq!(date("0000-01-01"), Date::MIN);
        assert_eq!(date("9999-12-31"), Date::MAX);
        assert_eq!(date("1970-01-01"), Date::EPOCH);
        assert_eq!(Date::MIN.to_string(), "0000-01-01");
        assert_eq!(Date::MAX.to_string(), "9999-12-31");
        // A five-digit year or a sign is not a date.
        for s in ["10000-01-01", "-001-01-01", "+999-12-31", "999-12-31"] {
            assert!(Date::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn documents_count_days_from_1970_and_no_earlier() {
        assert_eq!(Date::EPOCH.days_since_epoch(), Some(0));
        assert_eq!(date("1970-01-02").days_since_epoch(), Some(1));
        assert_eq!(date("1969-12-31").days_since_epoch(), None);
        assert_eq!(Date::MIN.days_since_epoch(), None);
        assert_eq!(date("2000-02-29").days_since_epoch(), Some(11_016));
        assert_eq!(date("2026-11-02").days_since_epoch(), Some(20_759));
        assert_eq!(Date::MAX.days_since_epoch(), Some(2_932_896));
    }

    #[test]
    fn months_and_days_that_do_not_exist_are_refused_by_name() {
        for (s, needle) in [
            ("2026-00-10", "month 0 does not exist"),
            ("2026-13-10", "month 13 does not exist"),
            ("2026-01-00", "day 0 does not exist"),
            ("2026-01-32", "day 32 does not exist"),
            ("2026-04-31", "day 31 does not exist"),
            ("2026-02-29", "day 29 does not exist"),
            ("1900-02-29", "day 29 does not exist"),
        ] {
            let err = Date::parse(s).unwrap_err();
            assert!(err.contains(needle), "{s}: {err}");
        }
        // Leap years: divisible by 4, except centuries not divisible by 400.
        for s in ["2024-02-29", "2000-02-29", "0000-02-29"] {
            date(s);
        }
    }

    #[test]
    fn only_the_exact_layout_is_read() {
        for s in [
            "",
            "2026-1-05",
            "2026-01-5",
            "2026/01/05",
            "2026-+1-05",
            "2026-01-05 ",
            "２０２６-01-05",
            "20260105xx",
        ] {
            assert_eq!(
                Date::parse(s).unwrap_err(),
                format!("a date is written YYYY-MM-DD, not {s:?}")
            );
        }
    }
}
