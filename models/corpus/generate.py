#!/usr/bin/env python3
"""Generates models/corpus/train.tsv: labelled callee replies for the intent model.

Hand-written phrase lists per label (Mandarin first, English too) are combined with product
names, times, fillers and ASR-like noise (dropped characters, homophones, stutters, no
punctuation). Context cases pair short ambiguous replies with the bot prompt that decides their
meaning. heldout.tsv is written by hand with phrasings that are NOT in these lists; any generated
line whose text equals a held-out text is dropped so the held-out figure stays honest.

The fourth pass (breadth.py) adds confirmation questions whose yes/no mean another intent,
open questions whose short answers depend on what was asked, and broader phrasing. Rows of
asr.tsv (aicall's own recogniser on rendered speech of a sample of this corpus, made by
scripts/asr-corpus.py) and floor.tsv (supervisor corrections accepted by
`aicall train intent --review --accept`) are appended as they are. The fifth pass
(authored_rows) adds phrases/: replies and context rows written by separate authors who saw
neither these lists nor any evaluation set. The hand-written evaluation sets in eval/ are
never trained on: a generated row repeating one of their replies, or using one of their
context prompts, is dropped.

Deterministic: `python3 models/corpus/generate.py` always writes the same file.
Output: a header line, then source<TAB>prompt<TAB>text<TAB>label<TAB>hour (prompt and hour may
be empty); source is generated, confirm, broad, authored, asr or floor.
"""
import glob
import os
import random

import breadth

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


# More phrasings per label, written as a second pass so that each label has many independent
# ways of saying it (the model must learn the meaning, not a template).
ZH_MORE = {
    "affirm": [
        "嗯嗯好的好的", "好的呀", "可以呀你说", "行吧你讲讲", "那你说说吧", "OK没问题",
        "好的我听着呢", "对啊怎么了", "是啊我就是", "嗯我是", "是本人", "可以考虑办一个",
        "挺好的那就这个", "听着不错", "行那就办了吧", "好我同意", "那你安排一下", "嗯对",
        "没错", "是的呀", "那敢情好", "好啊好啊", "可以啊挺好", "那就定下来", "我觉得可以",
        "好那我先试一下", "行行行", "嗯那好吧", "那你继续说", "你说我在听", "那好啊",
        "好的你讲", "嗯你接着讲", "可以的可以的", "中啊没问题", "有需要的", "我挺需要的",
        "帮我登记一下吧", "那给我预约一下", "那就报一个吧", "好那你加我",
    ],
    "deny": [
        "不用不用", "不需要了谢谢你", "没兴趣啊", "我不感兴趣的", "不要了啊", "这个就算了",
        "没需求", "不考虑这个", "我们不需要的", "不了不了", "用不上", "不想要了",
        "我没有这个想法", "不买了", "不了吧", "不打算办", "这个不适合我", "我不需要这种",
        "谢谢啊不需要", "暂时不需要", "现在不需要", "以后也不需要", "没想法", "不弄了",
        "没必要", "我就不参加了", "不办了谢谢", "不行不行", "不合适我", "不做这个",
        "我用不到", "没打算买", "不感冒", "对这个没兴趣", "还是算了", "不想弄",
    ],
    "busy_callback": [
        "我现在在忙你晚点打", "这会儿忙着呢", "在外面办事", "在路上开车呢", "在开会不方便",
        "在上班呢", "现在不方便说", "我这边有点事", "等下再打给我", "你过会儿再打",
        "晚上再打吧", "明天再说吧", "下午再联系", "改天再打吧", "我在忙等会", "正在开车",
        "手上有活呢", "在陪客户", "我在医院看病", "在吃饭呢晚点", "在接孩子放学",
        "我马上要进会议室", "现在真没空", "下班以后再说", "周末再联系我", "你明天再打来",
        "现在没办法说话", "正在工作", "等我忙完再说", "我回头打给你", "在地铁上听不清晚点说",
        "过一个小时再打", "现在在忙没时间", "在高铁上不方便", "在加班呢",
    ],
    "hesitate": [
        "我考虑考虑再说", "让我想一下", "我再琢磨一下", "这个我得想想", "还没决定",
        "再等等吧", "我看看再说", "我回去商量一下", "我得问问我爱人", "家里人同意才行",
        "不一定", "说不好", "看情况", "到时候再说吧", "我还要考虑", "暂时还定不下来",
        "我再了解了解", "我还在对比", "有点犹豫", "让我再想想看", "我不确定要不要",
        "这事我做不了决定", "我得跟老板说一下", "也许以后吧", "我想一想再回复你",
        "先了解一下吧不一定买", "可能吧", "我考虑一段时间", "还没想清楚", "等我想好了",
    ],
    "ask_price": [
        "多少钱啊", "这个怎么卖", "价格贵吗", "什么价位", "一个月要多少钱", "一年交多少",
        "要交钱吗", "费用高不高", "有没有活动价", "能打折吗", "最便宜多少", "价格能优惠吗",
        "怎么收钱", "收不收费", "多钱", "要多少", "一共多少钱", "月费多少", "利息高吗",
        "年化多少", "多少钱一节", "一次多少钱", "学费贵不贵", "每个月扣多少",
        "便宜点行不行", "价格怎么样", "有没有优惠券", "贵不贵", "交多少钱",
    ],
    "ask_detail": [
        "这是什么", "什么产品", "干什么用的", "具体是啥", "能详细说说吗", "怎么个办法",
        "什么意思", "你说的是啥", "有什么优势", "有什么服务", "怎么参加", "要什么条件",
        "要准备什么", "在哪办", "多长时间", "什么时候开始", "保什么的", "怎么弄啊",
        "怎么申请", "有合同吗", "能退款吗", "是正规的吗", "有什么内容", "跟别家有什么不同",
        "上门吗", "是不是要下载什么", "要本人去吗", "能试用吗", "哪里可以看到",
        "什么活动", "具体怎么操作呢",
    ],
    "ask_identity": [
        "你哪位", "你是谁呀", "你是哪个", "哪家公司", "什么公司", "你们是干嘛的",
        "你们哪来的我电话", "我电话怎么来的", "谁让你打的", "你怎么会有我的号码",
        "你是人还是机器", "是录音吗", "你是ai吗", "你是什么人", "你贵姓", "你们公司在哪",
        "你是哪个部门的", "你是保险公司的吗", "你是卖什么的", "你是不是骗子",
        "你代表谁", "你是他们客服吗", "是哪个单位打来的", "你是哪个机构",
    ],
    "complaint": [
        "你们烦不烦啊", "烦死人了", "别骚扰我了", "天天打电话干嘛", "我已经说过不要了",
        "你们太烦了", "这是骚扰", "打了多少次了", "我要投诉你们公司", "我要举报",
        "太没礼貌了", "你们有毛病吧", "脑子有病", "神经", "滚蛋", "你们就是骗人的",
        "服务太烂了", "上次答应的事没办", "退款到现在都没退", "一直打一直打",
        "再打我报警", "你们这样违法的", "我投诉到消协", "骗子公司", "什么破服务",
        "一天好几个电话", "打扰我休息了", "大清早的打什么打",
    ],
    "dnc_request": [
        "别打了", "别再给我打了", "以后不要再打来了", "不要给我打电话", "不要再联系我了",
        "把我的电话删了", "删了我的号码", "把我拉进黑名单", "从名单上去掉我", "不要再拨这个号",
        "以后都别联系", "请不要再来电", "把号码从系统删除", "以后别推销了", "取消对我的推销",
        "别再联系这个号码了", "请把我加入免打扰", "设置免打扰谢谢", "我不接受推销电话",
        "以后不要打我电话了", "不要再给我发信息打电话",
    ],
    "wrong_person": [
        "打错电话了", "你打错人了", "我不是你找的人", "不是这个人", "没有这个人啊",
        "我不认识你说的人", "这号我刚换的", "这个号以前是别人的", "他已经不用这个号了",
        "我不是王总", "你说的人不在这", "我不姓这个", "名字不对", "找错了", "你找的不是我",
        "我是他老婆他不在", "我是他儿子", "这是公司座机没这个人", "你要找的人不是我",
        "我不是先生我是女的",
    ],
    "already_have": [
        "有了有了", "我已经有了", "早就买了", "我买了", "去年买过了", "已经办好了",
        "已经在别的地方买了", "单位交了", "我有一份了", "已经有了谢谢", "家里都有",
        "已经装好了", "已经报名了", "在用你们的", "我就是你们的客户", "已经有一张了",
        "我已经办过这个了", "这个我有", "已经上了保险", "老公给我买了", "孩子在别家上课",
        "已经签了合同", "之前就办了",
    ],
    "request_human": [
        "转人工吧", "给我转人工", "找人工客服", "我要找真人", "找个活人", "让人工跟我说",
        "叫你们的人来", "我要跟你们经理说", "换真人来", "别机器人了转人工", "能找人工吗",
        "人工服务", "接通人工", "转到客服", "我要和工作人员说", "让业务员给我打",
        "让你们领导跟我说话", "我要找负责人", "找真人聊",
    ],
    "repeat": [
        "啊", "啥啊", "什么啊", "你说什么啊", "没听清楚", "再说一下", "再讲一次",
        "听不太清", "你大声点", "刚刚说什么", "没听懂你说的", "什么意思没听清",
        "能重复一下吗", "信号不太好", "说慢一点", "声音太小", "喂听不见", "喂喂喂",
        "你那边好吵听不清", "卡了没听到", "你再说一次",
    ],
    "voicemail": [
        "您拨打的电话已关机请稍后再拨", "您拨打的用户暂时无法接通", "对不起您拨打的电话已关机",
        "您拨打的号码是空号请查证后再拨", "您拨打的用户正在通话中", "您拨打的电话无人接听",
        "您好您拨打的电话已停机", "请在滴声后留言", "您好我暂时不能接听您的电话请留言",
        "您拨打的用户已设置呼叫转移", "您所拨打的电话不在服务区", "您拨打的电话暂时无法接通请稍后再拨",
        "欢迎致电请按键选择服务", "本机用户已开通来电提醒", "您的来电将以短信形式通知机主",
        "您好请按一转人工服务请按二", "sorry the number you dialed is power off",
        "对不起您拨打的号码已过期", "您拨打的号码有误",
    ],
    "other": [
        "等会儿啊", "稍等一下", "你等等", "我先关个门", "孩子在闹", "外面好吵", "今天下雨了",
        "你那天气怎么样", "我在做饭", "我刚起床", "我在洗衣服", "我在楼下", "电梯里信号",
        "有人找我", "我在打游戏", "你是不是那个", "哎呀", "嗯哼", "哈哈哈哈", "好吧",
        "我在公园散步", "我刚吃完饭", "我老婆叫我", "我在排队", "车来了", "我在理发",
        "今天周几", "几点了", "我在看球",
    ],
}

EN_MORE = {
    "affirm": ["yes sure", "yeah go on", "ok tell me", "sure thing", "yes i'm listening",
               "that sounds great", "sounds fine", "okay sure", "yeah okay", "alright go ahead",
               "yes that's me", "this is he", "this is she", "i'd love to", "count me in",
               "yes i want it", "definitely", "sure why not", "yep", "uh huh go on",
               "i'm in", "works for me", "great let's go", "that'd be nice", "please continue",
               "yes tell me more about the deal", "okay i'll take it", "fine by me"],
    "deny": ["no no", "not interested sorry", "i'm not interested", "no i'm ok", "no need",
             "don't need it", "no thank you bye", "i don't think so", "not right now no",
             "we're fine thanks", "i'll pass thanks", "not for me thanks", "nope not interested",
             "no we don't want that", "i'm good no thanks", "not interested at all",
             "no way", "i don't want any", "no i don't need anything", "not today thanks"],
    "busy_callback": ["i'm busy right now", "can you call later", "call me back later",
                      "i'm at work right now", "i'm driving can't talk", "call back tomorrow",
                      "i'm in the middle of something", "bad time", "can we talk later",
                      "call me in an hour", "i'm busy call tomorrow", "can't talk right now",
                      "try me later", "i'm with a customer", "i'm in class", "call me tonight",
                      "maybe call me next week", "not now i'm busy", "i'm at the doctor",
                      "i'm cooking dinner call later", "give me a call this afternoon"],
    "hesitate": ["i'm not sure", "maybe maybe not", "let me think about it", "i need some time",
                 "i'll have to think", "not sure yet", "i have to check with my wife",
                 "i need to ask my husband", "let me discuss with my family", "i don't know yet",
                 "possibly", "i'll consider it", "let me sleep on it", "hard to say",
                 "i haven't decided", "i'll get back to you", "perhaps later", "we'll see"],
    "ask_price": ["how much does it cost", "what's the price", "how much is it", "what do you charge",
                  "what are the fees", "is it expensive", "how much a month", "how much per year",
                  "is there any discount", "what's the monthly payment", "any deals", "is it free",
                  "what's the interest rate", "how much do i pay", "price please", "cost",
                  "how much would that be", "what's the premium", "any cheaper option"],
    "ask_detail": ["what is this about", "tell me more", "how does it work", "what's it for",
                   "what do you offer", "what's the deal", "can you explain", "give me details",
                   "what are the benefits", "what's covered", "how do i apply", "what's the catch",
                   "what are the requirements", "how long is the contract", "is it online",
                   "where is it", "what exactly is it", "what kind of plan", "more info please"],
    "ask_identity": ["who's this", "who is calling", "who are you with", "what company are you from",
                     "where did you get my number", "how'd you get this number", "is this a bot",
                     "am i talking to a machine", "are you a person", "what's your company",
                     "who is this please", "who gave you my number", "are you a telemarketer",
                     "what's this company", "who's speaking"],
    "complaint": ["stop calling", "you keep calling me", "this is harassment", "i'll report you",
                  "i'm going to file a complaint", "this is a scam", "leave me alone",
                  "you guys are annoying", "stop bothering me", "this is the third time today",
                  "i'm sick of these calls", "your company is terrible", "unbelievable",
                  "i'm reporting this number", "what a joke", "you people never stop",
                  "quit harassing me"],
    "dnc_request": ["remove my number", "take me off the list", "don't call me again",
                    "please don't call this number", "delete my number from your list",
                    "put me on do not call", "never call again", "stop calling this number please",
                    "unsubscribe me", "remove me from your calling list", "don't ever call me",
                    "add me to your do not call list"],
    "wrong_person": ["wrong number", "you've got the wrong number", "wrong person",
                     "no one here by that name", "there's no {n} here", "i'm not {n}",
                     "this isn't {n}", "you have the wrong person", "{n} doesn't live here anymore",
                     "this is not their number", "i don't know {n}", "never heard of {n}",
                     "he changed his number", "not me you want"],
    "already_have": ["i already have it", "already got one", "i already have insurance",
                     "we already have a plan", "i'm already a customer", "i already signed up",
                     "i bought one already", "already have {p}", "i have one already thanks",
                     "i'm already with another company", "already taken care of",
                     "we got that already"],
    "request_human": ["can i talk to a person", "i want a real person", "let me talk to a human",
                      "transfer me to an agent", "put a real person on", "i want to speak to someone",
                      "get me your manager", "human please", "representative", "agent please",
                      "can i speak to a real agent", "connect me to a person"],
    "repeat": ["what", "huh", "sorry what", "come again", "say again", "i didn't hear you",
               "can you repeat that", "pardon me", "what was that", "i can't hear",
               "you're breaking up", "speak louder", "sorry i missed that", "repeat please",
               "what did you just say"],
    "voicemail": ["the number you have dialed is not available", "please leave a message after the tone",
                  "the person you are calling is unavailable", "the subscriber cannot be reached",
                  "you have reached the voicemail", "the number is not in service",
                  "the mobile phone you dialed is switched off", "please record your message",
                  "at the tone please record your message", "your call has been forwarded to voicemail",
                  "press 1 to leave a callback number", "the number you dialed is busy"],
    "other": ["hang on", "one moment", "hold on a sec", "it's so hot today", "i'm eating",
              "my kid is crying", "i'm at the gym", "hello hello", "oh", "hmm", "wait",
              "i'm outside", "i just woke up", "there's a lot of noise here", "is it sunny there",
              "i'm walking the dog", "what's the weather like"],
}


# Third pass: situations the first two passes under-covered (who decides, numbers that changed
# hands, enrolment elsewhere, small talk, broken promises, English question forms).
ZH_THIRD = {
    "affirm": ["我觉得挺有兴趣的", "听起来可以", "蛮感兴趣的", "有点意思你说说", "这个我要",
               "好那就麻烦你了", "行你帮我弄吧", "可以啊我正好想了解"],
    "deny": ["这种我都不要", "不需要的谢谢了", "家里用不着", "我没这个打算的", "真的不用了",
             "别介绍了我不要"],
    "busy_callback": ["等我到家再打", "开完会再说", "我这会在外头", "你换个时间打", "下班后打给我",
                      "我这两天都忙下周再说", "现在接不了电话"],
    "hesitate": ["我说了不算", "得家里人拿主意", "我要问问孩子", "要请示一下领导", "我自己定不了",
                 "给我几天时间", "容我考虑几天", "我还得再想想", "拿不准", "犹犹豫豫的",
                 "心里没底", "我想想再给你答复", "这个嘛不好说", "我先看看别家的",
                 "再研究一下吧", "我跟朋友商量下"],
    "ask_price": ["有没有减免", "能不能打个折", "优惠多少", "要付多少", "首付要多少钱",
                  "价钱贵不贵", "收费标准是什么", "一节课多少钱"],
    "ask_detail": ["这是干啥的", "你们这个是做什么的", "讲讲具体怎么操作", "有什么好处",
                   "都包含哪些", "需要办什么手续", "怎么开通", "靠不靠谱", "具体内容讲一下",
                   "能说具体点吗", "这个有啥用啊"],
    "ask_identity": ["你们是哪个单位的", "你是什么公司", "你到底是谁", "你是真人吗",
                     "是机器人在说话吗", "你是不是自动语音", "哪里的电话"],
    "complaint": ["答应我的事一直没兑现", "说好的优惠没给", "上次的钱还没退",
                  "你们说话不算话", "骗我好几次了", "问题一直没人处理", "都拖了一个月了",
                  "一直打扰我", "你们真是没完了"],
    "dnc_request": ["把我号码拉黑", "号码删掉别再打", "别再拨打我的号码", "不要再给我来电"],
    "wrong_person": ["这号码现在是我在用", "他早就不用这个号了", "号码换主人了", "这里没这个人",
                     "你说的这个人我不认识", "没有叫这个名字的", "我不是机主", "他号码停了这是我的"],
    "already_have": ["在别的地方报名了", "已经在其他机构办了", "我有了不用了", "已经买过别家的",
                     "我已经有一个了不要", "早就在用了", "别家已经给我办了", "我们公司统一办了"],
    "request_human": ["有没有真人", "找个真人来", "有人工吗我不跟机器说", "转个真人",
                      "我不和机器人说", "有没有人工服务", "叫个人工过来"],
    "repeat": ["你刚才讲啥", "没听见再说", "听不清楚你讲慢点", "说啥呢没听到"],
    "other": ["我在菜市场", "我在商场呢", "我在外面逛街", "今天好冷啊", "你在哪个城市",
              "我刚到公司", "狗在叫", "门铃响了", "你吃饭没有", "我在厨房", "我在开门",
              "我快递到了", "天气不错", "你们那边几点了"],
}

EN_THIRD = {
    "affirm": ["yes that would be nice", "okay i'm listening", "sounds interesting tell me"],
    "deny": ["no i don't want that", "not interested bye", "i'm all set no thanks"],
    "busy_callback": ["can you call me back another time", "i'm at work call later",
                      "this is a bad time call next week", "i can't talk i'm driving"],
    "hesitate": ["i have to ask my wife first", "let me check with my husband", "i need to think it over",
                 "i'll talk to my family first", "i'm not the one who decides",
                 "maybe i'm not sure", "let me think about it first"],
    "ask_price": ["what's the cost", "is there a discount available", "does it cost money",
                  "are there any fees", "what's the price of it"],
    "ask_detail": ["what are you offering exactly", "what's included in it", "what does it include",
                   "how does this work", "what do i have to do to join", "what do i need to apply",
                   "what's the plan about", "what would i get"],
    "ask_identity": ["who am i talking to", "what company is calling", "who are you people",
                     "are you a robot or a person"],
    "complaint": ["this is ridiculous", "you keep calling me every day", "i'll file a complaint",
                  "stop harassing me", "your service is awful"],
    "wrong_person": ["i'm not that person", "i'm not him", "she doesn't have this number anymore",
                     "no one by that name lives here", "this isn't their phone"],
    "already_have": ["got one already", "i already have one thanks", "we signed up already"],
    "request_human": ["i want to talk to a human", "get me a person", "real person please"],
    "repeat": ["sorry i didn't hear", "could you say that again", "i missed that"],
    "other": ["my phone is about to die", "someone's at the door", "what time is it",
              "i'm at the supermarket", "it's really cold today", "i just got back"],
}

# Compositions: a reason followed by a request, as callees often say two things at once.
BUSY_REASONS = ["我在开会", "我在开车", "我在忙", "现在有事", "在上班", "在外面", "在吃饭",
                "我在带孩子", "正在忙工作", "我在路上"]
BUSY_ASKS = ["{t}再打", "{t}打过来吧", "{t}再说", "你{t}再联系我", "回头再说", "晚点聊",
             "等会打给我", "{t}有空"]
AFFIRM_ACKS = ["好", "好的", "行", "可以", "嗯", "嗯嗯", "对", "中", "成", "ok"]
AFFIRM_CONTS = ["你说", "你讲吧", "说说看", "你继续", "你介绍一下吧", "发我看看", "那就办吧",
                "我听听", "你接着说"]
DENY_HEADS = ["不用", "不需要", "不要", "没兴趣", "不考虑", "算了"]
DENY_TAILS = ["谢谢", "谢谢你", "了", "了啊", "真的", "我挂了", "别说了", "拜拜"]

# Context cases: (prompt templates, [(reply, label)]). The same reply gets a different label
# after a different prompt; the prompts are varied so the model learns the prompt's kind.
CTX = [
    (["{g}请问是{s}先生吗", "{g}请问是{s}女士吗", "{g}您是{s}先生本人吗", "{g}请问是{s}总吗",
      "{g}请问您是{s}先生吗", "{g}是{s}女士吧", "{g}这里是找{s}先生的是您吗", "{g}请问机主是{s}先生吗",
      "{g}您是{s}阿姨吧", "{g}请问{s}女士在吗", "{g}是{s}先生吧我是客服"],
     [("不是", "wrong_person"), ("不是我", "wrong_person"), ("不是的", "wrong_person"),
      ("是", "affirm"), ("是我", "affirm"), ("对", "affirm"), ("嗯是", "affirm"),
      ("对我就是", "affirm"), ("他不在", "wrong_person"), ("我是他爱人", "wrong_person"),
      ("你打错了", "wrong_person"), ("嗯", "affirm"), ("不是本人", "wrong_person"),
      ("什么事", "ask_detail"), ("你是谁", "ask_identity")]),
    (["{g}您对我们这个{p}感兴趣吗", "{g}您有兴趣了解一下{p}吗", "{g}要不要给您办一个{p}",
      "{g}您考虑办一个{p}吗", "{g}需要给您介绍一下{p}吗", "{g}您想了解一下吗",
      "{g}这个{p}您有没有兴趣", "{g}您看要不要参加一下", "{g}您愿不愿意试试{p}",
      "{g}这个{p}对您有吸引力吗", "{g}您看这个{p}怎么样想不想办"],
     [("不是", "deny"), ("不是很想", "deny"), ("不", "deny"), ("没有", "deny"),
      ("可以", "affirm"), ("有", "affirm"), ("有啊", "affirm"), ("要", "affirm"), ("想", "affirm"),
      ("还好", "hesitate"), ("一般吧", "hesitate"), ("看看吧", "hesitate"), ("不要", "deny"),
      ("有一点", "affirm"), ("嗯", "affirm"), ("没", "deny")]),
    (["明天下午方便吗", "那我明天上午再打给您可以吗", "下周一给您回电话行吗",
      "晚上八点方便吗", "改天再联系您可以吗", "那我们约周五可以吗", "那我下午三点再打给您行不行",
      "那约在后天上午您看可以吗", "我晚点再给您打过去好吗", "周末给您电话方便吗"],
     # Accepting a callback the bot proposes is a callback, not a generic yes.
     [("可以", "busy_callback"), ("行", "busy_callback"), ("好", "busy_callback"),
      ("方便", "busy_callback"), ("嗯可以", "busy_callback"), ("不行", "busy_callback"),
      ("不方便", "busy_callback"),
      ("那天没空", "busy_callback"), ("换个时间吧", "busy_callback"), ("不用打了", "deny")]),
    (["{g}您现在方便说话吗", "{g}现在方便接电话吗", "{g}耽误您两分钟可以吗", "{g}您现在有空吗",
      "{g}占用您一分钟时间可以吗", "{g}现在跟您聊几句方便吗", "{g}您这会儿忙不忙"],
     [("不方便", "busy_callback"), ("没空", "busy_callback"), ("忙", "busy_callback"),
      ("不行", "busy_callback"), ("方便", "affirm"), ("可以", "affirm"), ("有空", "affirm"),
      ("你说", "affirm"), ("说吧", "affirm"), ("不", "busy_callback")]),
    (["{g}您现在有{p}吗", "{g}请问您已经有{p}了吗", "{g}您之前买过{p}吗", "{g}您办过{p}吗",
      "{g}您家里有没有买{p}", "{g}您名下有{p}吗", "{g}您给孩子报过{p}吗"],
     [("有", "already_have"), ("有了", "already_have"), ("有的", "already_have"),
      ("买过", "already_have"), ("办过", "already_have"), ("嗯有", "already_have"),
      ("没有", "deny"), ("还没", "deny"), ("没买过", "deny"), ("对", "already_have")]),
    (["需要帮您转人工客服吗", "要不要转接人工", "需要人工服务吗", "我帮您转接专员好吗",
      "需要让我们的顾问给您打过去吗"],
     [("要", "request_human"), ("需要", "request_human"), ("好", "request_human"),
      ("转吧", "request_human"), ("不用", "deny"), ("不需要", "deny")]),
    (["那我加您微信发资料可以吗", "方便加个微信吗", "我把资料发您短信好吗"],
     [("可以", "affirm"), ("好", "affirm"), ("不方便", "deny"), ("不用", "deny"),
      ("不行", "deny"), ("行", "affirm")]),
    (["is this {n}", "am i speaking with {n}", "hello is that {n}", "may i speak to {n}",
      "hi i'm trying to reach {n}", "could i talk to {n} please", "is {n} there",
      "hello am i talking to {n}"],
     [("no", "wrong_person"), ("nope", "wrong_person"), ("yes", "affirm"),
      ("yeah", "affirm"), ("speaking", "affirm"), ("that's me", "affirm"),
      ("no he's not here", "wrong_person")]),
    (["are you interested in {p}", "would you like to hear about {p}",
      "can i tell you about {p}", "does {p} sound interesting to you", "would you want to try {p}",
      "interested in learning more"],
     [("no", "deny"), ("nope", "deny"), ("yes", "affirm"), ("sure", "affirm"),
      ("maybe", "hesitate"), ("not really", "deny")]),
    (["would tomorrow afternoon work", "can i call you back on monday",
      "is this evening okay", "how about friday morning", "shall i call you at 3 tomorrow"],
     [("sure", "busy_callback"), ("yes", "busy_callback"), ("no", "busy_callback"),
      ("not then", "busy_callback"), ("ok", "busy_callback")]),
    (["do you have a minute", "is now a good time", "can you talk now",
      "got a few minutes", "is this a good time to chat"],
     [("no", "busy_callback"), ("not really", "busy_callback"), ("yes", "affirm"),
      ("sure", "affirm"), ("go ahead", "affirm")]),
    (["do you already have {p}", "do you have {p} now", "have you bought {p} before",
      "do you currently have {p}"],
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


GREETINGS = ["", "", "您好", "喂您好", "你好", "您好打扰一下", "喂", "您好这里是客服中心"]


def fill(t, zh=True):
    return (t.replace("{g}", R.choice(GREETINGS)).replace("{p}", R.choice(PRODUCTS if zh else PRODUCTS_EN))
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


def key(t):
    return "".join(ch for ch in t.lower() if ch.isalnum())


def read_tsv(path):
    """Rows of a header TSV as dicts (comment and blank lines skipped)."""
    out, cols = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cells = line.split("\t")
            if cols is None:
                cols = cells
                continue
            out.append(dict(zip(cols, cells)))
    return out


def authored_rows():
    """Fifth pass: phrases/ — replies (zh.tsv, en.tsv) and short replies after a prompt
    (context.tsv) written by separate authors who saw neither this generator nor any
    evaluation set. Each row three times: as written, with ASR-like noise, and after another
    prompt of its language (context rows keep their own prompt)."""
    rows = []
    for name, zh in (("zh", True), ("en", False)):
        noise = noise_zh if zh else noise_en
        generic = GENERIC_ZH if zh else GENERIC_EN
        for r in read_tsv(os.path.join(HERE, "phrases", f"{name}.tsv")):
            text, label = r["text"], r["label"]
            for i in range(3):
                prompt = "" if label == "voicemail" else fill(R.choice(generic), zh)
                rows.append((prompt, text if i == 0 else noise(text), label))
    for r in read_tsv(os.path.join(HERE, "phrases", "context.tsv")):
        zh = any("\u4e00" <= ch <= "\u9fff" for ch in r["text"] + r["prompt"])
        noise = noise_zh if zh else noise_en
        for i in range(3):
            rows.append((r["prompt"], r["text"] if i != 1 else noise(r["text"]), r["label"]))
    return rows


def main():
    # A held-out reply without prompt must not appear in training at all; a held-out context
    # case (prompt + short reply) must not appear with the same prompt.
    held, held_pairs, held_prompts = set(), set(), set()
    with open(os.path.join(HERE, "heldout.tsv"), encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 3:
                k = cols[1].replace(" ", "").lower()
                if cols[0]:
                    held_pairs.add((cols[0].replace(" ", "").lower(), k))
                else:
                    held.add(k)
    # The hand-written evaluation sets: no reply of a phrasing set and no prompt of a context
    # set may be generated.
    for path in sorted(glob.glob(os.path.join(HERE, "eval", "*.tsv"))):
        for r in read_tsv(path):
            if r.get("prompt"):
                held_prompts.add(key(r["prompt"]))
            if r.get("source") != "context":
                held.add(key(r["text"]))
    rows = []
    for label in ZH:
        ZH[label] = ZH[label] + ZH_MORE[label] + ZH_THIRD.get(label, [])
    for label in EN:
        EN[label] = EN[label] + EN_MORE[label] + EN_THIRD.get(label, [])
    for _ in range(250):
        rows.append((fill(R.choice(GENERIC_ZH)), noise_zh(fill(R.choice(BUSY_REASONS) + R.choice(BUSY_ASKS))), "busy_callback"))
        rows.append((fill(R.choice(GENERIC_ZH)), noise_zh(R.choice(AFFIRM_ACKS) + R.choice(AFFIRM_CONTS)), "affirm"))
        rows.append((fill(R.choice(GENERIC_ZH)), noise_zh(R.choice(DENY_HEADS) + R.choice(DENY_TAILS)), "deny"))
    # Clear replies after the context-deciding prompts, so the prompt alone decides nothing.
    clear = ["ask_price", "ask_detail", "ask_identity", "complaint", "dnc_request", "request_human", "repeat", "hesitate", "busy_callback", "already_have"]
    ctx_prompts_zh = [p for ps, _ in CTX for p in ps if any("\u4e00" <= ch <= "\u9fff" for ch in p)]
    ctx_prompts_en = [p for ps, _ in CTX for p in ps if not any("\u4e00" <= ch <= "\u9fff" for ch in p)]
    for _ in range(600):
        label = R.choice(clear)
        rows.append((fill(R.choice(ctx_prompts_zh)), noise_zh(fill(R.choice(ZH[label]))), label))
    for _ in range(200):
        label = R.choice(clear)
        rows.append((fill(R.choice(ctx_prompts_en), zh=False), noise_en(fill(R.choice(EN[label]), zh=False)), label))
    for label, phrases in ZH.items():
        n = 360 if label not in ("dnc_request", "request_human", "voicemail") else 280
        for i in range(n):
            text = noise_zh(fill(phrases[i % len(phrases)] if i < len(phrases)
                                 else R.choice(phrases)))
            if label in ("voicemail",):
                prompt = ""  # a greeting answers no prompt: the bot has not spoken yet
            else:
                prompt = fill(R.choice(GENERIC_ZH))
            rows.append((prompt, text, label))
    for label, phrases in EN.items():
        for i in range(200):
            text = noise_en(fill(phrases[i % len(phrases)] if i < len(phrases)
                                 else R.choice(phrases), zh=False))
            prompt = "" if label == "voicemail" else fill(R.choice(GENERIC_EN), zh=False)
            rows.append((prompt, text, label))
    for prompts, replies in CTX:
        zh = any("\u4e00" <= ch <= "\u9fff" for ch in prompts[0])
        for _ in range(12):
            for reply, label in replies:
                p = fill(R.choice(prompts), zh)
                text = noise_zh(reply) if zh and R.random() < 0.4 else reply
                rows.append((p, text, label))
    rows = [("generated",) + r for r in rows]
    rows += [("confirm",) + r for r in breadth.confirm_rows(R, fill)]
    rows += [("broad",) + r for r in breadth.broad_rows(
        R, fill, noise_zh, noise_en, GENERIC_ZH, GENERIC_EN, ZH, EN)]
    rows += [("authored",) + r for r in authored_rows()]
    # Transcripts of aicall's recogniser (scripts/asr-corpus.py) and supervisor corrections
    # accepted by `aicall train intent --review --accept`, as they are.
    for name in ("asr", "floor"):
        path = os.path.join(HERE, f"{name}.tsv")
        if os.path.exists(path):
            rows += [(name, r.get("prompt", ""), r["text"], r["label"]) for r in read_tsv(path)]
    R.shuffle(rows)

    def leaks(r):
        t = r[2].replace(" ", "").lower()
        return (t in held or key(r[2]) in held or key(r[1]) in held_prompts
                or (r[1].replace(" ", "").lower(), t) in held_pairs)

    kept = [r for r in rows if not leaks(r) and key(r[2])]
    with open(os.path.join(HERE, "train.tsv"), "w", encoding="utf-8") as f:
        f.write("# generated by models/corpus/generate.py\n")
        f.write("source\tprompt\ttext\tlabel\thour\n")
        for src, p, t, l in kept:
            # Most rows carry a call hour so the model sees its time features; the hours are
            # random (this corpus has no time-dependent labels), so it learns not to lean on
            # them until labelled calls with real hours arrive through --incremental.
            hour = str(R.randint(8, 21)) if R.random() < 0.7 else ""
            f.write(f"{src}\t{p}\t{t}\t{l}\t{hour}\n")
    counts = {}
    for r in kept:
        counts[r[0]] = counts.get(r[0], 0) + 1
    print(f"wrote {len(kept)} rows {counts} ({len(rows) - len(kept)} dropped: equal to an "
          f"evaluation text or prompt)")


if __name__ == "__main__":
    main()
