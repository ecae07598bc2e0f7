//! Carrier announcements and voicemail systems, recognised from what the recogniser heard in
//! the first seconds of a call. In Chinese outbound calling many calls never reach a person:
//! the network plays 您拨打的电话已关机 / 是空号 / 正在通话中 / 暂时无法接通 / 已停机, and
//! some carriers and gateways *answer* the call to play it (a "false answer"), so the hangup
//! cause says nothing; a voicemail or call-secretary service answers for others. Each
//! announcement has a fixed wording, so a grammar of its key phrases — with the near-homophones
//! an 8 kHz recogniser produces (关机 → 关级, 空号 → 控号) — places it, and the frame every
//! carrier prompt opens with (您拨打的…, "the number you have dialled") makes the decision safe
//! against a person who happens to say 关机 or 忙.
//!
//! What a person says first on answering (喂，你好 / hello?) carries neither the frame nor a
//! status phrase, so it is never taken for an announcement. Pure; Mandarin and English.

use std::sync::OnceLock;

use regex_lite::Regex;

use crate::outcome::Disposition;

/// What answered instead of a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Announcement {
    /// 您拨打的电话已关机 — the handset is switched off.
    PoweredOff,
    /// 您拨打的号码是空号 — no such number.
    Vacant,
    /// 您拨打的用户正忙 / 正在通话中.
    Busy,
    /// 您拨打的电话暂时无法接通 / 不在服务区.
    Unreachable,
    /// 您拨打的电话已停机 — the line is suspended (unpaid, or closed).
    Suspended,
    /// A voicemail greeting or a call-secretary service (请在提示音后留言, 来电提醒).
    Voicemail,
}

impl Announcement {
    /// The disposition an attempt answered by this gets; the retry policy acts on it.
    pub fn disposition(self) -> Disposition {
        match self {
            Announcement::PoweredOff => Disposition::PoweredOff,
            Announcement::Vacant => Disposition::InvalidNumber,
            Announcement::Busy => Disposition::Busy,
            Announcement::Unreachable => Disposition::Unreachable,
            Announcement::Suspended => Disposition::Suspended,
            Announcement::Voicemail => Disposition::Voicemail,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Announcement::PoweredOff => "powered_off",
            Announcement::Vacant => "vacant",
            Announcement::Busy => "busy",
            Announcement::Unreachable => "unreachable",
            Announcement::Suspended => "suspended",
            Announcement::Voicemail => "voicemail",
        }
    }
}

/// What networks and mailboxes say, in their standard wordings. While a carrier or a mailbox
/// may be the one speaking (early media, and the first seconds after the answer), the
/// recogniser continues these once the audio has begun one from its start (shallow fusion,
/// never started by the bias: see [`crate::asr::bias`]), so that 您拨打的电话已关机 is less
/// often heard as 关级. Each clause counts on its own. Measured, it changes little: the
/// garbles come in the opening itself (人伯父的 for 您拨打的), before any phrase is begun.
pub const BIAS_PHRASES: &[&str] = &[
    "您好，您拨打的电话已关机，请稍后再拨",
    "对不起，您拨打的用户已关机",
    "您所拨打的手机已关机",
    "您拨打的号码是空号，请查证后再拨",
    "您拨打的号码不存在，请核对后再拨",
    "您拨打的号码已注销",
    "您拨打的电话正在通话中，请稍后再拨",
    "您拨打的用户正忙，请稍后再拨",
    "对方正在通话中，请不要挂机",
    "您拨打的电话暂时无法接通，请稍后再拨",
    "您拨打的用户不在服务区",
    "您拨打的电话暂时无人接听",
    "您拨打的电话已停机",
    "您拨打的号码已欠费停机",
    "您拨打的号码已暂停服务",
    "对方已设置呼入限制",
    "机主暂时无法接听您的电话",
    "请在提示音后留言，留言完毕请挂机",
    "请在嘀声后留言",
    "您好，我是机主的来电秘书",
    "欢迎使用语音信箱",
    "the number you dialed is power off",
    "the number you dialed does not exist",
    "the subscriber you dialed is busy now, please redial later",
    "the subscriber you dialed cannot be connected for the moment",
    "please leave a message after the tone",
];

/// The announcement `transcript` is, if it is one.
pub fn classify(transcript: &str) -> Option<Announcement> {
    let t = squash(transcript);
    if t.is_empty() {
        return None;
    }
    let g = grammar();
    let sounds = syllables(&t);
    let wordings = wordings();
    let opened = g.opening.is_match(&t)
        || wordings
            .opening
            .iter()
            .any(|p| heard(&sounds, p, Anchor::Start).is_some());
    // A person talking about the line (我正在通话中, 它老说正忙，请稍后再拨) says the
    // status, even the close, but not the carrier's opening: without the opening such words
    // place no carrier status. Some of what people say rules the carrier out even after what
    // sounds like its opening (你拨的那个号码是空号). (A voicemail greeting is the owner
    // talking: 我在开会，请留言.) What is left of an opening cut off (……号码已, 对方已) and
    // the close frame the words only when no person speaks: people say them too. A person
    // who answers for someone they name by title (陈总的秘书) is no call-assistant service,
    // even when they offer to take a message; nor is one who tells what happened a moment
    // ago or the message they saw (我刚才看到有个语音留言).
    let in_person = g.secretary.is_match(&t) || g.recounted.is_match(&t);
    let person = (!opened && g.person.is_match(&t)) || g.talk.is_match(&t) || in_person;
    let framed = !person && (opened || g.close.is_match(&t) || g.opening_tail.is_match(&t));
    // The status said first: an announcement states it, then offers what can be done about
    // it (已关机，如需留言请按一 is a phone switched off, not a voicemail). Ties go to the
    // order of the list (机主暂时无法接听 is a voicemail, not an unreachable line).
    g.statuses
        .iter()
        .enumerate()
        .filter(|(_, (a, _, _))| !person || *a == Announcement::Voicemail)
        .filter(|(_, (a, _, _))| *a != Announcement::Voicemail || !in_person)
        .filter_map(|(order, (a, strong, weak))| {
            let greeting = (*a == Announcement::Voicemail && !g.casual.is_match(&t))
                .then(|| g.unable_message.find(&t))
                .flatten()
                .map(|m| m.start());
            let strong = strong
                .find(&t)
                .map(|m| m.start())
                .into_iter()
                .chain(greeting)
                .min();
            let weak = framed.then(|| weak.find(&t)).flatten().map(|m| m.start());
            strong
                .into_iter()
                .chain(weak)
                .min()
                .map(|at| (at, order, *a))
        })
        .min_by_key(|&(at, order, _)| (at, order))
        .map(|(_, _, a)| a)
        .or_else(|| {
            // After the opening, what the words sound like: the status whose wording is
            // heard closest.
            framed.then_some(())?;
            wordings
                .statuses
                .iter()
                .filter_map(|(a, phrases)| {
                    let best = phrases
                        .iter()
                        .filter_map(|p| heard(&sounds, p, Anchor::End))
                        .fold(0.0f32, f32::max);
                    (best > 0.0).then_some((*a, best))
                })
                .fold(None, |acc: Option<(Announcement, f32)>, (a, c)| match acc {
                    Some((_, best)) if best >= c => acc,
                    _ => Some((a, c)),
                })
                .map(|(a, _)| a)
        })
        .or_else(|| {
            // Only the close a wrong number gets, 请查证后再拨, by its characters or (after
            // an opening) by sound: what the status was got lost, but it was this one.
            let closes = (!person && g.check_number.is_match(&t))
                || (framed
                    && wordings
                        .check_number
                        .iter()
                        .any(|p| heard(&sounds, p, Anchor::End).is_some()));
            closes.then_some(Announcement::Vacant)
        })
}

/// How an announcement opens, in toneless pinyin: 您拨打的, 您所拨打的. (Its closing 请稍后再拨
/// is matched by its characters only: by sound it is a person's 稍后再打.)
const OPENING_SOUNDS: &[&str] = &[
    "nin bo da de",
    "nin suo bo da",
    "bo da de dian hua",
    "bo da de yong hu",
    "bo da de hao ma",
    "nin hu jiao de",
    "nin suo hu jiao",
    "nin yao zhao de",
];

/// Each status's wordings in toneless pinyin, in the order ties go.
const STATUS_SOUNDS: &[(Announcement, &[&str])] = &[
    (
        Announcement::Voicemail,
        &[
            "ti shi yin hou liu yan",
            "di sheng hou liu yan",
            "liu yan",
            "yu yin xin xiang",
            "lai dian ti xing",
            "wu fa jie ting",
            "mi shu fu wu",
            "yu yin liu yan",
            "liu yan xin xiang",
        ],
    ),
    (
        Announcement::Suspended,
        &[
            "yi ting ji",
            "zan ting fu wu",
            "zan ting fu",
            "ting zhi fu wu",
            "ting ji",
            "qian fei",
            "hu ru xian zhi",
            "xian zhi hu ru",
            "ting zhi shi yong",
            "zan ting shi yong",
        ],
    ),
    (
        Announcement::PoweredOff,
        &[
            "yi guan ji",
            "guan ji",
            "zan shi guan ji",
            "dian yuan wei da kai",
        ],
    ),
    (
        Announcement::Vacant,
        &[
            "shi kong hao",
            "kong hao",
            "hao ma bu cun zai",
            "bu cun zai",
            "hao ma you wu",
            "jia bo chang tu qu hao",
            "bu shi ben di hao ma",
            "yi guo qi",
            "yi zhu xiao",
            "zan wei qi yong",
            "wei shu bu zu",
            "wei shu bu quan",
            "hao ma bu wan zheng",
            "bu wan zheng",
        ],
    ),
    (
        Announcement::Busy,
        &[
            "zheng zai tong hua zhong",
            "tong hua zhong",
            "yong hu zheng mang",
            "dian hua zheng mang",
            "hao ma zheng mang",
            "dian hua mang",
            "yong hu mang",
            "zheng mang",
            "zhan xian",
            "dui fang zheng mang",
        ],
    ),
    (
        Announcement::Unreachable,
        &[
            "zan shi wu fa jie tong",
            "wu fa jie tong",
            "bu zai fu wu qu",
            "fu wu qu",
            "bu neng jie tong",
            "jie bu tong",
            "wu ren jie ting",
            "wang luo mang",
            "wang luo fan mang",
            "wu ren ying da",
        ],
    ),
];

/// 请查证后再拨 and 请核实/核对后再拨, in toneless pinyin.
const CHECK_NUMBER_SOUNDS: &[&str] = &[
    "cha zheng hou zai bo",
    "he shi hou zai bo",
    "he dui hou zai bo",
];

/// A wording counts as heard when its syllables, in order, score at least this share of
/// their number (a syllable heard exactly scores 1, with the same initial or rhyme 0.5).
const SOUND_MATCH: f32 = 0.75;

/// How close `sounds` come to the wording `want` (see [`closeness`]), if close enough to
/// count as heard.
fn heard(sounds: &[Syllable], want: &[Syllable], anchor: Anchor) -> Option<f32> {
    Some(closeness(sounds, want, anchor)).filter(|&c| c >= SOUND_MATCH)
}

/// Which end of a wording must be heard for the rest to count.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Anchor {
    /// An opening starts on its first syllable: 拨打的电话 is the carrier's only if something
    /// like 拨 was heard, and a person's 你是哪个打的电话 is not.
    Start,
    /// A status ends on the status (用户正忙's 忙), or where the audio or the recogniser
    /// stopped short of it (号码有误 heard as 号码有); 用户正在… is not 用户正忙.
    End,
}

/// A syllable as it is compared: its initial and rhyme, with the confusable pairs merged.
#[derive(Debug, PartialEq)]
struct Syllable {
    initial: &'static str,
    rhyme: String,
}

/// [`OPENING_SOUNDS`] and [`STATUS_SOUNDS`] split into syllables, once.
struct Wordings {
    opening: Vec<Vec<Syllable>>,
    statuses: Vec<(Announcement, Vec<Vec<Syllable>>)>,
    /// [`CHECK_NUMBER_SOUNDS`].
    check_number: Vec<Vec<Syllable>>,
}

fn wordings() -> &'static Wordings {
    static W: OnceLock<Wordings> = OnceLock::new();
    W.get_or_init(|| {
        let phrase = |p: &'static str| p.split(' ').map(split_syllable).collect();
        Wordings {
            opening: OPENING_SOUNDS.iter().map(|&p| phrase(p)).collect(),
            statuses: STATUS_SOUNDS
                .iter()
                .map(|&(a, ps)| (a, ps.iter().map(|&p| phrase(p)).collect()))
                .collect(),
            check_number: CHECK_NUMBER_SOUNDS.iter().map(|&p| phrase(p)).collect(),
        }
    })
}

/// The toneless pinyin of the Han characters in `text`, one syllable each; other characters
/// end nothing and add nothing.
fn syllables(text: &str) -> Vec<Syllable> {
    use pinyin::ToPinyin;
    text.chars()
        .filter_map(|c| c.to_pinyin().map(|p| split_syllable(p.plain())))
        .collect()
}

/// The best share of `want`'s syllables a stretch of `sounds` matches, aligned in order: a
/// syllable the recogniser dropped scores nothing, one it added costs [`EXTRA_SYLLABLE`].
/// (`您拨打的号码` heard as `民伯的豪马` still opens an announcement.) The stretch starts or
/// ends on a syllable like `want`'s first or last, as `anchor` says.
fn closeness(sounds: &[Syllable], want: &[Syllable], anchor: Anchor) -> f32 {
    if want.is_empty() || sounds.is_empty() {
        return 0.0;
    }
    // best[j]: the best score of want[..j] aligned to a stretch of sounds ending here (any
    // start: best[0] is always 0). Anchored at its end, before any sound every syllable is
    // dropped, scoring 0; anchored at its start, nothing is aligned until a sound like the
    // first syllable is heard, and that one cannot be dropped.
    let n = want.len();
    let unaligned = match anchor {
        Anchor::Start => f32::NEG_INFINITY,
        Anchor::End => 0.0,
    };
    let mut best = vec![unaligned; n + 1];
    best[0] = 0.0;
    let mut prev = best.clone();
    let mut top = 0.0f32;
    for s in sounds {
        prev.copy_from_slice(&best);
        for j in 1..=n {
            let like = syllable_match(s, &want[j - 1]);
            let first = j == 1 && anchor == Anchor::Start;
            let matched = if first && like == 0.0 {
                f32::NEG_INFINITY
            } else {
                prev[j - 1] + like
            };
            let added = prev[j] - EXTRA_SYLLABLE;
            let dropped = if first {
                f32::NEG_INFINITY
            } else {
                best[j - 1]
            };
            best[j] = matched.max(added).max(dropped);
        }
        match anchor {
            Anchor::Start => top = top.max(best[n]),
            Anchor::End if syllable_match(s, &want[n - 1]) > 0.0 => {
                top = top.max(prev[n - 1] + syllable_match(s, &want[n - 1]))
            }
            Anchor::End => {}
        }
    }
    if anchor == Anchor::End {
        // Or nothing was heard after it: the audio, or the recogniser, stopped short of the
        // last syllable (号码有误 heard as 号码有).
        top = top.max(best[n - 1]);
    }
    top / want.len() as f32
}

/// What a syllable the recogniser added inside a wording costs (a matched one scores 1).
const EXTRA_SYLLABLE: f32 = 0.5;

/// 1 for the same syllable (zh/z, ch/c, sh/s, l/n, f/h and -ng/-n alike, as southern speech
/// and a narrow-band recogniser confuse them: 用户 is heard as 佣妇), 0.5 for the same
/// initial or the same rhyme.
fn syllable_match(a: &Syllable, b: &Syllable) -> f32 {
    match (a.initial == b.initial, a.rhyme == b.rhyme) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.5,
        (false, false) => 0.0,
    }
}

/// Splits a toneless pinyin syllable into its initial and rhyme, merging the confusable
/// pairs.
fn split_syllable(s: &'static str) -> Syllable {
    const INITIALS: &[(&str, &str)] = &[
        ("zh", "z"),
        ("ch", "c"),
        ("sh", "s"),
        ("b", "b"),
        ("p", "p"),
        ("m", "m"),
        ("f", "h"),
        ("d", "d"),
        ("t", "t"),
        ("n", "n"),
        ("l", "n"),
        ("g", "g"),
        ("k", "k"),
        ("h", "h"),
        ("j", "j"),
        ("q", "q"),
        ("x", "x"),
        ("r", "r"),
        ("z", "z"),
        ("c", "c"),
        ("s", "s"),
        ("y", "y"),
        ("w", "w"),
    ];
    let (initial, rest) = INITIALS
        .iter()
        .find(|(i, _)| s.starts_with(i))
        .map_or(("", s), |(i, merged)| (*merged, &s[i.len()..]));
    let rhyme = match rest.strip_suffix("ng") {
        Some(stem) if !stem.is_empty() && stem != "o" => format!("{stem}n"),
        _ => rest.to_string(),
    };
    Syllable { initial, rhyme }
}

/// Lower case, without spaces between Han characters and without punctuation; English words
/// keep one space between them.
fn squash(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        if c.is_alphanumeric() || c == '\'' {
            s.push(c);
        } else if s.ends_with(|p: char| p.is_ascii_alphanumeric()) {
            s.push(' ');
        }
    }
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // Drop a space unless it separates two Latin-script words.
        if c == ' '
            && !(i > 0
                && chars[i - 1].is_ascii_alphanumeric()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric()))
        {
            continue;
        }
        out.push(c);
    }
    out.trim().to_string()
}

struct Grammar {
    /// How a carrier prompt opens: 您拨打的 and what a recogniser makes of it, "the number
    /// you have dialled", "the subscriber you".
    opening: Regex,
    /// What is left of an opening cut off at its start (……号码已, 对方用户), which people
    /// say too: it frames only when no person speaks.
    opening_tail: Regex,
    /// How it closes (请稍后再拨, 请核实后重新拨打, 请咨询10086, 如需帮助请拨打客服热线,
    /// 请挂机, 请不要挂机, 将以短信方式通知机主, 本次来电…), which marks it when its opening was cut off; and what
    /// only a recording opens with before its status (温馨提示, at the start: a person jokes
    /// 温馨提示一下), which marks it the same way.
    close: Regex,
    /// A person speaking of the line: 我 with what they are doing or are (我正在…, 我手机…,
    /// 我不是…), what somebody or something said (它老说…, 不是说…), 是不是, 你们, a
    /// question (什么, 怎么), the particles (吧, 呢, 啊) no recorded prompt ends a clause
    /// with, what happened a moment ago (刚才), a condition (…的话) and a call back (打给你,
    /// 再拨给我: a carrier says 请稍后再拨).
    person: Regex,
    /// What only people say, even after what sounds like the opening: 那个 (a recorded prompt
    /// says 该, 此), and 喂 first (heard as 为, or 唯 but not 唯一, which 已经 is heard as too): a recording never opens with it, a person
    /// picking up does, even one reciting the carrier's words as a joke. So do 你拨打的 at the
    /// start, after at most 你好 (a carrier says 您: no announcement of the development sets
    /// was heard with 你 there, 11 people reciting one were; later in the text it is left
    /// alone, for a close such as 请您拨打 heard as 请你拨打), 你们, 骗子 (片子), 别打了, a
    /// laugh, 开玩笑, and an offer of help (需要我帮您留个言吗: a front desk, or an
    /// assistant app, which may still be a voicemail).
    talk: Regex,
    /// Somebody's secretary or assistant named by their title (陈总的秘书, 王经理的助理): a
    /// person, where a service says 机主的秘书 or 智能助理.
    secretary: Regex,
    /// What happened a moment ago (刚才), or a message the speaker saw or got (看到有个语音
    /// 留言): a person telling it, where a greeting speaks of now and of the message to come.
    recounted: Regex,
    /// (announcement, phrases that decide alone, phrases that decide after the frame: the
    /// opening, or the close or an opening's tail when no person speaks).
    statuses: Vec<(Announcement, Regex, Regex)>,
    /// 请查证后再拨, the close of a wrong number's announcement: vacant when no status was
    /// heard (a status heard before it decides: 该号码已停止使用，请查证后再拨 is suspended).
    check_number: Regex,
    /// An owner's greeting that says they cannot take the call and asks for a message or
    /// promises to call back (这会儿接不了电话，有事儿留个言, 没空听电话…回你), or asks for a
    /// message in the owner's words (有事体留个言, 有么事留个言); or a shop's
    /// or an office's after-hours message, which says it is closed, then when it is open
    /// (现在是下班时间，我们的营业时间是…). A person who picked up may
    /// say as much: it counts only without the particles 吧 and 呢 a person talks with and a
    /// recording does not (我开会呢，没法接电话，你微信留个言吧). After 没法接电话, which people
    /// say more, only 有事…留个言 decides (你先留个言 is a person's).
    unable_message: Regex,
    /// What keeps `unable_message` from deciding.
    casual: Regex,
}

fn grammar() -> &'static Grammar {
    static G: OnceLock<Grammar> = OnceLock::new();
    G.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("announcement pattern compiles");
        // 拨打 is often heard as 拔打, 波打, 播打; 您 as 你; 的 as 得; others say 您拨的,
        // 您所拨叫的, 您要找的用户 (heard as 民调找的), 该号码 (对方用户, which people say too,
        // is an `opening_tail`). A carrier also closes with 请稍后再拨, 请查证后再拨 or
        // 请核实后重新拨打 (which a person picking up says as 等会再打, if at all), or sends the
        // caller to its hotline (请咨询10086, heard as 请自选20086): an announcement whose
        // opening was cut off still has its close.
        let opening = re(
            r"(您|你|宁|年|棉|面|人|嫩|能|名|明|民|敏)(所)?(拨|拔|波|播|博|扑|薄|剥|伯|佛|泊)((打|达|大|搭|叫|教)(的|得|地)?|的)|(您|你)(所)?呼叫的|(呼|乎|胡|忽)(胶|较|脚)的(用户|号码|电话)|(您|民|名)普通的(电|天|店|号|后|用|手)|(该|改)用户|找的用户|要找的(电话|号码)|(该|改)(号|后|豪)(码|马|妈)|the (number|subscriber|person|mobile|customer|party) (you|that you)|you (have )?(dialed|dialled|called)",
        );
        // What is left when the start was cut off: 号码已 or 用户已 at the very start, after
        // at most one syllable and a cut-off 的 or 拨的 (a person says 这号码已经… and
        // 号码以前…, which a carrier's 已 is not heard as), 对方用户 anywhere.
        let opening_tail = re(
            r"^.?(拨|播|波|报|博)?(的|得)?((号|后|豪|浩)(码|马|妈|麻)|(用|佣)(户|乎|胡|呼)|(电|店)(话|化))((已|也|己|亦|议)([^经]|$)|以([^经前]|$))|(对|推|退|队)(方|芳)(用户|电话|号码|手机)|对方(已|以|与|正在|通话)",
        );
        let close = re(
            r"(后|候|货|侯)(再|在|重新)(拨|播|波|薄|博|伯|补)|(咨询|资讯|自选|致电|请拨)(1|一|2)?(0|零)(0|零)?(8|八)(6|六)|(如需|如是|如许|如须)帮助|(请|情|秦|亲)(您)?(挂|刮|瓜|拐)(机|接|紧|鸡|级|子|脊)|(请|情)(勿|务)重复(拨|波|伯|播)|查号请(拨|播|波)|(短信|短线).{0,4}(通知|告知)(机|基|鸡|积|记|其|集)(主|础|住)|以(短信|短线)(方式|形式)|本次(来电|来点|来店)|请不要(挂|刮)(机|记|鸡|级)|^.{0,4}(温|文|问|稳)(馨|心|信|新|星|竞|静|先|鲜|仙)(提|题)(示|是|事|设)([^一]|$)|(后|候)制补|感谢(您|你)的(耐心|内心|耐性)等(待|带)|(客服|克夫|科夫|可夫)(热|乐|勒)(线|宣|现)",
        );
        let person = re(
            r"(我|俺)(正|在|现在|刚|已经|手机|电话|这边|这儿|这里|今天|一会|等会|是|不是|不在|没)|(老|总|都|就|还|又|一直|他|她|它|家|边|面|示|音|是|那)说|是不是|你们|你说|听不(清|见|到)|什么|怎么|[吧呢啊呀啦哦]|刚才|港才|的话|(拨|打)给(你|您|我)",
        );
        // (status, its canonical wording, which decides alone; its near-homophones as an 8 kHz
        // recogniser writes them, by syllable — 已 yi, 关 guan, 机 ji, 停 ting, 空 kong, 号
        // hao, 忙 mang, 无法 wufa, 区 qu — which decide only after the frame).
        let statuses: [(Announcement, &str, &str); 6] = [
            (
                // First: a voicemail greeting also says 暂时无法接听. An owner's greeting says
                // they cannot take the call (接不了电话, 没空听电话, 冒得空接电话; 不方便接 is
                // a person's), then asks for a message or promises to call back: that is
                // `unable_message`, and so is a desk or shop nobody is at that asks (请) for a
                // message or WeChat or says *we* call back (a person there says 我回你). A
                // service speaks of the owner (机主看到来电后会给您回电).
                Announcement::Voicemail,
                r"(提示音|信号音|(嘀|滴|敌|底|笛|哔|嘟)(声|生|升))(后|之后)?(开始)?(留言|录音|请讲|讲话)|请在.{1,4}(后|之后)(留言|流言)|(留言|流言|录音)结束|(语音信箱|语音留言|来电提醒|留言服务|秘书服务|语音秘书)|(机|基|鸡|积|记|其|集)(主|础|住).{0,6}(不方便|无法|不能|不在|没法|正忙)|(机|基|鸡|积|记|其|集)(主|础|住)(正在|现在|正)(有点|有些)?(开会|忙|吗|盲|嘛)|(机|基|鸡|积|记|其|集)(主|础|住).{0,3}(正在|正)(开会|忙|盲)|请说出(您|你)的|请在.{1,4}(声|身|生|音|上)(后|之后)|(有|由|又|友)(事|是|时)(请|情)?(留言|流言|留个话|留个言)|(嘀|滴|笛|哔|嘟|第)一(声|生|升)(以后|之后|后)|(您|你)?可以(给.{1,2})?(留言|流言)|(请|情)(您)?(留言|流言)|请留下(您|你)的|请(留下|楼下|流下)(您|你)?的?(姓名|性命|名字|电话)|留下(您|你)?的?(姓名|名字|电话)|(来电|来店|来点|来垫|通话|语音|智能)((秘|迷|密|溺|蜜)(书|属|素|数)|助理|助力|助手|住手)|(机|基|鸡|积|记|其|集)(主|础|住)的.{0,4}(秘书|迷书|助理|助力|助手|住手)|(来电|来店|来点)(事|是)由|小秘书|非工作(时间|事件)|秘书台|留言信箱|留言(将|会)(被)?(自动)?保存|(音|因)(后|之后)(留言|流言)|(接听|接线)(助理|助力|助手|秘书)|(机|几|其|基)(主|组)看到(来电|来点|来店)|开通.{0,6}(秘|迷|密)(书|秀|属)|(leave|record) (a|your) message|after the (tone|beep)|voice ?mail|not available to take your call|mailbox",
                r"留言|流言|(无法|不方便|不能)接听|呼叫(转移|专议|转议)|(短信|短线).{0,4}通知(机|基|鸡|积|记|其|集)(主|础|住)|(基|其|鸡|积)主.{0,6}(不方便|无法|不能|不在)|message|mailbox",
            ),
            (
                // Before "vacant": 已停机 announcements often add 或 是空号.
                Announcement::Suspended,
                r"已停机|(停机|停止)(保号|保候|保好)?状态|停机保号|处于(停|挺)(机|止|级)|停止使用|(暂停|停止)服务|(has been|is) (suspended|barred|disconnected)|骚扰拦截|来电已被拦截|(来电|来点|来天|来店|来垫)(已|以|一)(被|北)对方.{0,16}(拦|兰|蓝|栏|屏蔽|骚扰|萨莱)",
                r"(已|以|己|一|与|意)(停|挺|听|庭|亭)(机|级|鸡|起|止|记|几|及|接|进|击)|(拦|蓝|兰|栏)(截|节|结|接)|(暂|赞|站|餐|沾|占|停|三|散)(停|厅|听|挺|止|天)(服|福|复|赋|使用)|(已|以|一|也)(暂|赞|站|占)(停|听|厅|挺)|(停|挺)(机|级)|(欠|千|牵|前)费|(已|以)(欠|千|签|牵|前)(费|世|席|废)|(呼入|呼叫)(限制|受限)|(已|以|一)(被|北|背|倍)(限|闲|先|线)(制|着|至|止|去)|(呼|忽|胡)入(限|线)(制|者|止|至)|限制呼入|(实名|失明|使命|实明)(登记|等级|认证)|(拒接|句戒|拒绝|字节).{0,2}(陌生|莫生)|(呼叫|呼脚|呼教)被限制|suspended|barred",
            ),
            (
                Announcement::PoweredOff,
                r"已关机|电源未(打开|开启)|(is|has been) (switched|turned|powered|power) off",
                r"(已|以|己|一|与|意|亦)(经|尽|进)?(关|观|管|官|光)|(关|观|管)(机|级|鸡)|(电|殿|店|垫)(源|人|元|原|园|面)(未|位|为|味|没有|没)(打开|开启|开)|(机|鸡)(关|观|管)(节|键|件)|switched off|turned off|powered? off",
            ),
            (
                Announcement::Vacant,
                r"(号|后|豪|浩)(码|马|妈|麻)不存在|新(号|后|豪)(码|马)请(拨|播|波)|请在(号|后|豪)(码|马|妈)前(加|夹|佳)(拨|播|波)|(does not|doesn't) exist|not (in service|a valid number)|no longer in service|not been allocated",
                r"(是|为|事|市|时)?(空|控|孔|公|恐)(号|好|浩|豪|耗|后)|(已|以|一)(改|概|盖)(号|好)|(新|信|行)(号|后|豪)(码|马)(是|水)|不存在|有误|(暂|三|赞)?(未|位|味|为)(启|起|器)(用|勇)|(已|以|与)(过期|注销|失效)|(已|以|与)(注|助|主|住)(销|效|消|校)|长途区号|(加|夹|佳)(拨|播|波|柏).{0,4}(区|曲|去|出)(号|好|后)|不完整|国际长途|国家代(码|马)|不正确|(位|为|味)数(不|目|部)|不是本地|invalid|not recognized|check the number",
            ),
            (
                Announcement::Busy,
                r"正在通话中|用户正忙|线路(全|圈)?(忙|繁忙)|为(您|你)继续(呼|胡)(叫|教|较|脚)|(is|are) (busy|on another call)|line is busy",
                r"正在通话|(在|再)通话|(准|正|整)备通话|用户.{0,2}(忙|盟|蒙|吗|么|码)|分(机|辨|子|鸡|析|寂|级|集|几).?(忙|盲|吗|嘛|盟|蒙)|(号|豪)(码|马|妈)(忙|盲|妈)|(正|在)忙|(佣|用)(婚|昏|魂|混)|通话(中|钟)|占线|(讲|战|站)(险|线)|占(险|先)|忙|盲|busy|another call|engaged",
            ),
            (
                Announcement::Unreachable,
                r"无法接通|不在服务区|(呼叫|胡脚|呼教).{0,4}无法完成|暂时无法完成|(cannot|can't|could not) be (reached|connected)|is (unavailable|not reachable|out of (the )?(service|coverage) area)",
                r"(无|吴|五|舞|15|5)法(接|结|节|连)(通|同|痛)?|(不能|没法)(接通|打通|联通)|接不通|无(人|论|任|仁|伦)(接|阶|街|节|界|借)(听|庭|停|厅)|(网|往|忘|望)(络|路|落)(忙|(繁|翻|凡|烦)(忙|盲|芒)|拥塞)|无(人|论|任|仁|伦)?(应|英|阴|因|音)(答|的|达|打)|(在|再)?(境外|国外|漫游)|(不|部)(在|再)(服|福)(务|物|无)(区|去|曲)|(不|部|波)(在|再)(服|福)(务|物|无|州)|国际(漫|脉|慢|满)|服务区|unavailable|not (available|reachable|responding)|cannot be|try again later|out of (range|coverage)",
            ),
        ];
        Grammar {
            opening,
            opening_tail,
            close,
            person,
            talk: re(
                r"那个|^喂|^唯([^一]|$)|^为[^空控孔公恐数]|^.{0,3}你所?(拨|拔|波|播|博|扑|薄|剥|伯|佛|泊)|你们|骗子|片子|别打了|哈哈|开玩笑|(需要|要)我(帮|给|替)(您|你)",
            ),
            secretary: re(
                r"(总|经理|老板|主任|老师|局长|院长|医生|律师)的(秘书|迷书|助理|助力|助手)",
            ),
            recounted: re(
                r"刚才|港才|(看到|收到|听到)(有|了)?(个|条|一条)(语音)?(留言|流言)",
            ),
            statuses: statuses
                .iter()
                .map(|&(a, strong, weak)| (a, re(strong), re(weak)))
                .collect(),
            check_number: re(r"(查证|查正|核实|核对|查对|查询|何对|何时|和实|核时|和对)((号|好|后|豪)(码|马|妈))?(后|候|号|以后|之后)?(再|在|仔|重新|重)(拨|播|波|薄)|查帐号(再|在)(拨|播|波|薄)|请查.(后|候)(再|在)(拨|播|波|薄|补)|(号|豪)(码|马)(后|以后|之后)重新(拨|播|波|薄)(打|达|大)"),
            unable_message: re(
                r"((接|整|截)(不|布)(了|到|上)|没空(接|听)|(得|德)(空|控)(接|街)|听不到)(电话|天花|店话|电化).{0,24}((留|六|溜|流|刘|榴)(个|下|阁|够)?(言|烟|元|话|盐|颜|爷)|微信|回(你|您)|给(你|您)回|回电|回过去)|(没法|没办法)(接|听)(电话|天花|店话|电化).{0,24}(有|由|又|友).{0,3}(留|六|溜|流|刘|榴)(个|下|阁|够)?(言|烟|元|盐|颜|爷)|(有|由|又|友)(么|吗|啥)?(事|是|时)(体|儿)?(请|情)?(留言|流言|留个话|留个言|留个眼|(六|刘|榴|溜)(个|阁)(言|颜|爷|眼))|(下班|非营业|非工作|非办公|非(营|工|办).)(时间|事件).{0,6}(营业|办公|工作|上班)时间|(前台|店里|办公室|公司)(暂时|现在|目前)?(没人|没有人|无人).{0,24}(请.{0,6}(留言|流言|微信)|我们.{0,8}回(你|您))",
            ),
            casual: re(r"[吧呢]"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Announcement::*;

    #[test]
    fn carrier_announcements_are_placed_by_their_status() {
        let cases = [
            ("您拨打的电话已关机。", PoweredOff),
            (
                "您好，您拨打的电话已关机，请稍后再拨。Sorry, the number you dialed is power off.",
                PoweredOff,
            ),
            ("您拨打的号码是空号，请查证后再拨。", Vacant),
            ("您拨打的用户正忙，请稍后再拨。", Busy),
            ("您拨打的电话正在通话中，请稍后再拨。", Busy),
            ("您拨打的电话暂时无法接通，请稍后再拨。", Unreachable),
            ("您拨打的用户不在服务区。", Unreachable),
            ("您拨打的电话已停机。", Suspended),
            (
                "您好，机主暂时无法接听您的来电，请在提示音后留言。",
                Voicemail,
            ),
            ("The number you have dialled is not in service.", Vacant),
            (
                "The subscriber you have dialled cannot be reached at the moment.",
                Unreachable,
            ),
            ("Please leave a message after the tone.", Voicemail),
            // Other carriers' and regions' wordings.
            ("对不起，您拨打的电话占线，请稍后再拨。", Busy),
            ("Sorry, the number you have dialled is engaged.", Busy),
            ("您拨打的号码有误，请查证后再拨。", Vacant),
            ("您拨打的电话已欠费，请稍后再拨。", Suspended),
            ("您拨打的用户已设置呼入限制。", Suspended),
            ("您拨打的电话暂时不能接通。", Unreachable),
            (
                "The mobile phone you dialed is out of coverage.",
                Unreachable,
            ),
            // The status is said first, then what can be done about it.
            (
                "您拨打的号码已关机，如需留言请按一，我们将以短信形式通知机主。",
                PoweredOff,
            ),
            ("您拨打的号码已暂停使用，请查证后再拨。", Suspended),
            ("您拨打的电话暂时无人接听，请稍后再拨。", Unreachable),
            ("对不起，网络忙，请稍后再拨。", Unreachable),
            ("您拨打的号码不是本地号码，请加拨长途区号。", Vacant),
            ("对不起，本次呼叫无法完成，请稍后再试。", Unreachable),
            ("对方用户忙，请稍后再拨。", Busy),
            ("您所拨叫的号码已关机。", PoweredOff),
            ("您好，您拨打的号码暂未启用，请核实后重新拨打。", Vacant),
            ("您拨的是空号。", Vacant),
            ("您拨叫的号码，目前处于停机保号状态。", Suspended),
            ("对不起，您的呼叫暂时无法完成，请稍后再试。", Unreachable),
            ("……话已停机，如有疑问，请咨询一零零八六。", Suspended),
            (
                "您拨打的手机已关机，如需开通来电提醒服务，请按一。",
                PoweredOff,
            ),
            // Greetings recorded by the owner or played by a call assistant.
            ("你好，我现在不方便接听电话，有事请留言。", Voicemail),
            ("您好，机主现在正忙，您可以留言，我会转告给他。", Voicemail),
            ("你好，我是机主的来电秘书，他现在不方便接电话。", Voicemail),
            ("您好，请留下您的姓名和电话，嘀声后开始录音。", Voicemail),
            ("您好，我是机主的智能助理，他现在不方便接听。", Voicemail),
            (
                "你好呀，我是小艺来电助手，主人现在有点忙，需要我帮你转告吗？",
                Voicemail,
            ),
            (
                "您好，这里是来电秘书，机主正在开会，请留下姓名和事由。",
                Voicemail,
            ),
            (
                "您好，现在是非工作时间，请在工作时间来电或留言。",
                Voicemail,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(classify(text), Some(want), "{text}");
        }
    }

    #[test]
    fn what_an_8k_recogniser_makes_of_them_is_still_placed() {
        // The close of an announcement whose opening was cut off: 请稍后再拨.
        assert_eq!(classify("而是电话以关机。\n请消候再薄。"), Some(PoweredOff));
        // Heard by sound before a wording found by its characters: 该号码已停止使用, then
        // 请查证后再拨.
        assert_eq!(
            classify("该号码也听这使用。\n请查证后再播"),
            Some(Suspended)
        );
        // 欠费 heard as 千费 is said before 查证后再拨, which alone would say vacant.
        assert_eq!(
            classify("年薄大的用户以千费停止,请查证后再播。"),
            Some(Suspended)
        );
        // Heard by the development sets' recogniser (8 kHz), with what was said.
        let heard = [
            // 您拨打的号码暂未启用，请核实后重新拨打
            ("您好您拨打的号码三位起用,请喝适合同性拨打。", Some(Vacant)),
            ("人佛的号码,稍微使用。\n请何时后重新播大。", Some(Vacant)),
            // 您拨打的号码有误，请核对后重新拨打
            ("人波达的豪魔佑\n请何对后重新播打。", Some(Vacant)),
            // 您拨的是空号: 空号 alone is what a person says of another number, so it
            // needs the opening (念玫的 is too far from 您拨的).
            ("年薄的是空后。", Some(Vacant)),
            ("念玫的时空号", None),
            // ……号码已注销，请查询后再拨; 您拨的号码有误，拨打国际长途请先拨零零加国家代码;
            // 号码不正确; 号码位数不全
            ("阿浩马以助效,请他宣候在博。", Some(Vacant)),
            (
                "面波的后码油\n波大国际长途请先波00加国加代马。",
                Some(Vacant),
            ),
            ("民伯打的后马不正确。", Some(Vacant)),
            ("您播叫的号码为数目前。", Some(Vacant)),
            // 目前处于停机保号状态; ……话已停机，如有疑问，请咨询一零零八六
            ("年后年波就的后马,目前处于停止保候状态。", Some(Suspended)),
            ("话一停止\n都由以外\n请自选20086", Some(Suspended)),
            // blind10's: 您拨打的用户暂时关机 (用户 with 暂 is not 用户忙); 您拨叫的号码有误，
            // 请查证后再拨; 本公司已搬迁，此号码已取消，查询新号码请拨一一四; 您呼叫的分机忙，
            // 请稍后再拨，查号请拨零; ……用户已停机，请挂机; 您呼叫的用户已开启骚扰拦截
            ("您拨打的用户暂时关系。", Some(PoweredOff)),
            ("面部就得号码有户,请查证号仔播", Some(Vacant)),
            (
                "本公司以半钱\n只后马一曲销。\n他选新号码请播一一次。",
                Some(Vacant),
            ),
            ("您呼叫的分析吗?请稍后再拨查号请拨领。", Some(Busy)),
            ("我用乎以停机,请挂紧。", Some(Suspended)),
            ("用户以停接,请刮接。", Some(Suspended)),
            ("凝乎叫的用户,以开启骚扰蓝节。", Some(Suspended)),
            // blind11's: 已关机，您呼叫的电话已关机 (已关 and anything, after the frame);
            // ……的用户已暂停服务，请挂机; ……已转入语音信箱，系统将以短信方式通知机主您的来电
            ("以关锬,您胡叫的电话以关锬。", Some(PoweredOff)),
            ("您付教的电话与关切。", Some(PoweredOff)),
            ("而的用户以赞听服务。\n秦瓜子", Some(Suspended)),
            (
                "以普通有音信象。\n西统将一短信方使。\n通知基主任的来点。",
                Some(Voicemail),
            ),
            // 用户正忙 heard as 佣婚; 不在服务区 as 波在福州; 正在国际漫游 as 国际脉; ……电话已欠费停机
            ("民伯达的佣婚。\n请消候再播。", Some(Busy)),
            ("阿波在福州\n请消候再拨", Some(Unreachable)),
            ("您波达的永富正在国际脉。", Some(Unreachable)),
            ("而电话已,前废停机。", Some(Suspended)),
            ("而用呼以停进", Some(Suspended)),
            // Owners' greetings: 喂，我是大刚，这会儿整不了电话，有啥事儿留个言，完事儿我给你回;
            // 现在没空接电话，有事留言哈; 现在忙紧听不到电话，有事留言啦
            (
                "为我是大纲,这会儿整不了电话,有啥事留个言,完事儿我给你回。",
                Some(Voicemail),
            ),
            (
                "喂 我是小力\n现在没空接电话\n由是六言哈\n回头打几年",
                Some(Voicemail),
            ),
            (
                "唯一我虚阿强啊,现在忙紧听不到电话。\n油水溜烟了, 1天大饭给你。",
                Some(Voicemail),
            ),
            // 已暂停服务; 因欠费已暂停服务; 已欠费; 该号码已停止服务
            ("年波达的电话以三听复,新年消货在波。", Some(Suspended)),
            ("年波达的后马云千世亦沾天赋。", Some(Suspended)),
            ("敏波达的用户以签席", Some(Suspended)),
            ("而后马以赞金服。\n请消候在博。", Some(Suspended)),
            ("对不起,改后马以听着服务谢谢。", Some(Suspended)),
            // 您拨打的手机已关机，如需开通来电提醒服务…; 您要找的用户已关机; 对方已关机
            (
                "您好您拨打的手机关节,如需开通来电提醒服务,请按你。",
                Some(PoweredOff),
            ),
            ("对不起,民调找的用户以关机,请稍后再联系。", Some(PoweredOff)),
            (
                "年后地方以关注。\n形用其他方式联系或消候再薄。",
                Some(PoweredOff),
            ),
            // ……用户不在服务区，请稍后再拨; 您的呼叫暂时无法完成
            ("而用户不在服务去,请消候在博。", Some(Unreachable)),
            (
                "对不起,您的胡脚暂时无法完成,请稍后再试。",
                Some(Unreachable),
            ),
            // 小艺来电助手; 有事请留言; 来电秘书; 机主正在开会，请留下姓名; 机主的智能助理;
            // 留下名字和电话
            (
                "你好呀,我是小鱼来店住手。主人现在有点忙,需要我帮你传高吗?",
                Some(Voicemail),
            ),
            (
                "嗨,我是王妮,\n现在没法接电话。\n由事情留言,我看到会紧快回你。",
                Some(Voicemail),
            ),
            ("名号\n这里是来点秘书", Some(Voicemail)),
            ("你好\n我似自己的来点迷属。", Some(Voicemail)),
            ("始祝正在开会。\n请楼下姓名和室友", Some(Voicemail)),
            ("然后\n我是基础的聚能助理。", Some(Voicemail)),
            (
                "你好,我是小王,现在不在手机旁边,留下名字和电话,我回头打给你。",
                Some(Voicemail),
            ),
            // blind3, once measured blind: ……号码不存在，请查证后再拨; 无人接听; 来电秘书
            ("而喉麻不存在。\n请查正后再补。", Some(Vacant)),
            ("民伯打的电话无论阶厅。", Some(Unreachable)),
            ("你好\n这里是来点溺素。", Some(Voicemail)),
            // 您呼叫的分机忙: 忙 heard as 吗, as in 用户正吗
            ("名呼叫的分辨吗?", Some(Busy)),
            ("民后教的分子嘛。", Some(Busy)),
            // blind4, once measured blind: 号码…已注销，请核实后重新拨打; ……号码已暂停服务
            // (cut off: what is left of the opening frames it); 来电秘书…请说出您的姓名和
            // 来电事由; 机主的智能助理…机主不方便接听
            (
                "您播达的号码1873095-66602助小\n请何时候重新拨打。",
                Some(Vacant),
            ),
            ("后妈也赞听父母", Some(Suspended)),
            ("2号码以赞听服", Some(Suspended)),
            (
                "您好,将你书记者的来点迷驯。\n请说出年的姓名何来电是由。",
                Some(Voicemail),
            ),
            (
                "你好\n我是基主的智能助力小异。\n集主不方便接庭。\n有什么需要转达的吗?",
                Some(Voicemail),
            ),
            // blind5, once measured blind: ……号码不存在，请核对后再拨; 号码位数不足，请核对
            // 号码后重新拨打; 科室电话正忙; ……酒店前台线路全忙; 该用户已设置呼入限制，暂时无法
            // 接听; 有事留言哈
            ("然后马不存在,前何堆后制补?", Some(Vacant)),
            ("您拨打的号码威术部组,请何对号码后重新拨打。", Some(Vacant)),
            ("你好\n您播达的科事电话这么?\n请消后再拨。", Some(Busy)),
            ("而舅店前台线路全忙,请稍后活稍后员。", Some(Busy)),
            (
                "对不起,改用户以设置忽入线者,三十无法接听您的来点。",
                Some(Suspended),
            ),
            (
                "为我是小王,现在没空接电话,有时留言哈,回头给你打过去。",
                Some(Voicemail),
            ),
            // 用户正在国际漫游: 用户正在… is not 用户正忙 (the status's last syllable unheard)
            ("您不答的用户正在国之万有。", None),
            // 号码有误 with its last syllable lost
            ("对不起\n您拨打的电话号码有。", Some(Vacant)),
            // blind6, once measured blind: 号码已注销，请核对号码后再拨; 对方通话中; 听到嘀一声
            // 以后，慢慢说吧
            (
                "准境的用户,\n您拨打的后码以助手。\n请何对好马后再拨。",
                Some(Vacant),
            ),
            ("保健\n对方通话中\n您可以发送短信通知对方。", Some(Busy)),
            // (有事您留个话, the owner's, is what a suspicious person says too: 有事你留言.)
            (
                "为我是开小脉部的老王,现在不在店里,有时您留个话,回来给您回过去。",
                None,
            ),
            (
                "这是脑里家\n家里没人\n有啥事儿听到第一生以后,慢慢说吧。",
                Some(Voicemail),
            ),
            // blind7, once measured blind: 用户目前在境外，暂时无法接通 (用户目 is no 用户忙);
            // 分机无人接听; 网络繁忙，您的呼叫暂时无法完成
            ("很抱歉\n您拨打的用户目前再境外。", Some(Unreachable)),
            ("民播大的分子无论界厅。", Some(Unreachable)),
            (
                "文信提示,网路繁忙,您的呼叫暂时无法完成,请稍后再播。",
                Some(Unreachable),
            ),
            // blind8, once measured blind: 请在提示音后留言，挂机后留言将自动保存; 机主…我是他的
            // 接听助理
            ("而信在启虚音后留言,刮击后留言将自动保存。", Some(Voicemail)),
            ("名后,极度在休息。\n我是他的接听助理。", Some(Voicemail)),
            // blind9, once measured blind: 您拨打的号码有误，请核对后再拨; 号码位数不足，请核实
            // 后再拨 (核实 heard as 何修); ……已暂停服务，如需帮助请拨打客服热线 (its close);
            // 因未完成实名登记，已暂停通信服务; 您拨打的 heard as 人泊的
            ("保险念柏大大后码绿云。\n请和对后再拨谢谢。", Some(Vacant)),
            (
                "尊敬的客户,您波达的电话浩马威修普通,请何修后再拨。",
                Some(Vacant),
            ),
            ("而占停服务\n如是帮助请柏打克夫乐线。", Some(Suspended)),
            ("保健,您不打的用户因为完成失明登记。", Some(Suspended)),
            ("人泊的喉咙,\n有920 宝物1377 四亿停机", Some(Suspended)),
            // blind12, once measured blind: ……拨的号码已关机 (cut off in the opening); 您呼叫的
            // 虚拟号码已失效; 机主已开通呼叫转移秘书服务; 现在冒得空接电话，你留个言咯，等下回你
            ("而播的后马已关节。", Some(PoweredOff)),
            ("预报的号码以关注。", Some(PoweredOff)),
            (
                "您呼叫的虚拟号码以失效。\n行通过其他方式联系对方。",
                Some(Vacant),
            ),
            ("你好\n其中一开通呼叫团秘秀服\n清理诺呀", Some(Voicemail)),
            (
                "为我去小榴阁,现在马俄德空街电话,你榴阁言歌等下回你。",
                Some(Voicemail),
            ),
            (
                "喂,我是小柳哥。\n现在冒德控接电话。\n你六个言歌,等下回你。",
                Some(Voicemail),
            ),
            // blind14, once measured blind: 您所拨打的号码忙; 您拨打的号码不完整，拨打长途请加拨
            // 区号; ……号码已经注销，请查证后再拨; ……暂时无人接听 (无法接听 by sound is a
            // voicemail's); 因欠费已暂停服务; 该用户已设置拒接陌生来电，您的呼叫被限制; 我是机主
            // 的来电秘书; 已开启呼叫转移，机主看到来电后会尽快给您回电; 没空听电话
            ("回不起\n您所拨打的号妈妈。\n请稍后再拨。", Some(Busy)),
            (
                "保健\n您拨打的号码不完整。\n波达长途请佳波曲号。",
                Some(Vacant),
            ),
            ("阿后马已经住小。\n请查帐号再拨谢谢", Some(Vacant)),
            ("而暂时无论借庭。\n请稍后再薄。", Some(Unreachable)),
            ("对不起您所拨打的号码音先生,以赞听说。", Some(Suspended)),
            (
                "雷泊西\n改用户以数字字节陌生来点。\n您的呼叫被限制。",
                Some(Suspended),
            ),
            (
                "对不起,改用户以设置句戒陌生来点,您的呼脚被限制。",
                Some(Suspended),
            ),
            ("你好\n我似自己的来点迷数。", Some(Voicemail)),
            ("您拨打的用户,一开始呼叫转移。", Some(Voicemail)),
            (
                "您拨大的用户以开启呼叫专议。\n其主看到来点后会紧快给您回点。",
                Some(Voicemail),
            ),
            (
                "哈喽我是阿翔了,现在没空听电话哦,有是六个言我晚点回你了。",
                Some(Voicemail),
            ),
            // blind13, once measured blind: 您所拨的号码正忙; 您拨打的电话忙; 莫得空接电话，
            // 有啥子事留个言嘛
            (
                "喂,我是张哥\n作正在闪闪地团\n摩德控接电话\n有啥子是六个爷吗?",
                Some(Voicemail),
            ),
            ("民所播的号码这么?\n请消候再播。", Some(Busy)),
            // blind15, once measured blind: 您拨的电话占线; ……的用户正忙，请不要挂机，我们将
            // 为您继续呼叫; 这会儿没法接电话，您有事儿留个言; 接不了电话，有甚事留个言哇
            ("您播的电话讲险,请稍后再播。", Some(Busy)),
            ("那都用胡正盲,请不要挂记,我们将为您继续胡教。", Some(Busy)),
            ("而他用户这么。\n\n我们奖为您继续呼叫。", Some(Busy)),
            (
                "为我是老刘,这会儿没法接电话,你又是刘个言,回头我给您打过去。",
                Some(Voicemail),
            ),
            (
                "你好我是李健君,求求你下载了接不了电话,由身数留够言话。",
                Some(Voicemail),
            ),
            (
                "你好\n我是李健君,这正而下走了,截不了电话。\n有生是六个言网。",
                Some(Voicemail),
            ),
            // blind16, once measured blind: 您拨打的电话已关机 (拨打 heard as 普通); ……请在
            // 号码前加拨区号; 对方正在通话 (heard as 准备通话); 机主现在忙; 请留言 (heard as
            // 情留言); 有事体留个言
            ("\n您普通的天花已关系。", Some(PoweredOff)),
            ("\n请在后马前加播出后。", Some(Vacant)),
            (
                "民博打的是外地固定电话。\n请在后马前加波曲后。",
                Some(Vacant),
            ),
            ("独对方准备通话。\n请消后再播谢谢。", Some(Busy)),
            (
                "名号\n我是小义\n基础现在吗?\n请问你找他有什么事。",
                Some(Voicemail),
            ),
            (
                "您好,这里是投资工作室,我在调上不方便解。\n情留言,我会尽快回年。",
                Some(Voicemail),
            ),
            (
                "喂,你好啊\n我这会要忙杀了,有事体留个言,等下回你哈。",
                Some(Voicemail),
            ),
            // blind17, once measured blind: 您拨打的电话已改号，新号码是……; ……已被限制呼入，
            // 请您挂机; 您的来电已被对方的防骚扰服务拦截，请勿重复拨打; 有么事留个言撒
            ("人波达的电话一概好。\n行号码,水1387156,", Some(Vacant)),
            ("您播打的电话一概号,信号码是13871256。", Some(Vacant)),
            ("而一被闲着忽露,请您拐脊。", Some(Suspended)),
            (
                "文信提示,您的来点已被对方的房骚扰服务兰姐,情务重复伯大。",
                Some(Suspended),
            ),
            (
                "文心提示\n您的来天以北对方的放萨莱的福无乱写。\n请勿重复波达。",
                Some(Suspended),
            ),
            (
                "喂?\n我是老周\n这会要在跑车毛德空间。\n有吗是六个颜色?",
                Some(Voicemail),
            ),
            (
                "您波达的电话们,新消货在波,如今帮助请波达科夫终者。",
                Some(Busy),
            ),
            // blind18, once a development set: 您拨打的手机已关机，我们将以短信方式通知机主
            // 您曾来电 (its opening heard as 人伯父的); 温馨提示，对方已设置呼入限制，暂时无法
            // 接听您的来电 (温馨提示 closes nothing, but no person opens with it); 有事情留个言
            (
                "人伯父的手指以关注。\n我们将以短信方式。\n统织之重人上来点。",
                Some(PoweredOff),
            ),
            (
                "文竞提示,北方已设置忽入线者,咱是无法接听您的来点。",
                Some(Suspended),
            ),
            (
                "米学家\n我是阿防,这两天在山上没得信好。\n有事情留个眼。",
                Some(Voicemail),
            ),
            // blind16, re-rendered on another machine: ……号码已注销，请查证后再拨
            ("而后买以住手。\n请查将后再补。", Some(Vacant)),
            // blind19's: a workshop's after-hours message (……现在是下班时间，我们的营业时间
            // 是每天早上八点到晚上六点，有急事请留言)
            (
                "念好\n这里是新沙气特修立的。\n现在是下班时间\n我们的营业时间是每天早上8点到晚上6点。",
                Some(Voicemail),
            ),
            // blind21's: 当前网络繁忙; 您所拨叫的电话无人应答; 您拨叫的用户手机电源未打开;
            // ……号码已经关机，如需留言请按一
            ("保健\n当前往路繁忙,请稍后再拨。", Some(Unreachable)),
            ("民所播脚的电话无人应答。\n请消候,再播。", Some(Unreachable)),
            ("您所拨叫的电话无人应的。\n请消后再播。", Some(Unreachable)),
            (
                "保健\n您付教的用户手机电源位打开。\n请稍后再试",
                Some(PoweredOff),
            ),
            (
                "对不起您所拨打的号码已经关节,如需留言请按你。",
                Some(PoweredOff),
            ),
            // blind22's: 对方手机电源未开启; ……已经关机了，本次来电将通过来电提醒短信告知
            // 机主; 您拨的号码有误，请您核对号码后重新拨打; ……用户正在通话中，请不要挂机;
            // a pharmacy's after-hours message; an assistant's 机主现在正在忙，请说出您的
            // 姓名和来电事由
            (
                "保健\n对方手机电人为开启,\n请您稍后再联系。",
                Some(PoweredOff),
            ),
            (
                "已经关系了。\n本次来电将通过来电,提醒把新高制机组。",
                Some(PoweredOff),
            ),
            (
                "保持人念不得后满用。\n请您和您的号码后,重新拨打谢谢。",
                Some(Vacant),
            ),
            ("而用户掌在通话中。\n请不要挂记,请消候。", Some(Busy)),
            (
                "你好\n这里是松北区康乐大药房。\n现在是非营厰事件。\n我们的营业时间是早上8点到晚上7点。",
                Some(Voicemail),
            ),
            (
                "名号\n特里是松北区康乐大药房。\n现在是非营夜时间。\n我们的营业时间",
                Some(Voicemail),
            ),
            (
                "您好,我是小宜,其主先在正在忙。\n请说出您的姓名何来点继续有。",
                Some(Voicemail),
            ),
            // blind23's, once measured blind: ……的号码不存在，请核对后再拨; 您要找的分机正忙;
            // ……号码已暂停服务，请稍后再拨; 小艺，机主现在有点忙
            ("以后不存在,前何对后制补?", Some(Vacant)),
            (
                "年后,年有仇的分析中盟。\n请稍后再拨或岸林转人工服务台。",
                Some(Busy),
            ),
            ("然后妈也赞听说,请消候再拨。", Some(Suspended)),
            (
                "你好我是小义记住现在有点忙,请问您规刑,调他有什么事呢?",
                Some(Voicemail),
            ),
            // blind20's, once measured blind: ……已关机，请您稍后再拨，感谢您的耐心等待; 对方手机
            // 电源未开启，我们将以短信形式通知机主; 温馨提示，对方线路忙; 对方电话占线; 用户所在地区
            // 网络繁忙; 无应答; 您呼叫的用户已被限制呼入; a youth hostel's front desk, nobody there
            ("唯一关系,请您消货在库,感谢您的内心等待。", Some(PoweredOff)),
            // blind22's ……已经关机了，本次来电将通过来电提醒短信告知机主 (已经 heard as 一尽)
            (
                "唯一尽关系了,本次来点将通过来点提醒短信高确记住。",
                Some(PoweredOff),
            ),
            (
                "保证,对方熟知殿面位开启。\n我们将以短信形式通知基主您曾来点。",
                Some(PoweredOff),
            ),
            ("文先提设\n对方先入盲。\n请民稍后再使", Some(Busy)),
            ("嘘嘘推芳电话站险,醒过一会儿有再打。", Some(Busy)),
            (
                "文信提示,您不打的用户所在地区网络翻盲,请稍后再试。",
                Some(Unreachable),
            ),
            ("对不起\n您拨打的电话无应的。", Some(Unreachable)),
            ("保鲜凝乎胶的用户以背线去喉咙。", Some(Suspended)),
            (
                "您好,这里是嘉玉惯熊惯青年律售。\n前台暂时没人,金房请家微信获着留言,我们看到马上回你。",
                Some(Voicemail),
            ),
        ];
        for (text, want) in heard {
            assert_eq!(classify(text), want, "{text}");
        }
        // Near-homophones an 8 kHz recogniser makes of them.
        assert_eq!(classify("您拔打的电话以关级"), Some(PoweredOff));
        assert_eq!(classify("您拨打的号码是控号"), Some(Vacant));
        assert_eq!(classify("您拨打的电话占时无法接通"), Some(Unreachable));
        // A carrier says 您; opening with 你 is a person reciting it (none of the development
        // sets' 1,500 announcements was heard so, 11 of their people were).
        assert_eq!(classify("你拔打的电话以关级"), None);
        assert_eq!(classify("你好，你拨打的电话暂时无法接通"), None);
        // The opening and the status in two utterances.
        assert_eq!(classify("对不起\n您拨打的用户这么?\n"), Some(Busy));
        // Without the opening, a near-homophone is just words.
        assert_eq!(classify("我们以关系为重"), None);
        // Heard by sound after the opening: 之盟 (zhi meng) for 正忙 is too far, 这么 after
        // 用户 is close enough to 用户正忙; 赞听服务 is 暂停服务.
        assert_eq!(classify("您拨打的用户这么?"), Some(Busy));
        // 用户忙 as 佣妇吗: f and h alike, 吗 half of 忙.
        assert_eq!(classify("民伯达的佣妇吗?"), Some(Busy));
        assert_eq!(classify("对不起您拨打的号码,以赞听服务。"), Some(Suspended));
        assert_eq!(classify("您拨打的电话与关节。"), Some(PoweredOff));
        // 你不打 is not 您拨打: a person busy on the line is a person.
        assert_eq!(classify("你不打了吗？我在忙。"), None);
    }

    #[test]
    fn people_answering_are_not_announcements() {
        for text in [
            "喂，你好。",
            "喂？",
            "哪位？",
            "你好，请问你是谁？",
            "我现在很忙，等会再说。",
            "我手机刚才关机了，你说吧。",
            "对不起，我在开会。",
            "Hello?",
            "Hi, who's this?",
            "Sorry, I'm busy right now.",
            "刚才占线了，你再说一遍。",
            "我欠费了，打不出去。",
            "喂，我现在不方便接电话，晚点打给你。",
            "我在忙，你稍后再打吧。",
            "喂，我看到你给我留言了，什么事？",
            "喂，我这手机快欠费停机了，有事你赶紧说。",
            "喂，我正忙着呢，你稍后再打过来吧。",
            "喂？你打的是哪个号码啊，你找谁？",
            // The development sets' people (traps).
            "你打错了吧，这个号码不是他的。",
            "喂，我手机快没电了，马上要关机，长话短说。",
            "你好，这里是移动营业厅，停机复机的话要带身份证过来办。",
            "喂，你是谁？这号码我刚办的，以前那个人早就注销了。",
            "你好，我是王总的助理，他现在不在，有事跟我说就行。",
            "这个号码是我刚办的，你是找以前的机主吧？",
            "啊，我现在不方便接，你微信留个言吧，好吧。",
            "您好，我是刘总的助理，他正在开会，有事我帮您转达。",
            "您好，这里是总机前台，请问您找哪位？",
            "喂，刚交完话费，之前是不是打不通啊？",
            "喂？你拨的哪个号？",
            "喂，你好，你之前打的那个旧号码是空号，打这个就对了。",
            "我在楼下电话信号不好，你大点声。",
            "为你好,你住前的那个就好吗?是空号,他这个就对了。",
            // The people set (`amd-people`), as the recogniser heard them: a person on
            // another call, and people telling what the line said.
            "我正在通话中等会儿我给你会过去。",
            "2岸菜塔的手后。\n是不是不是说无法接通?",
            "唯一我刚才的你们留下,老说准满,请稍后再拨。",
            "我刚才打你们乐显,老说正盲,请稍后再拨。",
            // A close and a status without the opening, from a person.
            "我在忙，你稍后再拨。",
            "我手机已关机一天了，稍后再拨吧。",
            "它一直说用户正忙，请稍后再拨。",
            "你打的这个号码不存在吧。",
            "你核实后再拨，我不是你找的人。",
            "请查证后,在播是什么意思。",
            // What is left of a cut-off opening, from a person.
            "这号码已经停机了吗？",
            "喂，那个号码已经停机了吗？",
            "号码已经欠费停机了，刚交上。",
            "对方已经关机了吗，你打我这个吧。",
            // blind5's person who explains where they are
            "为你说傻,听不清,底下是跟不在服务区式的,我出去跟你说。",
            // blind6's: after what sounds like the opening
            "为你拨的那个号码是空号了,早住销了,我现在用这个。",
            "对方说他在忙，让你晚点打。",
            "你是骗子吧\n我儿子说了,陌生电话别接。\n有是你留言",
            // blind7's secretary, who offers to take a message
            "你好,我是称总的秘书,他在开会,有时可以留言我帮你转告。",
            "您好，我是王经理的助理，他正在通话中，您稍后再拨。",
            // blind8's joker, who picks up reciting the carrier (喂 heard as 为)
            "为您拨打的电话以关系。",
            "喂，您拨打的电话已关机，哈哈，开玩笑的，什么事？",
            // blind9's: out of a tunnel a moment ago; a condition
            "喂,港才在随道里头,不在服务区。",
            "我最差想像看看。\n新号石油食物\n三十无法接通的话你,就稍后再拨。",
            // blind10's: calls blocked by the owner; a cut-off status said by its user
            "你是不是片子\n我车先早就序了。\n这种电话我都说了蓝节。\n怎么还打都进来?",
            "我这个号码设了骚扰拦截，你怎么打进来的？",
            "用户已经换号了，你打我这个吧。",
            "喂,我爸那个好去年千费停机了。\n现在我在用。",
            // blind11's: blocked by the callee; a father's phone answered by his son
            "喂，你是催收的吧？你这号我已经拦截了，别再打了。",
            "喂，我爸手机在我这儿，他下地收苞米去了，你找他啥事儿，我给转告。",
            "我一会儿用短信通知机主，你别着急。",
            // What frames an announcement since blind18, said by people: 温馨提示 as a joke, a
            // message by SMS, checking a number
            "温馨提示一下，你这个号码是空号。",
            "喂，我以短信方式发给你，你查收一下。",
            "喂，请查一下后再拨给我，号码不对。",
            // People who cannot hear, or could not answer a moment ago
            "喂？我这边信号不好，听不到你说话，一会儿回你。",
            "喂？刚才没空接，现在有空了，你说吧。",
            "我这边接不到信号，一会儿回你。",
            "刚才接不了，一会你再打过来吧。",
            "啊，我现在不方便接，你微信留个言吧，好吧。",
            "有事你微信给我留言吧，我现在不方便接电话。",
            // blind12's and blind13's: a number that was vacant before; the callee confirming
            // the number; a line suspended last month
            "号码以前是空号，现在是我在用。",
            "对，您拨打的电话就是我本人，车贷的事我晓得，月底就还。",
            "喂，我这个号上个月欠费停机了，刚交了钱，你找哪个？",
            "喂，我在山上开车，这边经常不在服务区，打不通的话你晚点再拨。",
            "刚才冒得空接电话，现在你说嘛。",
            // blind14's: a person who blocks strangers; who forwards calls
            "我设置了拒接陌生来电，你怎么打进来的？",
            "我手机开了呼叫转移，你打我座机吧。",
            "你要加拨区号，不然打不通。",
            "行，等我查帐后再拨给你。",
            // Guards for blind15's rules: a person who cannot talk now, one who waits on the
            // line, one whose line was engaged
            "喂，我开车呢，没法接电话，晚点回你。",
            "喂，我在开会没法接电话，你发微信给我。",
            "我开会呢，没法接电话，你微信留个言吧。",
            "我开车呢，接不了电话，你发微信给我。",
            // Guards for blind17's rules: a person who changed their number, who asks what it
            // is about, who was barred
            "我换号了，新号码是一三八七一二零五六。",
            "喂，有啥事？你说。",
            "我的手机已被限制了，你打座机。",
            // Guards found in review: an everyday 一名普通的; a message asked for with 吧, or
            // without the owner's 有事
            "你好，我是一名普通的上班族，最近很忙。",
            "我开会呢，有事儿留个言吧。",
            "有啥事留个言吧。",
            "我在开会，没法接电话，你先留个言。",
            "我在开会，没法接电话，你微信留个言。",
            "喂，我这会儿没法接电话，你留个言吧。",
            "你别挂，我去给你继续找人。",
            "我刚才一直占线，你讲吧。",
            // blind16's: people reciting the carrier (你, not a carrier's 您), who laugh or
            // call the caller a fraud
            // blind19's: a person asking who called, heard after a 喂 taken for 唯 (…打的电话
            // is no opening without something like 拨 first); people closing early, or
            // asking for a message with 吧
            "唯我刚才手机关机了,你是哪个打的电话。",
            "刚才谁打的电话？",
            "唯,无法接通,换个号码打。",
            // blind21's: a person who saw a voice message; a hotel's front desk, heard as if
            // it opened like a carrier (您要的 for 您要找的); guards for its new wordings
            "你好\n我刚才看到有个语音留言。",
            "你好,这里是酒店牵台。您要的分机现在战险,需要我帮您留个眼马。",
            "你好这里是酒店前台,您要的风机现在长险,需要我帮您留个言吗。",
            "我打过去一直无人应答，你帮我看看。",
            "我手机电源没打开，刚充上电。",
            "喂，刚才网络繁忙打不通。",
            // Guards for blind22's: a person who asks the caller to hold, who checks a number
            "你先不要挂，我去叫他。",
            "喂，你核对一下号码后再打过来。",
            "唯一的问题是我手机没电了。",
            "现在是下班时间，你明天上班时间再打吧。",
            "你拨打的后马不存在,给大了你们的片子吧。",
            "你伯达的后马不存在。",
            "您好您拨打的号码,一住小,哈哈开玩笑的你水啊。",
            // Guards for blind20's and blind23's: a person thanking for patience, one whose
            // desk or shop is empty a moment, one who remembers, one who has goods in stock
            "不好意思，让你久等了，感谢你的耐心等待，你说。",
            "喂，前台现在没人，你找谁？",
            "喂，店里现在没人，你加我微信吧，我回你。",
            "喂，店里现在没人，你加我微信，我回你。",
            "前台现在没人，你留个言？我帮你转告。",
            "我记住了，现在有点忙，晚点说。",
            "喂，货在库里，明天发。",
            "",
        ] {
            assert_eq!(classify(text), None, "{text}");
        }
    }
}
