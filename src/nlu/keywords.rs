//! Keywords: what callees talk about (太贵, 没时间, 已经有了 ...), as canonical topics matched
//! from colloquial variants, and their counts over many calls for reports and script tuning.
//! Pure; depends on the tokenizer's normalisation only.

use std::collections::BTreeMap;

use super::tokenizer::normalize;

/// (canonical keyword, variants as they appear in normalised transcripts).
const TOPICS: &[(&str, &[&str])] = &[
    (
        "太贵",
        &[
            "太贵",
            "好贵",
            "很贵",
            "贵了",
            "价格高",
            "便宜点",
            "too expensive",
            "pricey",
        ],
    ),
    (
        "价格",
        &[
            "多少钱",
            "价格",
            "收费",
            "费用",
            "报价",
            "how much",
            "price",
            "cost",
        ],
    ),
    (
        "优惠",
        &["优惠", "打折", "折扣", "便宜", "discount", "deal"],
    ),
    (
        "没时间",
        &[
            "没时间",
            "没空",
            "在忙",
            "正忙",
            "在开会",
            "在开车",
            "不方便",
            "busy",
            "in a meeting",
            "driving",
        ],
    ),
    (
        "回电",
        &["再打", "打过来", "回电", "再联系", "call back", "call me"],
    ),
    (
        "考虑",
        &["考虑", "想想", "商量", "犹豫", "think about", "not sure"],
    ),
    (
        "已经有了",
        &[
            "已经有",
            "买过",
            "办过",
            "已经买",
            "已经办",
            "already have",
            "already bought",
        ],
    ),
    ("骚扰", &["骚扰", "天天打", "烦", "harass", "keep calling"]),
    (
        "投诉",
        &["投诉", "举报", "告你们", "12315", "complain", "report you"],
    ),
    (
        "号码来源",
        &[
            "怎么有我电话",
            "号码哪来",
            "哪来的我",
            "谁给你的",
            "get my number",
        ],
    ),
    (
        "人工",
        &[
            "人工",
            "真人",
            "客服",
            "经理",
            "human",
            "real person",
            "agent",
            "manager",
        ],
    ),
    ("机器人", &["机器人", "机器", "录音", "robot"]),
    (
        "保险",
        &["保险", "车险", "重疾", "理赔", "保费", "insurance"],
    ),
    (
        "贷款",
        &[
            "贷款",
            "利息",
            "利率",
            "额度",
            "月供",
            "首付",
            "loan",
            "interest rate",
        ],
    ),
    (
        "课程",
        &["课程", "上课", "学费", "报班", "网课", "course", "class"],
    ),
    (
        "信号",
        &[
            "信号",
            "听不清",
            "听不见",
            "大点声",
            "breaking up",
            "can't hear",
        ],
    ),
];

/// Canonical keywords mentioned in one reply, in the order of the topic table.
pub fn extract(text: &str) -> Vec<&'static str> {
    let norm = normalize(text);
    TOPICS
        .iter()
        .filter(|(_, variants)| variants.iter().any(|v| norm.contains(v)))
        .map(|(k, _)| *k)
        .collect()
}

/// Keyword counts over many replies.
#[derive(Debug, Clone, Default)]
pub struct KeywordCounts {
    counts: BTreeMap<&'static str, usize>,
    replies: usize,
}

impl KeywordCounts {
    pub fn add(&mut self, text: &str) {
        self.replies += 1;
        for k in extract(text) {
            *self.counts.entry(k).or_default() += 1;
        }
    }

    pub fn replies(&self) -> usize {
        self.replies
    }

    /// The `n` most frequent keywords with their counts, most frequent first.
    pub fn top(&self, n: usize) -> Vec<(&'static str, usize)> {
        let mut v: Vec<_> = self.counts.iter().map(|(k, c)| (*k, *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colloquial_variants_map_to_one_keyword() {
        assert_eq!(extract("哎呀这个也太贵了吧"), vec!["太贵"]);
        assert_eq!(extract("我在开会没空"), vec!["没时间"]);
        assert_eq!(extract("How much is the insurance"), vec!["价格", "保险"]);
        assert!(extract("嗯").is_empty());
    }

    #[test]
    fn counts_over_calls() {
        let mut k = KeywordCounts::default();
        for t in ["太贵了", "好贵啊", "没空", "嗯"] {
            k.add(t);
        }
        assert_eq!(k.replies(), 4);
        assert_eq!(k.top(1), vec![("太贵", 2)]);
    }
}
