//! Slots in a reply: the callback time the callee asks for (明天下午三点, 下周一, 半小时后,
//! tomorrow at 10, in 2 hours), resolved to a date-time in the callee's time zone relative to
//! the call's `now`, and amounts (三千五, 一万二, 3.5k, 1.2万, 500块). Pure functions of the text
//! and `now`; no clock is read. Depends on chrono / chrono-tz and the tokenizer's normalisation.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Weekday};
use chrono_tz::Tz;

use chrono::offset::LocalResult;

use super::tokenizer::fold;

/// A callback time resolved against the call time.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackTime {
    pub at: DateTime<Tz>,
    /// False when the callee named only a day or a part of the day (明天, 下午, later): `at`
    /// is then a sensible default (10:00 for a day; 10, 12, 15 or 19 h for a part of the day).
    pub precise: bool,
}

/// An amount or number mentioned in the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Amount {
    pub value: f64,
    /// The text it was read from, normalised.
    pub text: String,
}

/// Everything extracted from one reply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slots {
    pub callback: Option<CallbackTime>,
    pub amounts: Vec<Amount>,
}

/// Text for slot matching: folded like the model's input, but keeping what numbers and clock
/// times need ('.', ':', '$') and word boundaries for English.
fn slot_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().map(fold) {
        if c.is_alphanumeric() || matches!(c, '.' | ':' | '$') {
            out.push(c);
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    // Spaces only matter between ASCII words; elsewhere they would split 明天 下午三点.
    let chars: Vec<char> = out.trim_end().chars().collect();
    chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| {
            c != ' '
                || (i > 0
                    && chars[i - 1].is_ascii_alphanumeric()
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric()))
        })
        .map(|(_, &c)| c)
        .collect()
}

/// Extracts all slots; the callback time needs `now` (without it there is nothing to resolve
/// against and it is left out).
pub fn extract(text: &str, now: Option<&DateTime<Tz>>) -> Slots {
    Slots {
        callback: now.and_then(|n| callback_time(text, n)),
        amounts: amounts(text),
    }
}

fn zh_digit(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' => 0,
        '一' | '幺' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return c.to_digit(10).map(u64::from),
    })
}

fn zh_unit(c: char) -> Option<u64> {
    Some(match c {
        '十' => 10,
        '百' => 100,
        '千' => 1000,
        '万' => 10_000,
        '亿' => 100_000_000,
        _ => return None,
    })
}

/// Value of a Chinese (or mixed) integer numeral, with the colloquial elision of the last
/// unit: 三千五 = 3500, 一万二 = 12000, 两百五 = 250, but 一千零五 = 1005.
pub fn zh_integer(s: &str) -> Option<u64> {
    let (mut total, mut section, mut num) = (0u64, 0u64, 0u64);
    let mut last_unit = 1u64;
    let mut after_unit = false;
    let mut had_zero = false;
    let mut any = false;
    for c in s.chars() {
        if let Some(d) = zh_digit(c) {
            any = true;
            if d == 0 && after_unit {
                had_zero = true;
            }
            num = if after_unit {
                d
            } else {
                num.checked_mul(10)?.checked_add(d)?
            };
            after_unit = false;
        } else if let Some(u) = zh_unit(c) {
            any = true;
            let n = if num == 0 && u == 10 && !after_unit {
                1
            } else {
                num
            };
            if u >= 10_000 {
                total = total.checked_add(section.checked_add(n)?)?.checked_mul(u)?;
                section = 0;
            } else {
                section = section.checked_add(n.checked_mul(u)?)?;
            }
            num = 0;
            last_unit = u;
            after_unit = true;
            had_zero = false;
        } else {
            return None;
        }
    }
    if !any {
        return None;
    }
    // Elision: a single digit right after a unit is worth one tenth of that unit.
    let tail = if num < 10 && last_unit >= 100 && !had_zero && !after_unit && num > 0 {
        num * (last_unit / 10)
    } else {
        num
    };
    total.checked_add(section)?.checked_add(tail)
}

fn is_numeral(c: char) -> bool {
    zh_digit(c).is_some() || zh_unit(c).is_some()
}

/// Amounts in the text. Chinese numerals count when they carry a unit or a currency word, or
/// have at least two characters (so 一下 and 一会儿 are not read as 1).
pub fn amounts(text: &str) -> Vec<Amount> {
    let norm = slot_text(text);
    let chars: Vec<char> = norm.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_numeral(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        // A decimal point: 3.5 or 三点五 (点 only when a numeral follows and it is no time).
        while j < chars.len()
            && (is_numeral(chars[j])
                || ((chars[j] == '.' || chars[j] == '点')
                    && j + 1 < chars.len()
                    && zh_digit(chars[j + 1]).is_some()))
        {
            j += 1;
        }
        let run: String = chars[start..j].iter().collect();
        let next = chars.get(j).copied();
        let next2: String = chars[j..chars.len().min(j + 2)].iter().collect();
        let prev = start.checked_sub(1).map(|p| chars[p]);
        i = j.max(start + 1);
        // Times and durations are the callback slot's business, not amounts.
        let is_time = run.contains('点')
            && !run.ends_with(['万', '千', '百'])
            && !matches!(next, Some('万' | '千' | '块' | '元' | 'k' | 'w'))
            || matches!(
                next,
                Some('点' | '号' | '分' | '个' | '天' | '周' | '月' | '年' | '遍' | '次')
            )
            || next2 == "小时"
            || matches!(prev, Some('周' | '期' | '拜'))
            || english_time_context(&chars[..start], &chars[j..]);
        if is_time {
            continue;
        }
        let (mult, unit_len) = match next {
            Some('k') => (1000.0, 1),
            Some('w') => (10_000.0, 1),
            _ => (1.0, 0),
        };
        let value = match run.split_once(['.', '点']) {
            Some((int, frac)) => {
                let (int, scale) = trailing_unit(int, frac);
                let ip = if int.is_empty() {
                    0
                } else {
                    match zh_integer(int) {
                        Some(v) => v,
                        None => continue,
                    }
                };
                let digits: String = frac
                    .chars()
                    .take_while(|c| zh_digit(*c).is_some())
                    .filter_map(|c| zh_digit(c).and_then(|d| char::from_digit(d as u32, 10)))
                    .collect();
                let f: f64 = format!("0.{digits}").parse().unwrap_or(0.0);
                (ip as f64 + f) * scale
            }
            None => match zh_integer(&run) {
                Some(v) => v as f64,
                None => continue,
            },
        } * mult;
        let has_ascii_digit = run.chars().any(|c| c.is_ascii_digit());
        let has_unit = run.chars().any(|c| zh_unit(c).is_some()) || mult > 1.0;
        let currency = matches!(next, Some('块' | '元' | '钱'))
            || next2 == "块钱"
            || norm[..norm.char_indices().nth(start).map(|(b, _)| b).unwrap_or(0)].ends_with('$');
        if has_ascii_digit || has_unit || currency || run.chars().count() >= 2 {
            let end = (j + unit_len).min(chars.len());
            out.push(Amount {
                value,
                text: chars[start..end].iter().collect(),
            });
        }
    }
    out
}

/// "at 10", "by 5", "in 2 hours", "3 pm": an English number that is a time, not an amount.
fn english_time_context(before: &[char], after: &[char]) -> bool {
    let before: String = before.iter().collect();
    let after: String = after.iter().take(10).collect();
    let last_word = before.split_whitespace().last().unwrap_or("");
    matches!(
        last_word,
        "at" | "by" | "after" | "around" | "in" | "before" | "until"
    ) && before.ends_with(' ')
        || [
            "am", "pm", "hour", "min", "o'clock", "day", "week", "month", "year", ":",
        ]
        .iter()
        .any(|w| after.trim_start().starts_with(w))
}

/// A decimal's unit sits after the fraction (三点五万 = 3.5 × 10⁴): returns the integer part
/// and the unit's multiplier.
fn trailing_unit<'a>(int: &'a str, frac: &str) -> (&'a str, f64) {
    match frac.chars().last().and_then(zh_unit) {
        Some(u) => (int, u as f64),
        None => (int, 1.0),
    }
}

fn weekday_from(c: char) -> Option<Weekday> {
    Some(match c {
        '一' | '1' => Weekday::Mon,
        '二' | '2' => Weekday::Tue,
        '三' | '3' => Weekday::Wed,
        '四' | '4' => Weekday::Thu,
        '五' | '5' => Weekday::Fri,
        '六' | '6' => Weekday::Sat,
        '日' | '天' | '7' => Weekday::Sun,
        _ => return None,
    })
}

const EN_WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

/// Date the callee means: an offset in days from today.
fn day_offset(norm: &str, now: &DateTime<Tz>) -> Option<i64> {
    let today = now.weekday().num_days_from_monday() as i64;
    for (word, d) in [
        ("大后天", 3),
        ("后天", 2),
        ("明天", 1),
        ("明早", 1),
        ("明晚", 1),
        ("明儿", 1),
        ("今天", 0),
        ("今晚", 0),
        ("day after tomorrow", 2),
        ("tomorrow", 1),
        ("tonight", 0),
        ("today", 0),
    ] {
        if norm.contains(word) {
            return Some(d);
        }
    }
    // 下周一 / 下个星期三 / 这周五 / 周六 / 礼拜天
    for marker in ["周", "星期", "礼拜"] {
        if let Some(pos) = norm.find(marker) {
            let after = norm[pos + marker.len()..].chars().next();
            let before = &norm[..pos];
            let next_week = before.ends_with('下') || before.ends_with("下个");
            match after.and_then(weekday_from) {
                Some(wd) => {
                    let target = wd.num_days_from_monday() as i64;
                    return Some(if next_week {
                        7 - today + target
                    } else {
                        let d = (target - today).rem_euclid(7);
                        if d == 0 {
                            7
                        } else {
                            d
                        }
                    });
                }
                None if marker == "周" && norm[pos..].starts_with("周末") => {
                    return Some(
                        (5 - today)
                            .rem_euclid(7)
                            .max(if today == 5 { 7 } else { 0 }),
                    );
                }
                None if next_week => return Some(7 - today), // 下周: next Monday
                None => {}
            }
        }
    }
    for (name, wd) in EN_WEEKDAYS {
        if norm.contains(name) {
            // "monday" or "next monday" said on a Monday is a week on; otherwise the coming one.
            let d = (wd.num_days_from_monday() as i64 - today).rem_euclid(7);
            return Some(if d == 0 { 7 } else { d });
        }
    }
    if norm.contains("next week") {
        return Some(7 - today);
    }
    None
}

/// Hour of a part of the day, and whether the clock hour must be moved past noon.
fn part_of_day(norm: &str) -> Option<(u32, bool)> {
    for (w, h, pm) in [
        ("凌晨", 3, false),
        ("早上", 9, false),
        ("早晨", 9, false),
        ("明早", 9, false),
        ("上午", 10, false),
        ("中午", 12, false),
        ("下午", 15, true),
        ("傍晚", 18, true),
        ("晚上", 19, true),
        ("今晚", 19, true),
        ("明晚", 19, true),
        ("夜里", 21, true),
        ("morning", 10, false),
        ("noon", 12, false),
        ("afternoon", 15, true),
        ("evening", 19, true),
        ("tonight", 19, true),
    ] {
        if norm.contains(w) {
            return Some((h, pm));
        }
    }
    None
}

/// Clock time: 三点, 3点半, 十点一刻, 4点20, 15:30, "at 10", "10am", "3 pm"; the flag says
/// whether am/pm was given.
fn clock(norm: &str) -> Option<(u32, u32, Option<bool>)> {
    let chars: Vec<char> = norm.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c != '点' || i == 0 {
            continue;
        }
        let mut s = i;
        while s > 0 && is_numeral(chars[s - 1]) {
            s -= 1;
        }
        let hour_txt: String = chars[s..i].iter().collect();
        let Some(h) = zh_integer(&hour_txt).filter(|h| *h <= 24) else {
            continue;
        };
        let rest: String = chars[i + 1..].iter().collect();
        let minute = if rest.starts_with('半') {
            30
        } else if rest.starts_with("一刻") {
            15
        } else if rest.starts_with("三刻") {
            45
        } else {
            let m: String = rest.chars().take_while(|c| is_numeral(*c)).collect();
            zh_integer(&m).filter(|m| *m < 60).unwrap_or(0)
        };
        return Some((h as u32, minute as u32, None));
    }
    // English: "at 10", "10am", "3 pm", "at 4 30"
    let words: Vec<&str> = norm.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let (num, suffix) = w.split_at(w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len()));
        let Ok(h) = num.parse::<u32>() else { continue };
        if let Some(rest) = suffix.strip_prefix(':') {
            let (mm, ap) = rest.split_at(
                rest.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len()),
            );
            if let (Ok(m), true) = (mm.parse::<u32>(), h <= 23) {
                let ampm = match ap {
                    "am" => Some(false),
                    "pm" => Some(true),
                    _ => None,
                };
                return Some((h, m.min(59), ampm));
            }
        }
        let next = words.get(i + 1).copied().unwrap_or("");
        let ampm = match (suffix, next) {
            ("am", _) | ("", "am") => Some(false),
            ("pm", _) | ("", "pm") => Some(true),
            _ => None,
        };
        let after_at = i > 0 && matches!(words[i - 1], "at" | "around" | "after" | "by");
        if (ampm.is_some() || after_at) && (1..=12).contains(&h) || after_at && h <= 23 {
            if h > 23 {
                continue;
            }
            let minute = next
                .parse::<u32>()
                .ok()
                .filter(|m| *m < 60 && ampm.is_none())
                .unwrap_or(0);
            return Some((h, minute, ampm));
        }
    }
    None
}

/// Relative offsets: 半小时后, 过二十分钟, 两个小时以后, in 2 hours, in 30 minutes.
fn relative(norm: &str) -> Option<Duration> {
    if norm.contains("半小时") || norm.contains("半个小时") || norm.contains("half an hour")
    {
        return Some(Duration::minutes(30));
    }
    if norm.contains("an hour") || norm.contains("一个钟") {
        return Some(Duration::hours(1));
    }
    for unit in ["个小时", "小时", "个钟头", "分钟"] {
        if let Some(pos) = norm.find(unit) {
            let before: Vec<char> = norm[..pos].chars().collect();
            let mut s = before.len();
            while s > 0 && is_numeral(before[s - 1]) {
                s -= 1;
            }
            let n: String = before[s..].iter().collect();
            if let Some(v) = zh_integer(&n).filter(|v| *v > 0 && *v < 1000) {
                return Some(if unit == "分钟" {
                    Duration::minutes(v as i64)
                } else {
                    Duration::hours(v as i64)
                });
            }
        }
    }
    let words: Vec<&str> = norm.split_whitespace().collect();
    for w in words.windows(3) {
        if w[0] == "in" {
            if let Ok(n) = w[1].parse::<i64>() {
                if w[2].starts_with("hour") {
                    return Some(Duration::hours(n));
                }
                if w[2].starts_with("min") {
                    return Some(Duration::minutes(n));
                }
            }
        }
    }
    None
}

fn at_local(now: &DateTime<Tz>, days: i64, hour: u32, minute: u32) -> Option<DateTime<Tz>> {
    let date = now.date_naive().checked_add_signed(Duration::days(days))?;
    let t = NaiveTime::from_hms_opt(hour, minute, 0)?;
    let tz = now.timezone();
    match tz.from_local_datetime(&date.and_time(t)) {
        LocalResult::Single(at) => Some(at),
        // DST fold: the first occurrence.
        LocalResult::Ambiguous(first, _) => Some(first),
        // DST gap: the wall-clock time does not exist; the same wall time an hour on does.
        LocalResult::None => tz
            .from_local_datetime(&(date.and_time(t) + Duration::hours(1)))
            .earliest(),
    }
}

/// The callback time named in the reply, resolved in `now`'s time zone.
pub fn callback_time(text: &str, now: &DateTime<Tz>) -> Option<CallbackTime> {
    let norm = slot_text(text);
    if let Some(d) = relative(&norm) {
        let at = now.checked_add_signed(d)?;
        let at = at.with_second(0)?.with_nanosecond(0)?;
        return Some(CallbackTime { at, precise: true });
    }
    let day = day_offset(&norm, now);
    let part = part_of_day(&norm);
    let clock = clock(&norm);
    if day.is_none() && part.is_none() && clock.is_none() {
        if ["晚点", "晚些", "一会儿", "等会", "待会", "回头", "later"]
            .iter()
            .any(|w| norm.contains(w))
        {
            let at = now
                .checked_add_signed(Duration::hours(1))?
                .with_second(0)?
                .with_nanosecond(0)?;
            return Some(CallbackTime { at, precise: false });
        }
        return None;
    }
    let (mut hour, mut minute, precise) = match (clock, part) {
        (Some((h, m, ampm)), part) => {
            // Nobody asks to be called back at 2 a.m.: a bare 1..6 o'clock is the afternoon.
            let pm = ampm.unwrap_or_else(|| part.map(|p| p.1).unwrap_or((1..=6).contains(&h)));
            let h = if pm && h < 12 {
                h + 12
            } else if ampm == Some(false) && h == 12 {
                0
            } else {
                h
            };
            (h, m, true)
        }
        (None, Some((h, _))) => (h, 0, false),
        (None, None) => (10, 0, false),
    };
    if hour == 24 {
        hour = 0;
        minute = 0;
    }
    let mut days = day.unwrap_or(0);
    let mut at = at_local(now, days, hour, minute)?;
    if day.is_none() && at <= *now {
        // A bare clock time already past today means the next one: 12 h later when the hour
        // was ambiguous (三点 said at 14:00 is 15:00), else tomorrow.
        if clock.is_some_and(|c| c.2.is_none()) && part.is_none() && hour < 12 {
            at = at_local(now, days, hour + 12, minute)?;
        }
        if at <= *now {
            days += 1;
            at = at_local(now, days, hour, minute)?;
        }
    }
    Some(CallbackTime { at, precise })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2026-11-23 10:15 in Shanghai.
    fn now() -> DateTime<Tz> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, 23, 10, 15, 0)
            .single()
            .expect("a valid unambiguous local time")
    }

    fn cb(text: &str) -> (String, bool) {
        let c = callback_time(text, &now()).unwrap_or_else(|| panic!("no time in {text:?}"));
        (c.at.format("%Y-%m-%d %H:%M").to_string(), c.precise)
    }

    #[test]
    fn mandarin_callback_times() {
        assert_eq!(cb("明天下午三点再打吧"), ("2026-11-24 15:00".into(), true));
        assert_eq!(cb("下周一"), ("2026-11-30 10:00".into(), false));
        assert_eq!(cb("你周五上午打过来"), ("2026-11-27 10:00".into(), false));
        assert_eq!(cb("后天晚上八点半"), ("2026-11-25 20:30".into(), true));
        assert_eq!(cb("半小时后再打"), ("2026-11-23 10:45".into(), true));
        assert_eq!(cb("过二十分钟"), ("2026-11-23 10:35".into(), true));
        assert_eq!(cb("两个小时以后"), ("2026-11-23 12:15".into(), true));
        assert_eq!(cb("礼拜天"), ("2026-11-29 10:00".into(), false));
        assert_eq!(
            cb("十点一刻"),
            ("2026-11-23 22:15".into(), true),
            "10:15 now: the next 10:15"
        );
        assert_eq!(
            cb("三点"),
            ("2026-11-23 15:00".into(), true),
            "3 o'clock said in the morning"
        );
        assert_eq!(cb("晚点再说"), ("2026-11-23 11:15".into(), false));
    }

    #[test]
    fn english_callback_times() {
        assert_eq!(
            cb("call me tomorrow at 10"),
            ("2026-11-24 10:00".into(), true)
        );
        assert_eq!(cb("tomorrow at 3pm"), ("2026-11-24 15:00".into(), true));
        assert_eq!(cb("in 2 hours"), ("2026-11-23 12:15".into(), true));
        assert_eq!(cb("next monday"), ("2026-11-30 10:00".into(), false));
        assert_eq!(cb("this evening"), ("2026-11-23 19:00".into(), false));
    }

    #[test]
    fn time_zone_and_dst_are_respected() {
        // 2026-03-07 12:00 in New York; the next day's 02:30 does not exist (DST starts).
        let ny = chrono_tz::America::New_York
            .with_ymd_and_hms(2026, 3, 7, 12, 0, 0)
            .single()
            .expect("valid local time");
        let c = callback_time("明天下午三点", &ny).expect("time");
        assert_eq!(
            c.at.format("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-03-08 15:00 EDT"
        );
        let gap = callback_time("明天凌晨两点半", &ny).expect("time in the DST gap");
        assert_eq!(
            gap.at.format("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-03-08 03:30 EDT"
        );
        assert_eq!(
            cb("明天两点半").0,
            "2026-11-24 14:30",
            "a bare small hour means the afternoon"
        );
    }

    #[test]
    fn no_time_no_slot() {
        assert_eq!(callback_time("不需要谢谢", &now()), None);
        assert_eq!(callback_time("", &now()), None);
        assert!(
            extract("明天再打", None).callback.is_none(),
            "no now, nothing to resolve"
        );
    }

    #[test]
    fn chinese_numerals_with_elision() {
        assert_eq!(zh_integer("三千五"), Some(3500));
        assert_eq!(zh_integer("一万二"), Some(12000));
        assert_eq!(zh_integer("两百五"), Some(250));
        assert_eq!(zh_integer("一千零五"), Some(1005));
        assert_eq!(zh_integer("十五"), Some(15));
        assert_eq!(zh_integer("二十"), Some(20));
        assert_eq!(zh_integer("3500"), Some(3500));
        assert_eq!(zh_integer("三万五千"), Some(35000));
        assert_eq!(zh_integer("好"), None);
    }

    #[test]
    fn amounts_in_replies() {
        let v = |t: &str| amounts(t).iter().map(|a| a.value).collect::<Vec<_>>();
        assert_eq!(v("一个月三千五太贵了"), vec![3500.0]);
        assert_eq!(v("预算3.5k左右"), vec![3500.0]);
        assert_eq!(v("1.2万能办吗"), vec![12000.0]);
        assert_eq!(v("五百块"), vec![500.0]);
        assert_eq!(v("三点五万"), vec![35000.0]);
        assert_eq!(v("等一下"), Vec::<f64>::new(), "一下 is no amount");
        assert_eq!(v("明天下午三点"), Vec::<f64>::new(), "a time is no amount");
        assert_eq!(v("about 2000 dollars"), vec![2000.0]);
        assert_eq!(
            v("call me tomorrow at 10"),
            Vec::<f64>::new(),
            "a clock time is no amount"
        );
        assert_eq!(v("in 2 hours"), Vec::<f64>::new());
        assert_eq!(v("3pm is fine"), Vec::<f64>::new());
    }
}
