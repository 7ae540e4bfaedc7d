//! Cron schedules checked with the rules the Kubernetes API server applies to
//! `CronJob.spec.schedule`: the standard five-field parser of the cron library Kubernetes
//! uses (minute, hour, day of month, month, day of week), the `@` descriptors including
//! `@every <duration>`, and no `TZ=`/`CRON_TZ=` inside the schedule.
//!
//! The server refuses a bad schedule only when the CronJob itself is applied, after the
//! Secret and the Deployment have already changed; checking here stops `validate`, `apply`
//! and `deploy` before anything is written.

/// One field of a schedule: its name, bounds and (for months and weekdays) accepted names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 6,
        names: &WEEKDAYS,
    },
];

/// The descriptors accepted besides `@every <duration>`.
const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Why the API server would refuse `schedule`, or `None` if it accepts it.
#[must_use]
pub(crate) fn problem(schedule: &str) -> Option<String> {
    check(schedule).err()
}

fn check(schedule: &str) -> Result<(), String> {
    if schedule.is_empty() {
        return Err("is empty; give five cron fields, e.g. 0 */6 * * *".to_owned());
    }
    if schedule.contains("TZ") {
        return Err(format!(
            "is `{schedule}`; Kubernetes refuses TZ= or CRON_TZ= in a schedule (CronJob schedules here run in UTC)"
        ));
    }
    if let Some(rest) = schedule.strip_prefix('@') {
        return descriptor(schedule, rest);
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "is `{schedule}` ({} field{}); give exactly five cron fields (minute hour day-of-month month day-of-week), e.g. 0 */6 * * *",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        ));
    }
    for (text, field) in fields.iter().zip(&FIELDS) {
        // Empty list items (`1,,2`) are skipped, as the server's parser does.
        for item in text.split(',').filter(|i| !i.is_empty()) {
            range(item, field)
                .map_err(|why| format!("is `{schedule}`: {} `{item}` {why}", field.name))?;
        }
    }
    Ok(())
}

/// `*`, `?`, `N`, `N-M`, each optionally followed by `/STEP`.
fn range(item: &str, field: &Field) -> Result<(), String> {
    let bounds = || format!("{}-{}", field.min, field.max);
    let mut slash = item.split('/');
    let span = slash.next().unwrap_or_default();
    let step = slash.next();
    if slash.next().is_some() {
        return Err("has more than one '/'".to_owned());
    }
    let parts: Vec<&str> = span.split('-').collect();
    let (start, end) = if parts[0] == "*" || parts[0] == "?" {
        (field.min, field.max)
    } else {
        let start = value(parts[0], field)?;
        let end = match parts.len() {
            1 if step.is_some() => field.max,
            1 => start,
            2 => value(parts[1], field)?,
            _ => return Err("has more than one '-'".to_owned()),
        };
        (start, end)
    };
    if let Some(step) = step
        && number(step)? == 0
    {
        return Err("has a step of 0; a step must be 1 or more".to_owned());
    }
    if start < field.min {
        return Err(format!(
            "is out of range: {start} is below {} (the {} is {})",
            field.min,
            field.name,
            bounds()
        ));
    }
    if end > field.max {
        return Err(format!(
            "is out of range: {end} is above {} (the {} is {})",
            field.max,
            field.name,
            bounds()
        ));
    }
    if start > end {
        return Err(format!(
            "is a range that ends before it starts ({start} > {end})"
        ));
    }
    Ok(())
}

/// A number, or a month or weekday name (any case).
fn value(text: &str, field: &Field) -> Result<u32, String> {
    if let Some(index) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        // Months count from 1, weekdays from 0 (Sunday).
        return Ok(u32::try_from(index).unwrap_or(0) + field.min);
    }
    number(text).map_err(|why| {
        if field.names.is_empty() {
            why
        } else {
            format!(
                "{why}, or one of the names {}",
                field.names.join(", ").to_uppercase()
            )
        }
    })
}

/// A non-negative decimal number (an optional leading '+' is accepted, as the server does).
fn number(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("is not a number: `{text}`; expected a number"));
    }
    digits
        .parse::<u32>()
        .map_err(|_| format!("is not a number the server can read: `{text}`"))
}

fn descriptor(schedule: &str, rest: &str) -> Result<(), String> {
    if DESCRIPTORS.contains(&schedule) {
        return Ok(());
    }
    if let Some(duration) = rest.strip_prefix("every ") {
        return go_duration(duration).map_err(|why| {
            format!("is `{schedule}`: {why}; write a duration such as @every 6h or @every 1h30m")
        });
    }
    Err(format!(
        "is `{schedule}`, not a descriptor Kubernetes knows; use one of {} or @every <duration>",
        DESCRIPTORS.join(", ")
    ))
}

/// The first minute after `after` at which a five-field schedule (or an `@` descriptor other
/// than `@every`) fires, read in UTC with the rules of the cron library Kubernetes uses:
/// when the day of month or the day of week starts with `*` or `?` both must match,
/// otherwise either may. `None` for `@every`, an invalid schedule, or no match within five
/// years (`0 0 30 2 *`).
#[must_use]
pub(crate) fn next_after(
    schedule: &str,
    after: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{Datelike, Duration, TimeZone, Timelike};
    check(schedule).ok()?;
    let text = match schedule {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other if other.starts_with('@') => return None,
        other => other,
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    let mut sets = [0_u64; 5];
    for ((set, text), field) in sets.iter_mut().zip(&fields).zip(&FIELDS) {
        for item in text.split(',').filter(|i| !i.is_empty()) {
            *set |= bits(item, field)?;
        }
    }
    let star = |text: &str| text.starts_with('*') || text.starts_with('?');
    let either_day = !(star(fields[2]) || star(fields[4]));
    let has = |set: u64, n: u32| set & (1 << n) != 0;
    let start = after.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
    let mut t = start;
    let limit = start + Duration::days(5 * 366);
    while t < limit {
        if !has(sets[3], t.month()) {
            let (y, m) = if t.month() == 12 {
                (t.year() + 1, 1)
            } else {
                (t.year(), t.month() + 1)
            };
            t = chrono::Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
            continue;
        }
        let dom = has(sets[2], t.day());
        let dow = has(sets[4], t.weekday().num_days_from_sunday());
        let day = if either_day { dom || dow } else { dom && dow };
        if !day {
            t = (t + Duration::days(1)).with_hour(0)?.with_minute(0)?;
            continue;
        }
        if !has(sets[1], t.hour()) {
            t = (t + Duration::hours(1)).with_minute(0)?;
            continue;
        }
        if !has(sets[0], t.minute()) {
            t += Duration::minutes(1);
            continue;
        }
        return Some(t);
    }
    None
}

/// The values one list item of a field selects, as bits.
fn bits(item: &str, field: &Field) -> Option<u64> {
    range(item, field).ok()?;
    let mut slash = item.split('/');
    let span = slash.next()?;
    let step = slash.next().map(number).transpose().ok()?.unwrap_or(1);
    let parts: Vec<&str> = span.split('-').collect();
    let (start, end) = if parts[0] == "*" || parts[0] == "?" {
        (field.min, field.max)
    } else {
        let start = value(parts[0], field).ok()?;
        match parts.get(1) {
            Some(end) => (start, value(end, field).ok()?),
            None if item.contains('/') => (start, field.max),
            None => (start, start),
        }
    };
    Some(
        (start..=end)
            .step_by(usize::try_from(step).ok()?)
            .fold(0, |set, n| set | (1 << n)),
    )
}

/// A duration as Go's `time.ParseDuration` reads it (`1h30m`, `90s`, `1.5h`, `0`).
fn go_duration(text: &str) -> Result<(), String> {
    const UNITS: [(&str, f64); 8] = [
        ("ns", 1.0),
        ("us", 1e3),
        ("\u{b5}s", 1e3),
        ("\u{3bc}s", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("h", 3600e9),
    ];
    let bad = || format!("`{text}` is not a duration");
    let mut rest = text.strip_prefix(['+', '-']).unwrap_or(text);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let Some((_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                format!("`{text}` lacks a unit (ns, us, ms, s, m or h)")
            } else {
                format!("`{text}` has the unknown unit `{unit}` (use ns, us, ms, s, m or h)")
            });
        };
        total += number.parse::<f64>().map_err(|_| bad())? * scale;
        rest = after;
    }
    // Go keeps durations in a signed 64-bit count of nanoseconds.
    if total > i64::MAX as f64 {
        return Err(format!("`{text}` is longer than about 290 years"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_runs_follow_the_schedule() {
        use chrono::TimeZone;
        let at = |y, mo, d, h, mi| chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        let now = at(2026, 12, 2, 14, 7) + chrono::Duration::seconds(30);
        assert_eq!(next_after("0 */6 * * *", now), Some(at(2026, 12, 2, 18, 0)));
        assert_eq!(
            next_after("*/15 * * * *", now),
            Some(at(2026, 12, 2, 14, 15))
        );
        assert_eq!(next_after("@daily", now), Some(at(2026, 12, 3, 0, 0)));
        assert_eq!(next_after("@yearly", now), Some(at(2027, 1, 1, 0, 0)));
        // 2026-12-02 is a Wednesday: the next Monday 09:00 is the 7th.
        assert_eq!(next_after("0 9 * * MON", now), Some(at(2026, 12, 7, 9, 0)));
        // Both days restricted: either one matches (the 5th, a Saturday, comes first).
        assert_eq!(next_after("0 0 5 * 1", now), Some(at(2026, 12, 5, 0, 0)));
        assert_eq!(
            next_after("5/20 * * * *", now),
            Some(at(2026, 12, 2, 14, 25))
        );
        assert_eq!(next_after("0 0 29 2 *", now), Some(at(2028, 2, 29, 0, 0)));
        assert_eq!(next_after("0 0 30 2 *", now), None);
        assert_eq!(next_after("@every 1h", now), None);
        assert_eq!(next_after("61 * * * *", now), None);
    }

    #[test]
    fn accepts_what_the_api_server_accepts() {
        for ok in [
            "0 */6 * * *",
            "*/15 * * * *",
            "0 0 1 1 *",
            "59 23 31 12 6",
            "0 9-17 * * MON-FRI",
            "0 9 * jan,Jul sun",
            "0 0 * * ?",
            "5/10 * * * *",
            "1-30/5 * * * *",
            "1,,2 * * * *",
            "+5 * * * *",
            "0  */6\t* * *",
            "@daily",
            "@midnight",
            "@annually",
            "@every 1h30m",
            "@every 90s",
            "@every 1.5h",
            "@every 0",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn refuses_what_the_api_server_refuses() {
        for (bad, says) in [
            ("61 * * * *", "minute `61` is out of range: 61 is above 59"),
            ("0 25 * * *", "hour `25` is out of range"),
            ("*/0 * * * *", "step of 0"),
            (
                "0 */6 * * MON-XYZ",
                "day of week `MON-XYZ` is not a number: `XYZ`",
            ),
            (
                "0 */6 * * 8",
                "day of week `8` is out of range: 8 is above 6",
            ),
            ("0 */6 * * 7", "above 6"),
            (
                "0 0 0 * *",
                "day of month `0` is out of range: 0 is below 1",
            ),
            ("0 0 * 13 *", "above 12"),
            ("0 5-2 * * *", "ends before it starts"),
            ("0 1-2-3 * * *", "more than one '-'"),
            ("0 */2/3 * * *", "more than one '/'"),
            ("0 */6 * *", "(4 fields)"),
            ("0 0 */6 * * *", "(6 fields)"),
            ("every hour", "(2 fields)"),
            ("", "is empty"),
            ("@reboot", "not a descriptor"),
            ("@every", "not a descriptor"),
            ("@every 5", "lacks a unit"),
            ("@every 5d", "unknown unit `d`"),
            ("CRON_TZ=UTC 0 * * * *", "TZ="),
            ("TZ=UTC @daily", "TZ="),
            ("-1 * * * *", "not a number"),
            ("0 0 * * mon-", "not a number"),
        ] {
            let got = problem(bad).unwrap_or_else(|| panic!("{bad:?} passed"));
            assert!(got.contains(says), "{bad:?}: {got}");
        }
    }
}
