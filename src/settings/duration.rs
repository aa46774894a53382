//! Durations, in flags (`--sleep`, `--lock-timeout`, `--batch-time`, `--max-lag`,
//! `--lease`) and in settings changed while a run works (`runs set ID sleep=…`): a plain
//! number of seconds or a number with a unit, read by `humantime`.

use std::time::Duration;

/// The longest pause or lock timeout a flag takes.
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// `--lease`: a duration of at least a second, so that a batch has time to commit.
pub fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = parse_duration(text)?;
    if lease < Duration::from_secs(1) {
        return Err(format!("`{text}` is too short a lease: give at least 1s"));
    }
    Ok(lease)
}

/// A duration flag that must be more than zero (`--lock-timeout 0` would never wait,
/// `--batch-time 0` would shrink every batch to the least).
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("`{text}` must be more than zero"));
    }
    Ok(duration)
}

/// A duration flag: a plain number of seconds (`0.1`) or a number with a unit
/// (`500ms`, `2s`, `1m`, read by `humantime`), from 0 to an hour.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(seconds) if (0.0..=MAX_DURATION.as_secs_f64()).contains(&seconds) => {
            Duration::from_secs_f64(seconds)
        }
        // Negative, NaN, infinite or too long: the range sentence below.
        Ok(_) => MAX_DURATION + Duration::from_secs(1),
        Err(_) => humantime::parse_duration(text).map_err(|_| {
            format!(
                "`{text}` is not a duration: give seconds (0.1) or a number with a unit (500ms, 2s, 1m)"
            )
        })?,
    };
    if duration > MAX_DURATION {
        return Err(format!("`{text}` must be between 0 and 3600 seconds (1h)"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_a_unit() {
        for (text, expected) in [
            ("0.1", Duration::from_millis(100)),
            ("0", Duration::ZERO),
            (" 2 ", Duration::from_secs(2)),
            ("3600", MAX_DURATION),
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1m", Duration::from_secs(60)),
            ("1m 30s", Duration::from_secs(90)),
            ("1h", MAX_DURATION),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn durations_out_of_bounds_or_unreadable_are_one_sentence() {
        for text in ["-1", "3600.5", "NaN", "inf", "2h", "61m"] {
            let err = parse_duration(text).unwrap_err();
            assert_eq!(
                err,
                format!("`{text}` must be between 0 and 3600 seconds (1h)")
            );
        }
        for text in ["5parsecs", "", "ms", "2 fortnights ago", "1.5.2"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("is not a duration"), "{text}: {err}");
            assert!(!err.contains('\n'), "{text}: {err}");
        }
    }
}
