//! What a bot's question asks, read from its words: the meaning a script node would declare
//! (`confirms`, `denies`, `expects`) for a prompt that declares nothing. Outbound scripts
//! ask a handful of kinds of question, each with a recognisable frame:
//!
//! - a **confirmation** of what the callee said or wants ("您的意思是以后不要再打了，是吗",
//!   "so you're asking about the monthly cost, correct?"): a yes means what it confirms;
//! - a **proposal** of what the bot will do ("我晚点再打给您可以吗", "需要帮您转接人工吗",
//!   "would you like me to call you back tomorrow?"): a yes to calling back, transferring,
//!   repeating or never calling again means that request;
//! - a **check** whose "no" is itself a request: not the person asked for ("请问是陈女士本人
//!   吗" — 不是 is `wrong_person`), did not hear ("听清楚了吗" — `repeat`), has not decided
//!   ("考虑好了吗" — `hesitate`); or whose "yes" is one: already a customer ("之前有没有办过
//!   我们的宽带" — `already_have`), a problem ("有什么问题吗"); "is now a good time" only makes
//!   being busy likelier, since its "no" may as well be "not interested";
//! - a price put for acceptance ("这个价格您能接受吗") expects yes, no or hesitation: 太贵了
//!   there is an objection, not a price question;
//! - a **when** question: the time named answers a callback ("什么时候给您回电合适") or a
//!   decision ("什么时候能给我们答复"), which the node then expects.
//!
//! The frame decides which side of the answer carries the meaning and the question's topic
//! decides which intent, so a frame never needs a list of topics and a new topic needs no new
//! frame. What the reading cannot place it leaves alone: a yes stays a yes. A script's own
//! declaration always wins ([`NodeMeaning::or`]). Pure; Mandarin and English.

use std::sync::OnceLock;

use regex_lite::Regex;

use super::context::NodeMeaning;
use super::Intent;

/// What a yes, a no and an open answer to `prompt` mean, as far as its words say.
pub fn meaning(prompt: &str) -> NodeMeaning {
    let q = question_of(prompt);
    let p = patterns();
    let topic = p
        .topics
        .iter()
        .find(|(_, re)| re.is_match(&q))
        .map(|&(i, _)| i);
    let mut m = NodeMeaning::default();
    // Whatever the callee is said to want, a yes confirms it; what the bot offers to do, a
    // yes accepts when it is a request a callee could have made.
    let confirmed = topic.filter(|_| p.confirmation.is_match(&q)).or_else(|| {
        topic.filter(|&t| {
            p.proposal.is_match(&q)
                && matches!(
                    t,
                    Intent::BusyCallback
                        | Intent::RequestHuman
                        | Intent::DncRequest
                        | Intent::Repeat
                )
        })
    });
    if let Some(t) = confirmed {
        m.affirm = Some(t);
        m.expects = vec![t];
        return m;
    }
    if p.when.is_match(&q) {
        // A "when" question: the time named is what the topic is about.
        if let Some(t @ (Intent::BusyCallback | Intent::Hesitate)) = topic {
            m.expects.push(t);
        }
        return m;
    }
    if p.which.is_match(&q) {
        // "Which provider do you use": naming one says the callee already has one.
        m.expects.push(Intent::AlreadyHave);
        return m;
    }
    // A topic-less confirmation ("您还在听吗") may still be a check: (pattern, what a yes
    // means, what a no means).
    let checks: [(&Regex, Option<Intent>, Option<Intent>); 6] = [
        (&p.heard, None, Some(Intent::Repeat)),
        (&p.identity, None, Some(Intent::WrongPerson)),
        (&p.decided, None, Some(Intent::Hesitate)),
        (&p.problem, Some(Intent::Complaint), Some(Intent::Affirm)),
        (&p.satisfied, None, Some(Intent::Complaint)),
        (&p.customer, Some(Intent::AlreadyHave), None),
    ];
    if let Some(&(_, affirm, deny)) = checks.iter().find(|(re, _, _)| re.is_match(&q)) {
        m.affirm = affirm;
        m.deny = deny;
        return m;
    }
    if p.available.is_match(&q) {
        // "Have you got a minute": a no may be "busy now" or "not interested", which the
        // words of the reply tell apart, so being busy is only made likelier.
        m.expects = vec![Intent::Affirm, Intent::BusyCallback];
        return m;
    }
    if topic == Some(Intent::AskPrice) && p.acceptable.is_match(&q) {
        // "Can you accept that price": an objection (太贵了) is a no, not a price question.
        m.expects = vec![Intent::Affirm, Intent::Deny, Intent::Hesitate];
    }
    m
}

/// The sentence that asks: the last one with a question's mark or particle (a prompt often
/// greets, introduces and only then asks), lower-cased, without inner commas and spaces
/// between Han characters; `{placeholders}` read as a name.
fn question_of(prompt: &str) -> String {
    let text = prompt.to_lowercase();
    let sentences: Vec<&str> = text
        .split(['。', '！', '!', '？', '?', '；', ';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let asks = |s: &&str| {
        let s = s.trim_end_matches(|c: char| !c.is_alphanumeric());
        [
            "吗", "吧", "呢", "么", "没有", "不对", "right", "correct", "ok", "okay",
        ]
        .iter()
        .any(|e| s.ends_with(e))
            || patterns().english_question.is_match(s)
    };
    // Which sentence had a question mark is lost by the split; look again in the original.
    let marked: Vec<&str> = {
        let mut out = Vec::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(['？', '?']) {
            let (head, tail) = rest.split_at(i);
            let start = head
                .rfind(['。', '！', '!', '；', ';', '\n', '？', '?'])
                .map_or(0, |j| {
                    j + head[j..].chars().next().map_or(1, char::len_utf8)
                });
            out.push(head[start..].trim());
            rest = &tail[tail.chars().next().map_or(1, char::len_utf8)..];
        }
        out
    };
    let chosen = marked
        .last()
        .copied()
        .or_else(|| sentences.iter().rev().find(|s| asks(s)).copied())
        .or_else(|| sentences.last().copied())
        .unwrap_or("");
    let mut q = String::with_capacity(chosen.len());
    let mut in_placeholder = false;
    for c in chosen.chars() {
        match c {
            '{' => {
                in_placeholder = true;
                q.push('x');
            }
            '}' => in_placeholder = false,
            _ if in_placeholder => {}
            '，' | '、' | '：' | '“' | '”' | '"' | '…' => {}
            // Keep one space, and only after a word of a Latin-script language.
            c if c.is_whitespace() || c == ',' || c == ':' => {
                if q.ends_with(|p: char| p.is_ascii_alphanumeric() || p == '\'') {
                    q.push(' ');
                }
            }
            c => {
                if q.ends_with(' ') && !c.is_ascii_alphanumeric() {
                    q.pop();
                }
                q.push(c);
            }
        }
    }
    q.trim_end().to_string()
}

struct Patterns {
    /// Topic, in order: the first that matches is the question's topic.
    topics: Vec<(Intent, Regex)>,
    confirmation: Regex,
    proposal: Regex,
    identity: Regex,
    heard: Regex,
    available: Regex,
    decided: Regex,
    customer: Regex,
    satisfied: Regex,
    problem: Regex,
    acceptable: Regex,
    which: Regex,
    when: Regex,
    english_question: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("question pattern compiles");
        let topics = [
            (
                Intent::DncRequest,
                r"(不|别)(要|用|想|希望|必|愿意|会)?(我们|我|咱们)?(以后|今后)?(都)?(再|继续).{0,10}(打|联系|致电|拨打|来电|打扰|推销|推广|外呼|接)|不再(打|联系|致电|拨打|来电|外呼|打扰|接)|移除|删除|拉黑|屏蔽|免打扰|黑名单|\b(do not|don't|didn't|did not|never|stop|no more|not to|won't|will not|wouldn't|not) (be )?(call|calling|contact|contacting|ring|ringing|phone)|\b(calls?|calling) (any ?more|again)\b|\b(remove|take) .{0,30}\b(off|from) .{0,20}\blist|do-not-call|\bdnc\b",
            ),
            (
                // Not wanting the offer: a yes to "so you're not interested" is a no.
                Intent::Deny,
                r"不需要|不感兴趣|没(什么|啥)?兴趣|不想要|不打算|用不上|\b(not interested|don't need|do not need|no need|not for you)\b",
            ),
            (
                Intent::AskIdentity,
                r"哪(家|个)(公司|单位|机构)|哪里打(来|过来)|谁打|是谁|我们是(谁|哪)|哪里(拿|得|搞|弄|找)到|怎么(知道|拿到|有)(我|您|你)的|是不是(真人|机器人)|机器人|\b(who (we are|is calling|i am)|which company|calling from|(get|got) (my|your) (number|details)|a (robot|real person))\b",
            ),
            (
                Intent::RequestHuman,
                r"人工|坐席|真人|专员|顾问|客户经理|客服经理|转接|\b((real|live) person|humans?|agents?|representatives?|advisors?|advisers?|consultants?|transfer|put you through|speak to someone)\b",
            ),
            (
                Intent::Repeat,
                r"再(给您|给你)?(说|讲|重复|念|介绍)一(遍|次|下)|重复一(遍|下)|没听(清|到|明白)|\b(repeat|say (that|it) again|go (over|through) (that|it) again|didn't (hear|catch))\b",
            ),
            (
                Intent::WrongPerson,
                r"不是.{0,8}(本人|的号码|的电话|的手机)|号码.{0,4}不是|打错|换(号|人)|\b(not|isn't|no longer) .{0,20}\b(number|phone)\b|\bwrong (number|person)\b|\bnot (him|her|the person)\b",
            ),
            (
                Intent::Complaint,
                r"不满意?|投诉|不高兴|(体验|服务).{0,4}(差|不好)|有问题|出问题|意见|生气|太频繁|频繁|\b(complain|complaint|unhappy|not happy|dissatisfied|disappointed|upset|too often)",
            ),
            (
                Intent::BusyCallback,
                r"(再|晚点|晚些|稍后|改天|回头|下午|上午|晚上|明天|后天|周.|星期.|\d+点|忙完|下班|有空).{0,8}(打给|打过来|给您打|给你打|来电|致电|联系|回电|回个电话|打电话|约|聊)|回电|回拨|不方便|在忙|忙着|没空|没时间|在开车|正在开车|在开会|\b(call (you|u) back|call back|callback|ring you back|try you again|reach you|call you (again|later|tomorrow)|(ring|phone|call) (you )?(later|tomorrow|another time)|busy|driving|in a meeting|at work|bad time)\b",
            ),
            (
                Intent::AskPrice,
                r"多少钱|费用|资费|价格|价钱|年费|学费|利息|利率|月供|保费|收费|报价|贵|便宜|优惠|折扣|\b(cost|costs|price|prices|fee|fees|how much|rate|rates|premium|monthly payment|charge|charges)\b",
            ),
            (
                Intent::AlreadyHave,
                r"已经(有|买|办|在用|装|配|投保|参加|报)|(买|办|用|装|配|上|报)过|\b(already (have|got|bought|signed|use)|have one|existing)\b",
            ),
            (
                Intent::Hesitate,
                r"考虑|想想|再想|商量|犹豫|决定|拿不准|拿定主意|准信|确定|答复|回复|给我们.{0,4}(消息|回话)|\b(think (about|it over)|consider|decide|decision|not sure|mull|get back to us|let us know|an answer)\b",
            ),
            (
                Intent::AskDetail,
                r"流程|具体|详细|细节|怎么(办|操作|用|申请|报名|理赔|退)|如何|条款|内容|资料|材料|哪些|准备什么|多长时间|还是|介绍|\b(details|how (it|this|that) works|more (about|information|info)|the process|terms|learn more|covers?|included?)\b",
            ),
        ];
        Patterns {
            topics: topics.iter().map(|&(i, s)| (i, re(s))).collect(),
            // What the callee said or wants, read back: 您的意思是 / 您是想 / 所以您 /
            // "so you" / "you'd prefer" / "you're asking".
            confirmation: re(
                r"(您|你)(主要|就|其实|现在|目前|这边|还|也)?(是|的意思|意思是|刚才说|说的是)|所以(您|你)|也就是说|那就是说|就是说|我理解|没理解错|明白了|确认一下|^(okay |ok |right |alright )?(so|just to confirm|to confirm|let me confirm|if i understand)\b|\b(you'd|you would|you'd rather|you're|you are|you want|you mean|you said)\b.{0,60}\b(right|correct|is that right|is that correct|yes)$|\b(you're asking|you are asking|you'd prefer|you would prefer|you'd like|you would like|you mean|you're saying|you are saying|is that what you want)\b",
            ),
            // What the bot offers to do: 我晚点再打给您可以吗 / 需要帮您转接吗 / 要不要 /
            // "would you like me to", "shall I", "how about I".
            proposal: re(
                r"(我|我们|我这边|我们这边|小\S).{0,20}(好吗|好不好|好吧|可以吗|可以吧|可不可以|行吗|行吧|行不行|成吗|方便吗|您看呢|你看呢|如何|怎么样)$|需要(我|帮您|帮你|给您|给你|为您|替您)?.{0,20}(吗|不)|^要不|要不要|用不用|\b((would|do) you (like|want) (me|us) to|shall (i|we)|should (i|we)|can (i|we)|may (i|we)|let me|how about (i|we)|what if (i|we)|would it help if (i|we)|i'll|i will|i could|we could|would you like (a|an|us|me)|do you want (a|an|us|me)|would you like to (speak|talk)|want me to)\b",
            ),
            identity: re(
                r"是.{1,8}(本人|先生|女士|小姐|老师|同学|家长|经理|总|师傅)(吗|吧|么|$)|是不是.{1,8}(本人|先生|女士|小姐|老师|家长)|是.{1,8}(的机主|的家属|机主)|(先生|女士|小姐|老师|同学|经理|总|师傅)(吗|么|吧)$|^(am i speaking|am i talking|may i speak|can i speak|could i speak|i'm calling for|i'm looking for)\b|^(are you|is this|is that)\b.{0,30}\b(mr|mrs|ms|miss|dr|holder|owner|himself|herself|x)\b",
            ),
            heard: re(
                r"听(清|到|得到|得见|见|明白|懂)|在听|能听|在线|还在(吗|么)|记(下|住|清楚)|明白(了)?(吗|么)|清楚(了)?(吗|么)|\b(hear me|hear what|hear that|catch (that|all|it)|get (that|all)|still there|are you there|can you hear|did you hear|still with me|follow (me|that)|make sense|clear)\b",
            ),
            available: re(
                r"方便(吗|么|接|说|聊|不)|方不方便|有(没有)?(时间|空|几分钟)|(占用|耽误|打扰)(您|你).{0,4}(分钟|时间)|\b(good time|bad time|a (couple|few) (of )?minutes|a minute|a moment|(can|could) you talk|free to talk|is now ok|now a good|got a (minute|moment|sec)|a quick word)\b",
            ),
            decided: re(
                r"(考虑|想|商量|决定|确定|定)(好|清楚)|决定了|商量了|拿定主意|定下来|\b(made (a|your|up)|decided|make up your mind|thought (about|it over)|had (a|time to) (chance|think))\b",
            ),
            customer: re(
                r"(有没有|有没|是否|已经|之前|以前|目前|现在|家里|孩子).{0,8}(有|在)?(买|办|用|装|配|上|报|投|参加|开通|使用)(过|着|了)?.{0,16}(吗|么|没有|没)$|有没有.{0,12}(过|着)|^(do you|does your|have you|has your|are you) .{0,20}\b(already|currently|have|got|with|use|using|signed|enrolled|insured|covered)\b",
            ),
            satisfied: re(r"满意(吗|么)|满不满意|\b(happy|satisfied|pleased) with\b"),
            problem: re(r"(有|遇到)(什么|没有|啥)?(问题|不满)(吗|么)|\bany (problems?|issues?|complaints?)\b"),
            acceptable: re(
                r"(接受|合适|怎么样|可以吗|能行吗|划算|行不行)|\b(sound|sounds|okay for you|work for you|affordable|reasonable)\b",
            ),
            which: re(r"(用|装|买|办|在用|选)的(是)?哪(家|个|种)|\bwhich (provider|company|bank|insurer|one do you)\b"),
            when: re(
                r"什么时候|什么时间|几点|哪天|哪个时间|多久|多长时间|几天|\b(when|what time|what day|how soon|how long|good time to (reach|call)|best time)\b",
            ),
            english_question: re(
                r"^(is|are|do|does|did|would|could|can|should|shall|may|have|has|will|was|were|am)\b",
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes_no(prompt: &str) -> (Option<Intent>, Option<Intent>) {
        let m = meaning(prompt);
        (m.affirm, m.deny)
    }

    #[test]
    fn a_confirmation_means_what_it_confirms() {
        use Intent::*;
        assert_eq!(
            yes_no("您的意思是以后不要再给您打电话了，是吗？"),
            (Some(DncRequest), None)
        );
        assert_eq!(
            yes_no("您是想了解一下具体的费用，对吧？"),
            (Some(AskPrice), None)
        );
        assert_eq!(
            yes_no("So you'd rather we didn't call again, is that right?"),
            (Some(DncRequest), None)
        );
        // A confirmation with no topic is a plain yes.
        assert_eq!(yes_no("您对这款产品有兴趣对吧？"), (None, None));
        // "Do you want to hear more" is an offer, not a read-back: a yes is interest.
        assert_eq!(
            yes_no("住院和重大疾病都能报销，零岁到六十五岁都可以买，您想了解一下吗？"),
            (None, None)
        );
    }

    #[test]
    fn a_proposal_means_the_request_it_offers() {
        use Intent::*;
        assert_eq!(
            yes_no("我晚点再打给您，可以吗？"),
            (Some(BusyCallback), None)
        );
        assert_eq!(
            yes_no("需要帮您转接人工坐席吗？"),
            (Some(RequestHuman), None)
        );
        assert_eq!(
            yes_no("Would you like me to call you back tomorrow?"),
            (Some(BusyCallback), None)
        );
        // Offering the product itself: a yes is a yes.
        assert_eq!(yes_no("那我先帮您把申请提交了，好吗？"), (None, None));
    }

    #[test]
    fn a_check_gives_its_no_a_meaning() {
        use Intent::*;
        assert_eq!(
            yes_no("您好，我是平安保险的小王。请问是陈女士本人吗？"),
            (None, Some(WrongPerson))
        );
        assert_eq!(yes_no("我刚才说的您听清楚了吗？"), (None, Some(Repeat)));
        // Whether now is a good time: a no may be "not interested" as well as "busy".
        for q in [
            "您现在说话方便吗？",
            "您好，我是安心保险的客服小李，耽误您一分钟时间可以吗？",
            "Is this a good time?",
        ] {
            assert_eq!(meaning(q).expects, [Affirm, BusyCallback], "{q}");
            assert_eq!(yes_no(q), (None, None), "{q}");
        }
        assert_eq!(yes_no("您考虑好了吗？"), (None, Some(Hesitate)));
        assert_eq!(
            yes_no("您之前有没有办过我们的宽带？"),
            (Some(AlreadyHave), None)
        );
        assert_eq!(yes_no("您好，{name}先生吗？"), (None, Some(WrongPerson)));
    }

    #[test]
    fn a_when_question_expects_what_it_is_about() {
        use Intent::*;
        assert_eq!(
            meaning("您看什么时候给您回电比较合适？").expects,
            [BusyCallback]
        );
        assert_eq!(meaning("您大概什么时候能考虑好？").expects, [Hesitate]);
        assert!(meaning("您什么时候有空来门店？").is_empty());
    }

    #[test]
    fn an_open_or_unplaceable_prompt_means_nothing() {
        assert!(meaning("").is_empty());
        assert!(meaning("您好，我是平安保险的客服小王。").affirm.is_none());
        assert!(meaning("这个方案您觉得怎么样？").is_empty());
    }
}
