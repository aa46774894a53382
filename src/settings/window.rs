//! `--window HH:MM-HH:MM[,…]` and `window=…`: the times of day a run may work, in the
//! process's local time; a span whose end comes before its start wraps midnight.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveTime, Timelike};

use crate::error::UsageError;

/// The spans of the day a run may work in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    spans: Vec<(NaiveTime, NaiveTime)>,
}

impl Window {
    /// Whether `now` lies in one of the spans (its start included, its end not).
    pub fn contains(&self, now: NaiveTime) -> bool {
        self.spans.iter().any(|&(start, end)| match start <= end {
            true => start <= now && now < end,
            false => now >= start || now < end,
        })
    }

    /// The start of the span that opens next after `now`.
    pub fn next_opening(&self, now: NaiveTime) -> NaiveTime {
        let seconds_until = |start: NaiveTime| (start - now).num_seconds().rem_euclid(86_400);
        self.spans
            .iter()
            .map(|&(start, _)| start)
            .min_by_key(|&start| seconds_until(start))
            .unwrap_or(now)
    }
}

impl FromStr for Window {
    type Err = UsageError;

    fn from_str(text: &str) -> Result<Self, UsageError> {
        let invalid = || {
            UsageError::new(format!(
                "`{text}` is not a window: give HH:MM-HH:MM in local time, several separated by commas (22:00-06:00,12:00-13:00)"
            ))
        };
        let time =
            |part: &str| NaiveTime::parse_from_str(part.trim(), "%H:%M").map_err(|_| invalid());
        let spans = text
            .split(',')
            .map(|span| {
                let (start, end) = span.split_once('-').ok_or_else(invalid)?;
                let (start, end) = (time(start)?, time(end)?);
                if start == end {
                    return Err(UsageError::new(format!(
                        "the window span `{}` is empty: its start and end are the same time",
                        span.trim()
                    )));
                }
                Ok((start, end))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { spans })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, (start, end)) in self.spans.iter().enumerate() {
            if at > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}-{}", hh_mm(*start), hh_mm(*end))?;
        }
        Ok(())
    }
}

/// `HH:MM` of a time.
pub fn hh_mm(time: NaiveTime) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveTime {
        NaiveTime::parse_from_str(text, "%H:%M").unwrap()
    }

    #[test]
    fn spans_hold_their_start_not_their_end_and_may_wrap_midnight() {
        let window: Window = "22:00-06:00, 12:00-13:00".parse().unwrap();
        for inside in ["22:00", "23:59", "00:00", "05:59", "12:00", "12:30"] {
            assert!(window.contains(at(inside)), "{inside}");
        }
        for outside in ["06:00", "11:59", "13:00", "21:59"] {
            assert!(!window.contains(at(outside)), "{outside}");
        }
        assert_eq!(window.to_string(), "22:00-06:00,12:00-13:00");
        assert_eq!(window.next_opening(at("07:00")), at("12:00"));
        assert_eq!(window.next_opening(at("14:00")), at("22:00"));
    }

    #[test]
    fn unreadable_or_empty_windows_are_one_sentence() {
        for text in [
            "",
            "22:00",
            "22-06",
            "25:00-06:00",
            "22:00-06:00,",
            "aa:bb-cc:dd",
        ] {
            let err = text.parse::<Window>().unwrap_err().to_string();
            assert!(err.contains("is not a window"), "{text}: {err}");
        }
        let err = "10:00-10:00".parse::<Window>().unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
    }
}
