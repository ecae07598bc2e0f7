#!/usr/bin/env python3
"""Generates models/corpus/train.tsv: labelled callee replies for the intent model.

Hand-written phrase lists per label (Mandarin first, English too) are combined with product
names, times, fillers and ASR-like noise (dropped characters, homophones, stutters, no
punctuation). Context cases pair short ambiguous replies with the bot prompt that decides their
meaning. heldout.tsv is written by hand with phrasings that are NOT in these lists; any generated
line whose text equals a held-out text is dropped so the held-out figure stays honest.

Deterministic: `python3 models/corpus/generate.py` always writes the same file.
Output columns: prompt<TAB>text<TAB>label (prompt may be empty).
"""
import os
import random

R = random.Random(20261123)
HERE = os.path.dirname(os.path.abspath(__file__))

PRODUCTS = ["保险", "车险", "重疾险", "课程", "英语课", "网课", "贷款", "信用卡", "宽带", "套餐",
            "会员", "理财", "房子", "楼盘", "这个产品", "这个活动", "这个业务", "这个"]
PRODUCTS_EN = ["insurance", "the plan", "the course", "the loan", "the card", "the package",
               "this", "the offer", "the membership", "broadband"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱"]
NAMES_EN = ["john", "mary", "david", "sarah", "mike", "linda", "james", "emma", "tom"]
TIMES = ["明天", "后天", "下午", "晚上", "明天上午", "明天下午三点", "下周一", "下周", "周末",
         "过两天", "晚点", "一会儿", "半小时后", "下个月", "周三", "礼拜五", "星期二下午",
         "明早九点", "今晚八点", "改天", "两个小时后", "下午四点半"]
TIMES_EN = ["tomorrow", "later", "next week", "tomorrow at 10", "on monday", "this evening",
            "in an hour", "after 5", "friday afternoon", "some other time", "tonight"]

ZH = {
    "affirm": [
        "好的", "好啊", "可以", "可以啊", "行", "行啊", "没问题", "嗯可以", "好你说", "你说吧",
        "你讲吧", "对是我", "是我", "我是", "是的是我", "感兴趣", "挺感兴趣的", "有兴趣",
        "我有兴趣", "那就办吧", "给我办一个", "那你发给我吧", "好的发我微信", "就这么定了",
        "行那就这样", "同意", "可以的没问题", "好好好", "中", "要的", "我要{p}", "{p}我要了",
        "那我试试", "可以了解一下", "了解一下也行", "你接着说", "说吧我听着", "那挺好的",
        "好那我办", "可以加微信", "嗯行", "成", "妥了", "来吧", "愿意", "我愿意试试",
        "正好我需要{p}", "我正想买{p}呢", "那给我报个名", "安排吧", "那就这么办", "对的",
    ],
    "deny": [
        "不用", "不用了", "不需要", "不要", "不要了", "不感兴趣", "没兴趣", "我不需要{p}",
        "{p}我不需要", "不想要", "不考虑", "暂时不考虑", "算了", "算了吧", "不了谢谢",
        "不办", "不买", "我不想办", "我不要{p}", "没打算", "没有这个需要", "用不着",
        "不用麻烦了", "真不需要", "我对{p}没兴趣", "不合适", "不了", "谢谢不用了",
        "没这需求", "我不想了解", "不想听", "不划算不要", "我没钱不买", "不行",
        "这个不要", "我不办{p}", "免了吧", "就不了", "不想买{p}", "没需要",
    ],
    "busy_callback": [
        "我在忙", "正忙着呢", "现在没空", "我在开会", "在开会呢", "我在开车", "开车呢不方便",
        "现在不方便", "晚点再打", "{t}再打吧", "{t}再说", "你{t}打过来", "{t}联系我",
        "我现在有事", "在上课呢", "在工作没时间", "正在忙等会打", "回头再说", "我这边忙",
        "我在外地出差", "改天聊吧", "现在说话不方便", "我在地铁上", "我在医院呢",
        "我在吃饭", "等会再打给我", "没时间听", "现在腾不出空", "你{t}再来电话",
        "我{t}有空", "{t}我有时间", "换个时间打", "这会儿不行{t}吧", "我在睡觉",
        "在忙着干活呢", "马上要开会了", "我手头有事", "在接孩子呢", "先这样{t}再聊",
    ],
    "hesitate": [
        "我考虑考虑", "再考虑一下", "我想想", "让我想想", "我再想想", "回头想想",
        "不确定", "说不准", "我得商量一下", "跟我老婆商量商量", "问问家里人", "我跟家人商量下",
        "看情况吧", "再说吧", "到时候再看", "还在犹豫", "拿不定主意", "我研究研究",
        "我先了解一下再说", "考虑好了告诉你", "我得想一想", "有点心动但是", "也许吧",
        "可能会要", "不好说", "我回去看看", "我要问一下领导", "这个得再看看", "我再对比一下",
        "我还没决定", "容我想想", "需要时间考虑", "先放着吧我想想", "嗯我不太确定",
        "再斟酌一下", "我得算一算", "我问问朋友", "看看再说吧",
    ],
    "ask_price": [
        "多少钱", "{p}多少钱", "价格多少", "什么价", "怎么收费", "收费吗", "要钱吗", "贵吗",
        "费用多少", "一个月多少钱", "一年多少钱", "要交多少", "价钱怎么样", "有优惠吗",
        "打折吗", "最低多少", "报个价", "多少一个月", "首付多少", "利率多少", "年费多少",
        "手续费多少", "学费怎么算", "保费多少", "{p}贵不贵", "价格能不能少点", "免费吗",
        "要花多少钱", "总共多少钱", "分期的话每期多少", "有没有便宜的", "价位大概多少",
        "多少钱一年", "收多少钱", "费用怎么算的", "{p}什么价格",
    ],
    "ask_detail": [
        "什么东西", "是什么", "{p}是什么", "具体说说", "详细介绍一下", "怎么回事",
        "有什么用", "能干嘛", "怎么操作", "怎么办理", "需要什么材料", "{p}怎么办",
        "有什么条件", "具体内容是什么", "保障哪些", "包括什么", "怎么报名", "在哪上课",
        "上课时间是什么时候", "多久能批下来", "额度多少", "网速多少", "合同多久",
        "能退吗", "有什么区别", "适合什么人", "怎么赔", "{p}有什么好处", "你说的是什么业务",
        "是线上的吗", "要去哪里办", "流程是怎样的", "有什么限制", "讲清楚点是啥",
        "具体怎么弄", "你们这个{p}怎么样", "介绍一下{p}",
    ],
    "ask_identity": [
        "你是谁", "你谁啊", "哪位", "你是哪里", "哪个公司的", "你们是哪家", "你是干嘛的",
        "你怎么有我电话", "谁给你的号码", "你怎么知道我名字", "你们从哪弄的我号码",
        "你是机器人吧", "是机器人吗", "是人工还是机器", "你是哪个单位", "你代表哪个公司",
        "你叫啥", "你是{p}公司的吗", "是骗子吧你是谁", "你们公司叫什么", "你在哪里打的",
        "你是客服吗", "哪里打来的", "是不是推销的", "你是中介吗", "你是哪个银行的",
        "我号码怎么泄露的", "你们哪来的我信息", "请问你是",
    ],
    "complaint": [
        "烦不烦", "别烦我", "又打来了", "怎么又是你们", "骚扰电话", "天天骚扰", "我要投诉",
        "我去投诉你们", "举报你们", "打12315投诉", "你们太过分了", "有病吧", "滚",
        "神经病", "一天打八遍", "都说了不要还打", "你们怎么回事老打", "我要告你们",
        "你们是骗子", "态度太差", "上次的问题还没解决", "说话不算数", "坑人",
        "再打我投诉到工信部", "没完没了", "真讨厌", "气死我了", "你们这是扰民",
        "一点诚信都没有", "太烦人了", "大半夜打什么电话",
    ],
    "dnc_request": [
        "别再打了", "不要再打了", "以后别打了", "不要再给我打电话", "把我号码删了",
        "删掉我的号码", "把我从名单里删除", "别再联系我", "以后不要联系我",
        "把我加入黑名单", "不要再打这个电话", "请不要再拨打", "把我的信息删掉",
        "别给我打电话了", "永远别打了", "我不希望再接到你们电话", "号码删除谢谢",
        "以后别再推销了", "把我从你们系统删了", "不要再联系了", "登记一下别再打",
    ],
    "wrong_person": [
        "打错了", "你打错了", "不是我", "我不是", "我不是{s}先生", "我不姓{s}", "没有这个人",
        "这里没有姓{s}的", "不认识", "不认识他", "你找谁", "号码换人了", "这是我新办的号",
        "{s}先生不在这个号", "你找的人不在", "不是本人", "我是他同事", "我是他家里人",
        "找错人了", "这不是{s}女士的电话", "他换号了", "我不是你要找的人", "没这人",
        "我不叫这个名字", "弄错了吧",
    ],
    "already_have": [
        "已经有了", "我有了", "买过了", "已经买了", "已经办了", "我办过了", "早就办了",
        "已经有{p}了", "{p}已经买了", "我已经是会员了", "我是老客户了", "单位给买了",
        "家里有人买了", "在别家买了", "已经报了班", "已经装了", "有{p}了", "我已经在用了",
        "不用我有", "之前买过", "已经在你们这办过", "我已经有了不需要", "早有了",
        "孩子已经在上了", "都买好了",
    ],
    "request_human": [
        "转人工", "人工", "人工客服", "我要人工", "找真人", "我要跟人说话", "让真人来",
        "让你们经理来", "叫领导接电话", "转客服", "有人工吗", "换个人工来",
        "别用机器人跟我说", "找个人来", "让销售跟我说", "我要跟你们负责人说", "转接人工服务",
        "能不能换真人", "接人工", "让客服打给我",
    ],
    "repeat": [
        "什么", "啥", "啊什么", "你说啥", "没听清", "再说一遍", "听不清", "你说什么",
        "再讲一遍", "重复一下", "声音大点", "信号不好", "听不到", "喂喂听得到吗", "刚才说啥",
        "没听懂", "慢点说", "你说的啥意思", "能再说一遍吗", "大点声", "喂你说什么",
        "断断续续的听不清", "你讲什么",
    ],
    "voicemail": [
        "您拨打的电话已关机", "您拨打的电话暂时无法接通", "您拨打的用户正忙请稍后再拨",
        "您拨打的号码是空号", "您拨打的电话不在服务区", "您好您拨打的用户已关机",
        "请在提示音后留言", "我现在无法接听请留言", "您拨打的电话正在通话中",
        "您拨打的号码已停机", "请稍后再拨", "对不起您拨打的用户暂时无法接通",
        "您好请留言", "您的电话已转入语音信箱", "sorry您拨打的电话已关机",
        "您好欢迎致电请按1", "请按井号键结束", "您拨打的电话无应答", "来电已被拦截",
        "您好您所拨打的号码正忙",
    ],
    "other": [
        "今天好热", "我在买菜", "等一下", "你等下", "我孩子哭了", "稍等我关个门",
        "你们那边冷不冷", "你是哪里人", "今天几号", "我在看电视", "吃了吗", "你叫我干嘛",
        "哈哈", "我刚下班", "我手机没电了", "这边好吵", "快递到了", "我在洗澡",
        "嗯", "哦", "喂", "你好", "那个", "呃",
    ],
}

EN = {
    "affirm": ["yes", "yeah", "sure", "okay", "ok go on", "yes please", "sounds good",
               "that works", "i'm interested", "tell me", "go ahead", "alright", "yes it's me",
               "speaking", "of course", "absolutely", "sign me up", "let's do it",
               "yeah why not", "i'd like {p}"],
    "deny": ["no", "no thanks", "not interested", "i don't need {p}", "no i'm fine",
             "i don't want it", "nope", "not for me", "i'll pass", "no thank you",
             "we don't need it", "not really interested"],
    "busy_callback": ["i'm busy", "call me {t}", "can you call {t}", "not a good time",
                      "i'm at work", "i'm in a meeting", "i'm driving", "call back {t}",
                      "i can't talk now", "try again {t}", "busy right now"],
    "hesitate": ["i don't know", "maybe", "let me think", "i'll think about it", "not sure",
                 "i have to ask my husband", "i need to discuss it", "maybe later",
                 "i'm undecided", "give me some time to think"],
    "ask_price": ["how much", "how much is {p}", "what's the cost", "what does it cost",
                  "how much per month", "is it free", "what's the fee", "any discounts",
                  "how expensive is it", "what's the rate"],
    "ask_detail": ["what is it", "what is {p}", "tell me more", "how does {p} work",
                   "what's it about", "what do i get", "what are the terms",
                   "explain it to me", "what's covered", "what are the details"],
    "ask_identity": ["who is this", "who are you", "who's calling", "which company",
                     "how did you get my number", "is this a robot", "are you a real person",
                     "what's your name", "where are you calling from"],
    "complaint": ["stop calling me", "this is harassment", "i will report you",
                  "you people are annoying", "i'm going to complain", "this is a scam",
                  "leave me alone", "you call every day", "i'm sick of this"],
    "dnc_request": ["take me off your list", "don't call again", "remove me from your list",
                    "delete my number", "do not call me", "never call me again",
                    "put me on the do not call list", "stop calling this number"],
    "wrong_person": ["wrong number", "you have the wrong person", "no one by that name",
                     "i'm not {n}", "this is not {n}", "{n} doesn't live here",
                     "you got the wrong number", "not me"],
    "already_have": ["i already have one", "already have it", "i already bought {p}",
                     "we already have {p}", "i'm already a member", "already signed up",
                     "i have {p} already"],
    "request_human": ["talk to a person", "real person please", "i want a human",
                      "let me talk to someone", "transfer me", "operator",
                      "connect me to an agent", "speak to a manager"],
    "repeat": ["what", "sorry", "pardon", "say that again", "i can't hear you",
               "repeat that", "what did you say", "you're breaking up", "sorry what",
               "can you repeat"],
    "voicemail": ["the number you dialed is unavailable", "please leave a message",
                  "leave a message after the tone", "the mobile you are calling is switched off",
                  "the person you are calling is not available", "your call has been forwarded",
                  "this number is no longer in service", "press 1 for"],
    "other": ["hold on", "wait a second", "it's raining", "i'm cooking", "hello",
              "hi", "um", "my dog is barking", "what day is it", "i'm at the store"],
}

# Context cases: (prompt templates, [(reply, label)]). The same reply gets a different label
# after a different prompt; the prompts are varied so the model learns the prompt's kind.
CTX = [
    (["您好请问是{s}先生吗", "请问是{s}女士吗", "您是{s}先生本人吗", "喂请问是{s}总吗",
      "请问您是{s}先生吗", "是{s}女士吧"],
     [("不是", "wrong_person"), ("不是我", "wrong_person"), ("不是的", "wrong_person"),
      ("是", "affirm"), ("是我", "affirm"), ("对", "affirm"), ("嗯是", "affirm"),
      ("对我就是", "affirm"), ("他不在", "wrong_person"), ("我是他爱人", "wrong_person"),
      ("你打错了", "wrong_person"), ("嗯", "affirm"), ("不是本人", "wrong_person"),
      ("什么事", "ask_detail"), ("你是谁", "ask_identity")]),
    (["您对我们这个{p}感兴趣吗", "您有兴趣了解一下{p}吗", "要不要给您办一个{p}",
      "您考虑办一个{p}吗", "需要给您介绍一下{p}吗", "您想了解一下吗"],
     [("不是", "deny"), ("不是很想", "deny"), ("不", "deny"), ("没有", "deny"),
      ("可以", "affirm"), ("有", "affirm"), ("有啊", "affirm"), ("要", "affirm"), ("想", "affirm"),
      ("还好", "hesitate"), ("一般吧", "hesitate"), ("看看吧", "hesitate"), ("不要", "deny"),
      ("有一点", "affirm"), ("嗯", "affirm"), ("没", "deny")]),
    (["明天下午方便吗", "那我明天上午再打给您可以吗", "下周一给您回电话行吗",
      "晚上八点方便吗", "改天再联系您可以吗", "那我们约周五可以吗"],
     [("可以", "affirm"), ("行", "affirm"), ("好", "affirm"), ("方便", "affirm"),
      ("嗯可以", "affirm"), ("不行", "busy_callback"), ("不方便", "busy_callback"),
      ("那天没空", "busy_callback"), ("换个时间吧", "busy_callback"), ("不用打了", "deny")]),
    (["您现在方便说话吗", "现在方便接电话吗", "耽误您两分钟可以吗", "您现在有空吗"],
     [("不方便", "busy_callback"), ("没空", "busy_callback"), ("忙", "busy_callback"),
      ("不行", "busy_callback"), ("方便", "affirm"), ("可以", "affirm"), ("有空", "affirm"),
      ("你说", "affirm"), ("说吧", "affirm"), ("不", "busy_callback")]),
    (["您现在有{p}吗", "请问您已经有{p}了吗", "您之前买过{p}吗", "您办过{p}吗"],
     [("有", "already_have"), ("有了", "already_have"), ("有的", "already_have"),
      ("买过", "already_have"), ("办过", "already_have"), ("嗯有", "already_have"),
      ("没有", "deny"), ("还没", "deny"), ("没买过", "deny"), ("对", "already_have")]),
    (["需要帮您转人工客服吗", "要不要转接人工", "需要人工服务吗"],
     [("要", "request_human"), ("需要", "request_human"), ("好", "request_human"),
      ("转吧", "request_human"), ("不用", "deny"), ("不需要", "deny")]),
    (["那我加您微信发资料可以吗", "方便加个微信吗", "我把资料发您短信好吗"],
     [("可以", "affirm"), ("好", "affirm"), ("不方便", "deny"), ("不用", "deny"),
      ("不行", "deny"), ("行", "affirm")]),
    (["is this {n}", "am i speaking with {n}", "hello is that {n}", "may i speak to {n}"],
     [("no", "wrong_person"), ("nope", "wrong_person"), ("yes", "affirm"),
      ("yeah", "affirm"), ("speaking", "affirm"), ("that's me", "affirm"),
      ("no he's not here", "wrong_person")]),
    (["are you interested in {p}", "would you like to hear about {p}",
      "can i tell you about {p}"],
     [("no", "deny"), ("nope", "deny"), ("yes", "affirm"), ("sure", "affirm"),
      ("maybe", "hesitate"), ("not really", "deny")]),
    (["would tomorrow afternoon work", "can i call you back on monday",
      "is this evening okay"],
     [("sure", "affirm"), ("yes", "affirm"), ("no", "busy_callback"),
      ("not then", "busy_callback"), ("ok", "affirm")]),
    (["do you have a minute", "is now a good time", "can you talk now"],
     [("no", "busy_callback"), ("not really", "busy_callback"), ("yes", "affirm"),
      ("sure", "affirm"), ("go ahead", "affirm")]),
    (["do you already have {p}", "do you have {p} now"],
     [("yes", "already_have"), ("yeah i do", "already_have"), ("no", "deny"),
      ("not yet", "deny")]),
]

# Generic bot prompts that do not change the meaning of a non-ambiguous reply.
# Questions that decide the meaning of a short reply (identity, interest) are left to CTX.
GENERIC_ZH = ["", "", "", "您好这里是平安客服给您介绍一款{p}", "我们最近有个{p}优惠活动",
              "这个{p}每个月只要几十块", "您看您有什么问题吗", "我简单给您介绍一下",
              "我们是做{p}的", "您好打扰一下"]
GENERIC_EN = ["", "", "hi this is a call about {p}", "we have a special offer on {p}",
              "let me tell you about {p}", "sorry to bother you"]

FILLERS_ZH = ["嗯", "啊", "那个", "呃", "哎", "喂", "哦", "就是", "嗯嗯", "这个", "额"]
TAILS_ZH = ["啊", "吧", "呢", "哈", "呀", "嘛", "了", "的"]
HOMOPHONE = {"在": "再", "再": "在", "的": "得", "吗": "嘛", "那": "哪", "是": "事",
             "已": "以", "电": "店", "话": "化", "钱": "前", "号": "好", "码": "吗",
             "考": "烤", "虑": "律", "忙": "芒", "买": "卖", "需": "许", "打": "达",
             "人": "仁", "工": "公", "投": "头", "诉": "速", "机": "几", "没": "每"}
FILLERS_EN = ["um", "uh", "well", "yeah so", "oh", "hmm", "like"]
HOMO_EN = {"no": "know", "to": "too", "right": "write", "there": "their", "your": "you're",
           "for": "four", "hear": "here", "by": "buy", "one": "won"}


def fill(t, zh=True):
    return (t.replace("{p}", R.choice(PRODUCTS if zh else PRODUCTS_EN))
             .replace("{t}", R.choice(TIMES if zh else TIMES_EN))
             .replace("{s}", R.choice(SURNAMES))
             .replace("{n}", R.choice(NAMES_EN)))


def noise_zh(t):
    chars = list(t)
    if len(chars) > 4 and R.random() < 0.12:
        del chars[R.randrange(len(chars))]
    if R.random() < 0.25:
        chars = [HOMOPHONE.get(c, c) if R.random() < 0.3 else c for c in chars]
    if len(chars) > 1 and R.random() < 0.08:
        i = R.randrange(len(chars))
        chars.insert(i, chars[i])
    t = "".join(chars)
    if R.random() < 0.35:
        t = R.choice(FILLERS_ZH) + t
    if R.random() < 0.2:
        t = t + R.choice(TAILS_ZH)
    if R.random() < 0.08:
        t = t + t  # callees repeat themselves: 不用了不用了
    if R.random() < 0.06:
        t = t + " " + R.choice(["ok", "sorry", "hello"])  # code switching
    return t


def noise_en(t):
    words = t.split()
    if len(words) > 2 and R.random() < 0.12:
        del words[R.randrange(len(words))]
    words = [HOMO_EN.get(w, w) if R.random() < 0.15 else w for w in words]
    t = " ".join(words)
    if R.random() < 0.3:
        t = R.choice(FILLERS_EN) + " " + t
    if R.random() < 0.08:
        t = t + " " + R.choice(["好的", "嗯", "啊"])
    return t


def main():
    # A held-out reply without prompt must not appear in training at all; a held-out context
    # case (prompt + short reply) must not appear with the same prompt.
    held, held_pairs = set(), set()
    with open(os.path.join(HERE, "heldout.tsv"), encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 3:
                key = cols[1].replace(" ", "").lower()
                if cols[0]:
                    held_pairs.add((cols[0].replace(" ", "").lower(), key))
                else:
                    held.add(key)
    rows = []
    for label, phrases in ZH.items():
        n = 300 if label not in ("dnc_request", "request_human", "voicemail") else 240
        for i in range(n):
            text = noise_zh(fill(phrases[i % len(phrases)] if i < len(phrases)
                                 else R.choice(phrases)))
            if label in ("voicemail",):
                prompt = ""  # a greeting answers no prompt: the bot has not spoken yet
            else:
                prompt = fill(R.choice(GENERIC_ZH))
            rows.append((prompt, text, label))
    for label, phrases in EN.items():
        for i in range(90):
            text = noise_en(fill(phrases[i % len(phrases)] if i < len(phrases)
                                 else R.choice(phrases), zh=False))
            prompt = "" if label == "voicemail" else fill(R.choice(GENERIC_EN), zh=False)
            rows.append((prompt, text, label))
    for prompts, replies in CTX:
        zh = any("\u4e00" <= ch <= "\u9fff" for ch in prompts[0])
        for _ in range(8):
            for reply, label in replies:
                p = fill(R.choice(prompts), zh)
                text = noise_zh(reply) if zh and R.random() < 0.4 else reply
                rows.append((p, text, label))
    R.shuffle(rows)
    def leaks(r):
        t = r[1].replace(" ", "").lower()
        return t in held or (r[0].replace(" ", "").lower(), t) in held_pairs

    kept = [r for r in rows if not leaks(r)]
    with open(os.path.join(HERE, "train.tsv"), "w", encoding="utf-8") as f:
        f.write("# generated by models/corpus/generate.py: prompt<TAB>text<TAB>label\n")
        for p, t, l in kept:
            f.write(f"{p}\t{t}\t{l}\n")
    print(f"wrote {len(kept)} rows ({len(rows) - len(kept)} dropped: equal to a held-out text)")


if __name__ == "__main__":
    main()
