"""Fourth pass of the intent corpus (imported by generate.py): phrasing breadth and context.

- Confirmation questions whose "yes" (and "no") mean another intent: the bot paraphrases what
  it understood ("您的意思是以后不要再打了，是吗") and a bare 是的 confirms it. Prompts are built
  from framings x propositions x tags, across industries, so the model has to read what the
  question proposes rather than learn a prompt by heart.
- Open questions whose short answer depends on what was asked (a time after "when will you
  decide" is hesitation; after "when shall I call" it is a callback).
- Colloquial and regional Mandarin, hedges, negation scope, self-corrections, stutters,
  code-mixing, and English of several varieties.

Everything here is written for generation only. The hand-written evaluation sets in eval/ are
a separate source: generate.py drops any row that would repeat one of their replies (or, for
context rows, their prompts), and tests/nlu.rs checks that none leaked.
"""

INDUSTRY_ZH = {
    "insurance": ["保险", "重疾险", "医疗险", "意外险", "车险", "养老保险"],
    "broadband": ["宽带", "光纤", "千兆宽带", "融合套餐", "流量套餐"],
    "card": ["信用卡", "白金卡", "联名卡", "分期业务", "额度提升"],
    "loan": ["贷款", "信用贷", "经营贷", "装修贷", "消费贷"],
    "education": ["课程", "少儿英语", "编程课", "考研班", "网课"],
    "ecommerce": ["订单", "快递", "退货", "会员权益", "这次购买的商品"],
}
INDUSTRY_EN = ["the policy", "the plan", "your broadband", "the card", "the loan", "the course",
               "your order", "the subscription", "the upgrade", "the cover"]

# What the bot proposes, by the intent a "yes" to it means.
PROPOSALS_ZH = {
    "dnc_request": [
        "以后不希望我们再给您打电话", "不想再接到我们的电话", "要把您的号码从拨打名单里去掉",
        "以后都不要再联系您", "想加入我们的免打扰名单", "不想再收到{p}的推广来电",
        "让我们以后别再打这个号码", "希望我们把您的联系方式删掉",
    ],
    "ask_price": [
        "想先了解一下价格", "想知道{p}每个月要交多少钱", "比较关心费用", "想问一下收费标准",
        "想让我先报个价", "主要想了解{p}怎么收费", "想知道一年总共要花多少",
    ],
    "busy_callback": [
        "现在不方便接听", "想让我们换个时间再打", "正在忙想晚点再聊", "希望{t}再联系您",
        "这会儿没空听我介绍", "让我{t}再给您打过来", "现在在开车不方便说话",
    ],
    "hesitate": [
        "还需要再考虑考虑", "要跟家里人商量之后再定", "现在还拿不定主意", "想再比较一下别家",
        "还没想好要不要办{p}", "需要点时间想一想",
    ],
    "request_human": [
        "想找人工客服", "希望有专人跟您沟通", "想让客户经理直接跟您联系", "想转接人工",
        "想跟真人聊", "需要我们的顾问给您回电",
    ],
    "complaint": [
        "对我们之前的服务不满意", "想投诉上次的问题", "对上次的处理结果有意见",
        "觉得我们的电话太频繁了很反感",
    ],
    "ask_detail": [
        "想具体了解一下{p}的内容", "想知道{p}怎么办理", "想先听听保障范围", "想了解一下具体流程",
        "想问问{p}有什么条件", "想知道{p}包含哪些服务",
    ],
    "ask_identity": [
        "想确认一下我们是哪家公司", "想知道我们是怎么拿到您电话的", "想问我是哪个单位的",
        "想知道我是不是机器人",
    ],
    "wrong_person": [
        "这个号码已经不是{s}先生在用了", "我们打错人了", "您不认识{s}女士", "{s}先生不用这个号了",
    ],
    "already_have": [
        "已经有{p}了", "已经在别家办过{p}", "已经是我们的老客户了", "家里已经买过{p}了",
    ],
    "deny": [
        "暂时不需要{p}", "对{p}不感兴趣", "不打算办{p}", "这个活动您不想参加",
    ],
    "affirm": [
        "愿意了解一下{p}", "同意办理{p}", "想办{p}", "对{p}有兴趣", "可以接受这个方案",
    ],
}
# What "no" to a paraphrase means, where it is one label (the callee is not busy, does not
# have it, does not want it); other paraphrases' "no" only says the bot misunderstood.
NO_MEANS = {"affirm": "deny", "already_have": "deny", "request_human": "deny",
            "busy_callback": "affirm"}
FRAMINGS_ZH = ["您的意思是{x}", "您是说{x}", "所以您是{x}", "您是不是{x}", "您是想说{x}",
               "也就是说您{x}", "我理解您是{x}", "您这边是{x}", "那就是{x}", "听您的意思是{x}"]
LEADS_ZH = ["", "", "", "好的", "嗯明白", "那我确认一下", "我跟您核实一下", "不好意思我确认下",
            "那我这边记一下", "{g}"]
TAGS_ZH = ["是吗", "对吗", "对吧", "是不是", "没错吧", "我理解得对吗", "是这个意思吗", "吧", "",
           "我没理解错吧", "对不对"]
YES_ZH = ["是的", "是", "对", "对的", "对对", "嗯", "嗯嗯", "嗯对", "没错", "是啊", "是这样",
          "对啊", "就是这个意思", "嗯是的", "对没错", "是的是的", "对对对", "可不是嘛", "嗯呐",
          "对头", "是滴", "那当然", "确实"]
NO_ZH = ["不是", "不是的", "也不是", "不对", "不是这个意思", "没有", "没有没有", "不是啊",
         "你理解错了", "我不是这个意思"]

# Questions a plain yes/no answers with a meaning of its own:
# (prompts, yes label, yes replies, no label, no replies).
YES_PLAIN = ["是的", "是", "对", "对的", "嗯", "嗯嗯", "可以", "行", "好的", "好", "没问题", "嗯可以"]
YESNO_ZH = [
    (["我刚才说的您听清楚了吗", "我讲的您都听到了吗", "刚才那段您听明白了吗", "我说的您能听清吗",
      "信号还好吗能听到我说话吗", "我这样讲您听得明白吗"],
     "affirm", YES_PLAIN + ["听清了", "听到了", "清楚", "明白"],
     "repeat", ["没有", "没听清", "没听到", "没太听清", "不太清楚", "听不清", "没"]),
    (["您考虑好了吗", "上次说的{p}您想好了吗", "您跟家里人商量好了吗", "您决定好了吗",
      "那个{p}您考虑得怎么样了", "您有结论了吗"],
     "affirm", ["想好了", "考虑好了", "好了", "决定了", "商量好了办吧", "嗯想好了"],
     "hesitate", ["还没", "还没有", "没呢", "还在想", "还没想好", "没决定", "还在考虑", "还没商量"]),
    (["要不要我再说一遍", "需要我再重复一下吗", "我再给您讲一遍好吗", "要我讲慢一点吗"],
     "repeat", ["要", "好", "好的", "嗯", "可以", "再说一遍吧", "麻烦了", "需要"],
     "deny", ["不用", "不用了", "不需要", "不用重复了"]),
    (["我晚点再打给您可以吗", "那我{t}再给您打过来行吗", "我换个时间再联系您好吗",
      "那我过一会儿再打给您吧", "那我{t}给您回个电话可以吗", "要不我{t}再打", "我等下再打过来方便吗",
      "那我们约{t}再聊好不好"],
     "busy_callback", YES_PLAIN + ["行啊", "好的呀", "可以的", "嗯行", "那就这样"],
     "deny", ["不用了", "不用打了", "不用再打了", "不必了"]),
    (["您需要我们的顾问给您回电吗", "要不要让客户经理直接联系您", "需要我帮您转接专员吗",
      "要给您安排人工客服吗"],
     "request_human", YES_PLAIN + ["要", "需要", "转吧"],
     "deny", ["不用", "不需要", "不用了"]),
    (["您是{s}先生本人吗", "请问您是机主本人吗", "您是这个号码的机主吧", "您是{s}女士吧"],
     "affirm", ["是的", "是", "对", "是我", "嗯是我", "本人"],
     "wrong_person", ["不是", "不是我", "我不是", "不是本人"]),
    (["您现在家里有宽带吗", "您已经有{p}了吗", "您之前在别家办过{p}吗", "您有没有买过{p}"],
     "already_have", ["有", "有的", "有了", "办过", "买过", "嗯有"],
     "deny", ["没有", "还没有", "没办过", "没买过"]),
    (["方便耽误您两分钟吗", "您现在说话方便吗", "现在跟您聊几句可以吗", "能占用您一点时间吗"],
     "affirm", YES_PLAIN + ["方便", "你说吧", "有空"],
     "busy_callback", ["不方便", "不行", "没空", "不太方便", "在忙"]),
]
# Open questions whose short answers take their meaning from what was asked.
OPEN_ZH = [
    (["您大概什么时候能考虑好", "您什么时候能给我答复", "您大概多久能定下来", "您想好了什么时候告诉我",
      "那您大概什么时候能做决定"], "hesitate",
     ["{t}吧", "{t}", "过几天吧", "说不好", "不一定", "等我想好", "下周吧", "看情况", "月底吧",
      "我也说不准", "得一阵子"]),
    (["您看什么时候方便我再打给您", "那您什么时间方便接电话", "我什么时候打给您比较合适",
      "您一般几点有空", "那改到什么时候联系您"], "busy_callback",
     ["{t}吧", "{t}", "{t}打吧", "晚上吧", "下午吧", "{t}都行", "等我下班", "中午吧"]),
    (["您觉得价格怎么样", "这个价位您能接受吗", "费用方面您觉得合适吗"], "deny",
     ["太贵了", "贵了", "太高了", "接受不了", "有点贵不要了", "太贵了不划算"]),
]

YES_EN = ["yes", "yeah", "yep", "correct", "that's right", "exactly", "right", "uh huh",
          "that's correct", "yes please", "absolutely", "pretty much", "spot on", "you got it"]
NO_EN = ["no", "nope", "not really", "that's not what i said", "no that's wrong"]
PROPOSALS_EN = {
    "dnc_request": ["you'd like us to stop calling you", "you don't want any more calls from us",
                    "you want your number taken off our list", "we should not contact you again"],
    "ask_price": ["you'd like to know the price first", "you're asking about the cost",
                  "you want to know the monthly fee"],
    "busy_callback": ["now isn't a good time", "you'd rather we called back later",
                      "you're busy at the moment"],
    "hesitate": ["you still need some time to think", "you want to talk it over with your family",
                 "you haven't made up your mind"],
    "request_human": ["you'd like to speak to an advisor", "you want a real person",
                      "you'd like me to transfer you"],
    "ask_detail": ["you want more details about {p}", "you'd like to know how {p} works"],
    "already_have": ["you already have {p}", "you're already covered elsewhere"],
    "wrong_person": ["this isn't {n}'s number anymore", "we've got the wrong person"],
    "deny": ["you're not interested in {p}", "you don't need {p} right now"],
    "affirm": ["you'd like to go ahead with {p}", "you're interested in {p}"],
}
FRAMINGS_EN = ["so {x} is that right", "just to confirm {x}", "so {x} correct",
               "if i understand you {x} right", "so what you're saying is {x}",
               "i've noted that {x} is that correct", "okay so {x} yes"]
YESNO_EN = [
    (["did you catch that", "could you hear me okay", "did that make sense",
      "were you able to hear all of that"], "affirm", "repeat",
     ["no", "not really", "not all of it", "no i missed it", "nope"]),
    (["have you had a chance to think it over", "have you decided yet",
      "did you make up your mind", "have you talked it over with your family"], "affirm",
     "hesitate", ["not yet", "no not yet", "still thinking", "haven't decided", "no"]),
    (["shall i call you back later", "would it be better if i rang back this afternoon",
      "can i give you a call tomorrow instead", "should i try you again later"], "busy_callback",
     "deny", ["no don't bother", "no need", "please don't"]),
    (["would you like to speak to an advisor", "shall i put you through to a specialist"],
     "request_human", "deny", ["no thanks", "no"]),
    (["do you have a couple of minutes", "have you got a moment", "is now okay for a quick chat"],
     "affirm", "busy_callback", ["no", "not really", "not now"]),
]
OPEN_EN = [
    (["when do you think you'll decide", "when can you let me know", "how long do you need"],
     "hesitate", ["next week maybe", "in a few days", "not sure", "end of the month", "dunno"]),
    (["when would be a better time to call", "what time suits you", "when should i ring back"],
     "busy_callback", ["after six", "tomorrow morning", "monday", "this evening", "later today"]),
]

# Broader phrasing per label: colloquial and regional forms, hedges, code-mixing.
ZH_BROAD = {
    "affirm": [
        "中啊", "要得", "得嘞", "好嘞好嘞", "没毛病", "妥妥的", "可以可以可以", "行吧那就这样",
        "那搞一个吧", "整一个呗", "可以的哈", "好滴", "好喔", "嗯那你讲", "ok的", "ok没问题",
        "可以啊你讲讲看", "应该可以吧", "我觉得行", "可以试一下", "那就先这样定", "好吧我同意",
        "那帮我弄一下", "我想办一个", "听起来还行你继续", "那你给我详细讲讲然后办",
        "可以的你说", "行你接着讲", "嗯可以了解下", "感觉还不错",
    ],
    "deny": [
        "唔使了", "不要啦", "不用啦谢谢", "莫得兴趣", "没啥兴趣", "甭介绍了", "不整了", "算了算了",
        "真不要", "不需要哈", "用不着用不着", "我们这不需要", "这东西我用不上", "没这个必要",
        "太贵了", "太贵了不要", "价格太高了不考虑", "这价格接受不了", "买不起", "没钱不买",
        "不是不想要是真没钱", "不是不想是真的用不上", "我应该不需要吧", "可能不太需要",
        "不太想要", "我看还是算了", "no不用了", "不用了thanks", "这个offer我不要", "不感兴趣sorry",
        "不用了不用了我挂了", "我不需要你们这个", "感觉没什么用不要", "不划算不办",
    ],
    "busy_callback": [
        "我现在有点busy", "sorry我在开会", "call我晚点吧", "开车呢开车呢", "在忙在忙",
        "我这正干活呢", "我这边忙着呢回头说", "正忙着哩", "莫得空", "没得空", "现在冇时间",
        "不是不感兴趣是现在真没空", "不是不想听是在开车", "等我下班再说吧", "你晚些时候打",
        "我在高速上", "我在上课呢下课再说", "我在手术室外面不方便", "正在带娃没空", "在工地上吵",
        "回头给我打吧", "过会儿打给我", "你下午再打我现在有事", "这会儿在外面不方便讲",
    ],
    "hesitate": [
        "我琢磨琢磨", "我寻思一下", "我再合计合计", "让我想想哈", "等我想想再说", "这个嘛再说吧",
        "不是不想要就是还得想想", "也不是不需要我再考虑下", "应该会考虑吧", "可能吧我再看看",
        "我得跟我老公说一下", "要问下我媳妇", "得跟家里商量商量", "这个我定不了", "有点贵我再想想",
        "我再比较比较", "过段时间再说吧", "我先看看别的", "心里还没数", "我还没想好呢",
        "让我消化一下", "我要问问我们领导", "容我再想一下", "再看看吧不着急",
    ],
    "ask_price": [
        "几多钱", "多少米", "要几个钱", "啥价钱", "咋收费", "价钱咋样", "这个plan多少钱",
        "你们的price是多少", "多少钱一个月啊", "收费贵不贵啊", "一年得多少钱", "大概要花多少",
        "月供多少", "保费一年多少钱", "学费一期多少", "有没有什么优惠价", "能便宜点不",
        "最低能给到多少", "费用怎么个算法", "贵不贵你先说", "要先交钱吗", "有没有隐藏费用",
    ],
    "ask_detail": [
        "咋办理", "咋弄啊", "这是干啥的啊", "具体咋回事", "啥内容", "有啥好处", "包含啥",
        "能详细讲讲吗", "这个具体是做什么的", "需要啥材料", "线上能办吗", "要去营业厅吗",
        "合同签几年", "能随时取消吗", "覆盖哪些病", "上课是直播吗", "额度能给多少",
        "审批要多久", "网速有多快", "退货怎么操作",
    ],
    "ask_identity": [
        "你边个啊", "你哪个啊", "你是干啥的", "你是哪儿的", "你们是啥公司", "谁啊你",
        "你是真人还是机器", "你是不是机器人啊", "我号码你们咋弄到的", "谁给你我手机号的",
        "你是哪家银行的", "你是推销的吧", "你是不是骗子", "你们是正规公司吗",
    ],
    "complaint": [
        "烦死了", "有完没完", "天天打烦不烦", "你们有病啊", "再打我就投诉", "我要去消协投诉",
        "一天打好几次什么意思", "说好的返现到现在都没到", "上次的问题一直没人管", "服务太差劲了",
        "你们这是骚扰电话吧", "别再烦我了行不行", "扰民了知不知道", "我要打12345投诉你们",
    ],
    "dnc_request": [
        "以后别给我打了", "甭打了", "别再打来了行吗", "把我号码删掉", "把我拉黑吧", "别再联系我",
        "以后不要打这个号码", "把我从名单里去掉", "请别再打电话给我", "不要再骚扰这个号码了",
        "把我号码从系统里删了", "给我设置成免打扰", "please别再打了", "以后都别打了啊",
    ],
    "wrong_person": [
        "你打错咯", "搞错人了", "冇呢个人", "我不是他", "这号我新换的", "号码是我的了",
        "他早不用这号了", "没这个人你打错了", "我不姓这个", "你找错人了吧",
    ],
    "already_have": [
        "早办了", "俺已经有了", "我有嘞", "已经整了一个", "单位都给交了", "早就买过了",
        "我都用了好几年了", "已经在别家办了", "家里早装了", "孩子早报了", "已经有一张了不用",
        "我已经有policy了", "已经买了不需要了",
    ],
    "request_human": [
        "给我整个人工", "转个人工呗", "我要找真人说", "让你们真人来", "有没有人工啊",
        "我不跟机器说话", "叫你们经理来", "找个客服跟我说", "我要real person", "帮我转到人工客服",
        "让业务员打给我", "你转人工吧",
    ],
    "repeat": [
        "你说啥子", "啥玩意儿", "你讲乜嘢", "没听明白", "再讲一遍吧", "你刚说啥来着",
        "我这信号不好你再说", "说慢点听不清", "你说的什么我没听清", "sorry你说什么",
        "再说一下我没听到", "你声音太小了",
    ],
    "voicemail": [
        "您好您拨打的电话暂时无人接听", "您好您拨打的用户已暂停服务", "您拨的号码忙请稍后再拨",
        "您好机主已开通语音信箱请留言", "您拨打的电话已关机请稍后再拨谢谢", "请留言留言结束请挂机",
    ],
    "other": [
        "我在外面吃饭", "孩子叫我", "你等我一下", "我先关个火", "门口有人", "我在开门",
        "今天天真好", "你们那边下雨没", "哎哟", "嗯嗯嗯", "呃", "那个那个", "喂喂", "我在排队买东西",
        "等我一下啊", "稍等片刻", "我在洗碗", "快递来了你等下",
    ],
}

EN_BROAD = {
    "affirm": ["yeah go on then", "sure mate", "alright then", "go for it", "yes sure thing",
               "that'd be lovely", "sounds grand", "okie dokie", "yeah i'm keen", "i reckon so",
               "for sure", "yes please go ahead", "sure tell me more", "why not let's hear it",
               "yeah sounds good to me", "okay yeah", "i guess so yeah", "yes ma'am",
               "sure do", "of course go ahead"],
    "deny": ["nah mate", "no cheers", "not for me ta", "i'll give it a miss", "nah i'm alright",
             "not interested sorry love", "no ta", "i'm good thanks", "thanks but no thanks",
             "it's too expensive", "too pricey for me", "can't afford it", "i don't think i need it",
             "probably not", "nah not really", "it's not that i don't want it i just can't afford it",
             "i'm gonna pass", "no need yaar", "not required", "don't want it"],
    "busy_callback": ["i'm in the middle of something ring me later", "can't chat now",
                      "bit busy at the moment", "i'm at work can you ring back", "now's not great",
                      "i'm on the motorway", "driving right now call me later",
                      "i'm in a meeting call back after lunch", "catch me later",
                      "call me back in half an hour", "not a good time mate", "busy busy",
                      "i'm with a client", "could you try again tomorrow"],
    "hesitate": ["i'm not sure to be honest", "let me have a think", "i'll mull it over",
                 "need to talk to the missus", "have to check with my partner",
                 "i'll need to run it by my wife", "dunno really", "maybe i'll see",
                 "i'm on the fence", "give me a few days", "can't decide right now",
                 "it's a bit pricey i'll think about it", "possibly i'd have to check",
                 "not sure i need to think"],
    "ask_price": ["how much is it then", "what's it gonna cost me", "how much we talking",
                  "what's the monthly", "how much per month roughly", "what are the charges",
                  "is it pricey", "what's the price tag", "how much do you charge for that",
                  "any hidden fees", "what will i pay"],
    "ask_detail": ["what's it all about", "what does it involve", "how does that work then",
                   "what would i actually get", "what's the coverage", "what do i need to do",
                   "is there a contract", "how long does it take", "can i cancel anytime",
                   "what's included"],
    "ask_identity": ["who's this then", "who am i speaking with", "where are you ringing from",
                     "what company did you say", "how did you get my details",
                     "are you a real person or a robot", "is this a recording",
                     "who gave you this number"],
    "complaint": ["this is the fifth time this week", "you lot keep ringing me", "it's harassment",
                  "i'll be reporting this", "absolutely ridiculous", "stop pestering me",
                  "your company is a joke", "i'm fed up with these calls", "this is a scam innit"],
    "dnc_request": ["take me off your list please", "don't ring this number again",
                    "remove my details", "please stop calling this number", "unsubscribe me",
                    "don't contact me again", "put me on your do not call list",
                    "i don't want any more calls"],
    "wrong_person": ["wrong number mate", "no one called that here", "you've got the wrong person",
                     "that's not me", "{n} doesn't have this number anymore",
                     "there's no {n} at this number"],
    "already_have": ["already sorted", "got one already", "already covered thanks",
                     "i'm with another provider", "already have that", "we're already signed up",
                     "already got broadband"],
    "request_human": ["can i talk to a real person", "put me through to someone", "get me a human",
                      "i'd like to speak to an agent", "can i have a real person please",
                      "operator please", "let me speak to your supervisor"],
    "repeat": ["sorry come again", "you what", "say that again", "didn't catch that",
               "sorry i can't hear you", "what was that", "can you speak up", "eh",
               "pardon", "sorry the line's bad"],
    "voicemail": ["the person you have called is not available", "please leave your message after the beep",
                  "this mailbox is full", "the number you have called has not been recognised"],
    "other": ["hang on a sec", "one sec", "hold on someone's at the door", "sorry the kids are screaming",
              "gimme a moment", "hello", "hmm", "er", "just a minute"],
}

# Negation scope: "not that I don't want it, but ..." — the reason decides.
NEG_SCOPE_ZH = [
    ("不是不{v}", "是{r}", [
        ("真没钱", "deny"), ("用不上", "deny"), ("家里已经有了", "already_have"),
        ("现在没空", "busy_callback"), ("在开车", "busy_callback"), ("还得想想", "hesitate"),
        ("要跟家里商量", "hesitate"), ("想先知道多少钱", "ask_price"), ("想先问清楚具体内容", "ask_detail"),
    ]),
    ("也不是说不{v}", "就是{r}", [
        ("太贵了", "deny"), ("还没想好", "hesitate"), ("现在忙", "busy_callback"),
        ("已经买过了", "already_have"), ("想知道价格", "ask_price"),
    ]),
]
NEG_VERBS = ["想", "要", "感兴趣", "需要", "想听", "想办", "想了解"]

# Self-corrections: the callee starts one thing and corrects it; the correction counts.
REPAIRS_ZH = ["哦不对", "不是不是", "我是说", "不对不对我的意思是", "啊不", "呃说错了", "应该说"]
REPAIRS_EN = ["i mean", "no wait", "sorry i mean", "actually", "or rather"]
FILLERS_ZH2 = ["嗯", "呃", "那个", "就是说", "怎么说呢", "这个这个", "啊那个", "你知道吧", "就是",
               "哎呀", "嗯嗯", "我跟你说"]
FILLERS_EN2 = ["um", "uh", "like", "you know", "i mean", "well", "so", "look", "honestly",
               "erm", "right so", "okay so"]
STUTTER = ["我我", "不不", "你你", "这这", "那那"]


def confirm_rows(R, fill):
    """Confirmation and context rows, about 5,000."""
    rows = []
    zh_labels = list(PROPOSALS_ZH)
    for _ in range(2600):
        label = R.choice(zh_labels)
        industry = R.choice(list(INDUSTRY_ZH))
        prop = R.choice(PROPOSALS_ZH[label]).replace("{p}", R.choice(INDUSTRY_ZH[industry]))
        prompt = (R.choice(LEADS_ZH) + R.choice(FRAMINGS_ZH).replace("{x}", prop)
                  + R.choice(TAGS_ZH))
        prompt = fill(prompt)
        if R.random() < 0.7:
            rows.append((prompt, R.choice(YES_ZH), label))
        elif label in NO_MEANS:
            # "No" to a paraphrase: its negation, where that is one label.
            rows.append((prompt, R.choice(NO_ZH), NO_MEANS[label]))
    for _ in range(1100):
        prompts, yes, yes_replies, no, no_replies = R.choice(YESNO_ZH)
        prompt = fill(R.choice(LEADS_ZH[:6]) + R.choice(prompts))
        if R.random() < 0.55:
            rows.append((prompt, R.choice(yes_replies), yes))
        else:
            rows.append((prompt, fill(R.choice(no_replies)), no))
    for _ in range(500):
        prompts, label, answers = R.choice(OPEN_ZH)
        rows.append((fill(R.choice(prompts)), fill(R.choice(answers)), label))
    for _ in range(700):
        label = R.choice(list(PROPOSALS_EN))
        prop = R.choice(PROPOSALS_EN[label])
        prompt = fill(R.choice(FRAMINGS_EN).replace("{x}", prop), zh=False)
        if R.random() < 0.75:
            rows.append((prompt, R.choice(YES_EN), label))
        elif label in NO_MEANS:
            rows.append((prompt, R.choice(NO_EN), NO_MEANS[label]))
    for _ in range(450):
        prompts, yes, no, no_replies = R.choice(YESNO_EN)
        prompt = fill(R.choice(prompts), zh=False)
        if R.random() < 0.55:
            rows.append((prompt, R.choice(YES_EN + ["i do", "sure", "ok", "yes i have"]), yes))
        else:
            rows.append((prompt, R.choice(no_replies), no))
    for _ in range(200):
        prompts, label, answers = R.choice(OPEN_EN)
        rows.append((fill(R.choice(prompts), zh=False), R.choice(answers), label))
    return rows


def broad_rows(R, fill, noise_zh, noise_en, generic_zh, generic_en, zh_phrases, en_phrases):
    """Phrasing-breadth rows, about 7,000: broad lists, negation scope, repairs, fillers."""
    rows = []
    for label, phrases in ZH_BROAD.items():
        for i in range(260):
            t = fill(phrases[i % len(phrases)] if i < len(phrases) else R.choice(phrases))
            if R.random() < 0.3:
                t = R.choice(FILLERS_ZH2) + t
            prompt = "" if label == "voicemail" else fill(R.choice(generic_zh))
            rows.append((prompt, noise_zh(t), label))
    for label, phrases in EN_BROAD.items():
        for i in range(120):
            t = fill(phrases[i % len(phrases)] if i < len(phrases) else R.choice(phrases), zh=False)
            if R.random() < 0.3:
                t = R.choice(FILLERS_EN2) + " " + t
            prompt = "" if label == "voicemail" else fill(R.choice(generic_en), zh=False)
            rows.append((prompt, noise_en(t), label))
    for _ in range(500):
        head, tail, reasons = R.choice(NEG_SCOPE_ZH)
        r, label = R.choice(reasons)
        t = head.replace("{v}", R.choice(NEG_VERBS)) + R.choice(["", "啊", "哈", "呀"]) + \
            tail.replace("{r}", r)
        rows.append((fill(R.choice(generic_zh)), noise_zh(t), label))
    # Self-corrections: a phrase of one label, a repair marker, the meant phrase.
    labels = [l for l in zh_phrases if l not in ("voicemail", "other")]
    for _ in range(600):
        wrong, right = R.sample(labels, 2)
        t = (fill(R.choice(zh_phrases[wrong])) + R.choice(REPAIRS_ZH)
             + fill(R.choice(zh_phrases[right])))
        rows.append((fill(R.choice(generic_zh)), noise_zh(t), right))
    en_labels = [l for l in en_phrases if l not in ("voicemail", "other")]
    for _ in range(200):
        wrong, right = R.sample(en_labels, 2)
        t = (fill(R.choice(en_phrases[wrong]), zh=False) + " " + R.choice(REPAIRS_EN) + " "
             + fill(R.choice(en_phrases[right]), zh=False))
        rows.append((fill(R.choice(generic_en), zh=False), noise_en(t), right))
    # Stutters and fillers in the middle of ordinary phrases.
    for _ in range(700):
        label = R.choice(labels)
        t = fill(R.choice(zh_phrases[label]))
        cut = R.randrange(len(t) + 1)
        t = t[:cut] + R.choice(FILLERS_ZH2 + STUTTER) + t[cut:]
        rows.append((fill(R.choice(generic_zh)), noise_zh(t), label))
    return rows
