"""What a customer asks for, read clause by clause: the requests and complaints the order data
cannot settle (a refund, a cancellation, damage, a parcel marked delivered that never came, …).

A word alone decides nothing: "I don't want to cancel", "no need for a refund" and "not charged
twice I hope" name a topic without asking for it. So the message is split into clauses, and in
each a topic counts unless a negation comes before it in the same clause, or the clause only
hopes or worries ("hopefully nothing's broken"). Questions the data answers ("why was it
cancelled?", "did you get my return?") match no request pattern: requests are written as verbs
in the present ("cancel it", "I want to return it"), the data's facts in the past ("cancelled",
"returned"). A few other common languages (es, fr, de, pt, it, nl) are covered for the main requests.
Problems are also read from what happened rather than their name: someone taking or walking off
with a parcel is theft, a tear, a dent or a box that won't power on is damage, "it's not on my
porch" or "none of them have it" about a delivered order is not received.

Some complaints depend on the data: "it never arrived" is a complaint about an order marked
delivered, but only impatience about one still on its way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    pattern: re.Pattern[str]
    negatable: bool = True  # "I don't want a refund" cancels it; "never arrived" is itself the complaint
    request: bool = False  # an action asked for: "why did you cancel it?" asks about the data instead
    needs_delivered: bool = False  # only a complaint about an order the data says was delivered
    whole: bool = False  # also read across clauses ("ordered size M, got size S")


def _topic(name: str, pattern: str, **options: bool) -> Topic:
    return Topic(name, re.compile(pattern, re.IGNORECASE), **options)


_WANT = r"(?:want|like|need|wish|would like|'d like|prefer|can i|could i|can you|could you|please|pls|plz|how (?:do|can) i)"

TOPICS: tuple[Topic, ...] = (
    _topic("refund", r"\bre?fu?nd|money\s+(?:back|returned)|reimburs|\bpay(?:ing)? me back|"
           r"\b(?:see|get|have) (?:the|my) money\b|\bwhere(?:'s| is) my money\b|"
           r"reembols|devuelv\w* el dinero|rembours|geld zur[uü]ck|r[uü]ckerstatt|erstatt|reembolso|rimbors|"
           r"geld terug|terugbetal|\b(?:what i paid|my payment|the money|my money|the cash)\b[^.?!]{0,30}\b(?:back|put back|returned)\b|"
           r"\bput back on my (?:card|account)\b|\b(?:fee|fees|cost|costs|charge|postage|shipping|payment|cash) (?:back|refunded|returned)\b"),
    _topic("cancellation", request=True, pattern=r"\bcancel(?:ling)?\b(?!ed)|(?<!the )(?<!my )(?<!your )(?<!this )(?<!that )\bcancellation\b|\b(?:don'?t|do not|please stop|stop)\s+"
           r"(?:ship|send|dispatch|deliver)(?:ing)?\b|\bstop\s+(?:order\s+)?[a-z]?\d{3,}|changed my mind|"
           r"\b(?:don'?t|do not|no longer) (?:want|need)\b[^.?!]{0,25}\b(?:any ?more|now)\b|\bno longer (?:want|need)\b|"
           r"\bstop (?:it|the (?:order|delivery|shipment|parcel))\b(?! (?:from )?(?:arriv|com))|"
           r"\bannuler\b|\bcancelar\b|\bstornier(?:en)?\b(?!t)|\bannull(?:are|arlo|arla|atelo|ate)\b|\bscrap (?:it|the|my|this)\b|"
           r"\bcall(?:ing)? (?:it|the order|the whole thing) off\b|\bcall off\b|\bhold off (?:on|with)\b"),
    _topic("replacement", request=True, pattern=r"\breplace(?:ment)?\b|\bre-?send\b|\bre-?ship\b|\bsend (?:it|them|one|the \w+) (?:out )?again\b|send (?:me )?(?:a )?(?:new|another) (?:one|item)|"
           r"\b(?:get|have|want|need) (?:a )?(?:new|another|fresh) (?:one|item|unit|pair)\b"),
    _topic("return", request=True, pattern=rf"\b(?:to|{_WANT}) (?:return|send)\b(?:[^.?!,]{{0,25}}\bback\b)?(?! to you)|"
           r"\bsend(?:ing)?\b[^.?!,]{0,20}\bback\b|(?<!my )(?<!the )(?<!your )\breturn(?:ing)? (?:it|this|them|these|the \w+|my \w+|[a-z]\d{3,})\b(?![^.?!]{0,10}\barrive)|"
           r"\breturns? (?:label|form|slip|code|number)\b|\bdevolver\b|\bretourner\b|\bzur[uü]cksenden\b"),
    _topic("order change", request=True, pattern=r"\b(?:exchange|swap|switch)\b|\bchange\b[^.?!]{0,30}\b(?:size|colou?r|item|model|"
           r"product|to (?:the|a)\b)|\badd\b[^.?!]{0,20}\b(?:item|to (?:the|my) order)|"
           r"\b(?:add|put|throw|pop|include)\b[^.?!]{0,25}\b(?:extra|another|second|additional|more)\b|"
           r"\badd\b[^.?!]{0,40}\b(?:to (?:it|this|that|the|my)|before)\b|"
           r"\bchange\b[^.?!]{0,30}\b(?:quantity|qty|order)\b|\b(?:a|the|in) (?:smaller|bigger|larger|different)\b|"
           r"\b(?:small|medium|large|xs|xl|xxl)\b[^.?!]{0,10}\b(?:rather than|instead of)\b|"
           r"\b(?:can|could|may) (?:i|we|you) (?:still |please |just )?(?:change|amend|modify|edit|alter|adjust|add)\b|"
           r"\b(?:amend|modify|alter|adjust)\b[^.?!]{0,20}\b(?:order|it|a\d+)\b|"
           r"\b(?:can|could) you make\b|\bpause\b|\bput\b[^.?!]{0,20}\bon hold\b|"
           r"\b(?:like|want|need|prefer)\b[^.?!]{0,30}\bto be (?:in )?(?:an? )?(?:different|another|bigger|smaller|larger|"
           r"red|blue|green|black|white|gr[ae]y|pink|yellow|brown|navy|small|medium|large|size)\b|\bupgrade\b|next[- ]day delivery|"
           r"\bcambiar\b|\ba[ñn]adir\b|\bagregar\b|\bmodifier\b|\bchanger\b|\bajouter\b|[äa]ndern\b|hinzuf[üu]gen|"
           r"umtauschen|\btrocar\b|\balterar\b|\bmudar\b|\bcambiare\b|\bmodificare\b|\baggiungere\b|\bwijzigen\b|"
           r"\bveranderen\b|\btoevoegen\b|\bruilen\b"),
    _topic("address change", request=True, pattern=r"\b(?:change|update|correct|fix|edit|new)\b[\w\s']{0,20}\baddress\b|"
           r"\baddress\b[\w\s']{0,12}\b(?:change|wrong|incorrect)|\bredirect|\breroute|\bdivert|"
           rf"\b{_WANT}\b[^.?!]{{0,25}}\b(?:send|deliver|ship)\b[^.?!]{{0,30}}\bto (?:my|the|a|our|another|his|her)\b|"
           r"\b(?:put|use|have|add)\b[\w\s']{0,20}\baddress\b|"
           r"\b(?:can|could|would|may)\b[^.?!]{0,30}\b(?:be (?:sent|delivered|shipped|dropped off|left)|go) (?:to|at|with) "
           r"(?:my|the|a|our|another|his|her)\b|\b(?:hold|keep)\b[^.?!]{0,25}\bat (?:the|a|your)\b|\bfor (?:pick-?up|collection)\b|"
           r"\b(?:deliver|send|ship)\w*\b[^.?!]{0,40}\binstead\b|\baddress\b[^.?!]{0,10}\b(?:rather than|instead of)\b|"
           r"\b(?:like|want|need|prefer)\b (?:it|them|this|the (?:parcel|order|package)) (?:to be )?(?:sent|delivered|shipped|left|dropped) (?:to|at|with)\b|"
           r"\b(?:need|want|like|prefer)\b[^.?!]{0,15}\b(?:it|them|this|the (?:parcel|order|package))\b (?:at|to) (?:my|our|the|a)\b"
           r"[^.?!]{0,20}\b(?:address|place|house|flat|work|office)\b"),
    _topic("compensation", r"compensat|\bdiscount|\bvoucher|\bprice match|\bgoodwill|\bcredit (?:note|back)|"
           r"\bshipping refunded|\bowe (?:me|us)\b|\bfree (?:delivery|shipping|postage)\b|\bthrow in\b|\byou (?:to |should |must |need to |will |have to |can )?(?:cover|absorb|pay for|foot)\b|\bfor the (?:trouble|inconvenience|hassle)\b|\b(?:do|will|can|should|shouldn'?t) i get (?:anything|something)\b|\bi deserve\b|\bcoupon|\bthe least you (?:can|could) do\b|\bmake (?:it|this|things) right\b|\bmake (?:it )?up for\b|\bwaive|\bstore credit|\bpartial refund|"
           r"\bwhat (?:are|will|can) you (?:going to )?(?:offer\w*|do (?:for|about) (?:me|it|this))|\b(?:has|have|it) cost me\b|\b(?:some|a) (?:credit|gesture)\b|\bknock\w* (?:\w+ ){0,3}off\b|\b(?:something|money|\d+%?) off\b"),
    _topic("not received", r"\bnever (?:arrived|came|got|received|turned up|showed up|reached|delivered)|"
           r"(?:\bnot|n't|\bnever) (?:received|got(?:ten)?|get|arrived|delivered|have it|seen it)|"
           r"\bnothing (?:here|arrived|came|was delivered)|\b(?:was|is|came) empty\b|"
           r"\b(?:weren't|wasn't|were not|was not) (?:inside|in (?:the|it))|\bis gone\b|"
           r"\b(?:marked|says|shows|showing)(?: as)? delivered but|jamais re[cç]u|nunca (?:lleg|cheg|recib)|"
           r"(?:\bnot|n't|\bnever) (?:turned|shown|showed) up|\b(?:vanished|disappeared|gone missing|went missing)\b|\b(?:didn't|did not|never) sign\b|"
           r"\b(?:delivered|signed for|left|dropped off|handed over)\s*\?{2,}|"
           r"^\W*(?:but |and )?(?:still )?nothing(?: there| at all| here)?\W*$|\bhas(?:n't| not) (?:come|reached me)|"
           r"\b(?:isn'?t|is not|'s not|it'?s not) (?:on|at|in) (?:my|our|the) (?:porch|door\w*|step\w*|locker|"
           r"mailbox|letterbox|house|flat|building)|\bisn'?t (?:here|there)\b|\bis not (?:here|there)\b|"
           r"\b(?:nobody|no one|none of (?:them|us)) (?:has|have|had|got|took) it\b|\bno sign of\b|"
           r"\b(?:can'?t|cannot|couldn'?t) find (?:it|them|(?:the|my) (?:parcel|package|box|order|delivery))\b|\bnot to (?:me|us|my)\b|\bdelivered where\b|"
           r"\b(?:there'?s|there is|there was) no (?:parcel|package|box|delivery)\b|"
           r"\b(?:there'?s|there is) no\b[^?!]{0,25}\bhere\b|"
           r"nicht (?:angekommen|erhalten|bekommen)|nichts? (?:bekommen|erhalten|angekommen)|nie angekommen|"
           r"\bno (?:me |lo |la |los |las |nos )*(?:ha |han |he |hemos )?(?:lleg|recib)|"
           r"pas (?:re[çc]u|arriv[ée]|[ée]t[ée] livr)|rien re[çc]u|\bn[ãa]o (?:recebi|chegou)|nunca chegou|"
           r"\bnon (?:l'|lo |la )?(?:ho |è |e' )?(?:ricevut|arrivat)|\bmai (?:arrivat|ricevut)|"
           r"niet(?:s)? (?:ontvangen|aangekomen|gekregen)|nooit aangekomen|"
           r"\bnothing (?:there|at all|anywhere)\b|\b(?:seen|found|got|had|received) nothing\b|\bvuot[oa]\b|\bvac[ií][oa]\b|\bvazi[oa]\b|\bleer (?:angekommen|geliefert)\b|\barriv[ée]e? vide\b|\bnowhere\b|\bnada\b|\bzero (?:packages?|parcels?|boxes)\b|"
           r"\bno (?:packages?|parcels?|boxes|delivery) (?:here|at all|anywhere)\b|\bno delivery at all\b|"
           r"\b(?:mailbox|letterbox|locker|porch|doorstep|box) (?:(?:is|was) )?(?:\w+ )?empty\b|\bas empty as\b|"
           r"\bnot at my (?:address|house|home|door|place|flat)\b|"
           r"^\W*(?:it'?s|it is|they'?re|they are) not\W*$|\bstill (?:waiting|nothing|no sign)\b|\bnothing'?s (?:there|here|in (?:it|there))\b|\bcode (?:doesn'?t|does not|didn'?t|won'?t) (?:work|open)\b|\bto whom\b|['\u2018\u201c]delivered[.!?]?['\u2019\u201d]|\bi live at\b|\b(?:get|fetch|retrieve) it back for me\b|\bwhere is it (?:actually|really|then)\b|\b(?:swears?|insists?|claims?|claimed|supposedly|allegedly)\b[^.?!]{0,30}\b(?:handed|delivered|left|given|dropped)\b|"
           r"\b(?:nobody|no one|no-one) (?:here )?(?:handed|gave|knocked|delivered|dropped|rang|signed|did|received|took it in)\b|"
           r"\b(?:no one|nobody|no-one)\b[^.?!]{0,30}\bleft anything\b|"
           r"\bno (?:me |lo |la )?(?:tengo|recib\w+) nada\b|\bn[ãa]o recebi\b|\bnon ho ricevuto\b|\bnie bekommen\b|\bjamais eu\b", negatable=False,
           needs_delivered=True, whole=True),  # whole: "Delivered??" keeps its disbelief only across clauses
    _topic("theft", r"\bstole|\bstolen\b|\bnicked\b|\btheft\b|\brobbed\b|\bpinched\b|\btaken from\b|"
           r"\bvol[ée]e?s?\b|\brobad|\bgestohlen|\broubad|\bgeklaut|\brubat|\bgestolen|"
           r"(?<!can )(?<!could )(?<!will )(?<!would )(?<!did )\b(?:someone|somebody|some (?:guy|man|woman|person|bloke)|a (?:man|woman|guy|person|stranger|bloke|"
           r"kid|thief|passer-?by)|passer-?by)\b[^.?!]{0,40}\b(?:took|take|taking|grabbed|grab|grabbing|swiped|"
           r"snatched|nabbed|lifted|emptied|picked up|picking up|walk(?:ed|ing|s)? (?:off|away)|helped)\b"
           r"(?= (?:it|them|my|the|our|his|her|off|away|with|from|out|up|him|her)\b)|"
           r"\btaken out of\b|\b(?:someone|somebody|a (?:man|woman|guy|person))\b[^.?!]{0,15}\b(?:lifting|lift|nabbing|pocketing)\b|\bwalk(?:ed|ing|s)? (?:off|away) with\b|\bhelped (?:him|her|them)sel\w+ to\b|"
           r"\bswiped\b|\bsnatched\b|porch pirate|\bwho (?:took|has taken|stole|nicked|grabbed)\b(?! (?:it |them |the \\w+ )?in\b)"),
    _topic("damage", r"\bdamag|\bbroken\b|\bsmashed\b|\bcrushed\b|\bdefective\b|\bfaulty\b|\bcrack|\bleak|"
           r"\btorn\b|\bripped\b|\ba rip\b|\bdent|\bshatter|\bscratch|\bsoaked\b|\bruined\b|\brust|"
           r"\b(?:doesn't|does not|didn't|won't|will not|don'?t|do not|can'?t|cannot) (?:work|turn on|switch on|start|charge)|\bnot working\b|"
           r"\bdead\b|\bexpired\b|out of date|\brot[oa]s?\b|\bcass[ée]e?s?\b|\bab[iî]m[ée]|besch[aä]digt|"
           r"\bkaputt|danificad|da[nñ]ad|quebrad|\bwet\b|\bsnapped\b|\bbent\b|\bscuff|\bchip(?:ped|s)?\b|"
           r"\bsplit (?:open|in)|\bholes?\b|\btears?\b|\bsquashed\b|\bdripping\b|\bwater (?:all )?(?:over|damage)|"
           r"\bin (?:two|pieces|bits)\b|\bhanging off\b|\bfalling apart\b|\bcame apart\b|\bbroke\b|"
           r"\bstopped working\b|\b(?:doesn't|does not|won't|will not) (?:power|boot)|\bcrackl|\bstain|\bmou?ld|"
           r"\bmelted\b|\bsparks?\b|\bsparking\b|\brattl|\bbuzz(?:es|ing)\b|\bsmok(?:es|ing)\b|\boverheat|\bburnt\b|\brott[oaie]\b|\brajad|d[ée]chir|\bab[iî]m|\bpartid|beschadigd|\bkapot\b|"
           r"\bgebroken\b|abgebrochen|\bgash|\bmarks? all over\b|\b(?:been )?used before\b|\bsecond-?hand\b|\bpre-?owned\b|"
           r"\bburning\b|\briss\b|\bkratzer\b|\bdelle\b|\bd[ée]fe[ck]t\w*|\bdifett\w*|\bdefeit\w*|\buseless\b|\bwhat are my options\b|"
           r"\b(?:sound|quality|picture|fit|battery|material|stitching|finish)\b[^.?!]{0,15}\b(?:awful|terrible|rubbish|horrible|poor|dreadful|shocking|useless)\b|\bsmells? (?:of|like|bad|awful|funny|weird|strange)\b|\bcutting out\b|\bcuts out\b|\bkeeps? (?:dying|failing|turning off|switching off|disconnecting)\b|"
           r"\bonly (?:works?|plays?|charges?|lights? up|turns? on)\b(?! fine)|\b(?:won'?t|doesn'?t|does not|will not) (?:seal|close|stay (?:shut|closed|on)|lock|fit together)\b|"
           r"\b(?:is|came|comes|feels) loose\b|\bwobbl|\b(?:is|was|are|were) silent\b|\bcame off\b|\bfell off\b|\b(?:it|they|this|that|the \w+) (?:has |have |just )?died\b|\bdied (?:after|on|within)\b|"
           r"\bn[ãa]o funciona|\bne (?:fonctionne|marche) (?:pas|plus)\b|\bfunktioniert nicht|\bno funciona|\bnon funziona|\brott[oaie]\b"),
    _topic("wrong item", whole=True, pattern=r"(?<!something )(?<!anything )(?<!what's )(?<!what is )(?<!went )(?<!gone )(?<!go )\bwrong\b|not what i (?:ordered|bought)|\bincorrect (?:item|size|colou?r)|"
           r"\bordered\b[^.?!]{0,30}\b(?:got|received|sent)\b(?!\s+(?:it|them|my|the (?:parcel|order|package)|"
           r"yesterday|today|fine|ok|on time)\b)|\bgot (?:size|a|an)\b[^.?!]{0,20}\bnot\b|"
           r"\b(?:isn't|is not|not) mine\b|\b(?:these|this|they|it)\b[^.?!,]{0,20}(?:'re|'s|\bare|\bis)\b[^.?!]{0,30}[,;]\s*"
           r"(?:but |and |when |while |yet )?i (?:picked|chose|selected|ordered|asked for|wanted|paid for)\b|"
           r"\b(?:got|received|was sent|sent me|came with) (?:a|an) \w+\b[^.]{0,30}\bi (?:bought|ordered|picked|chose|paid for) (?:a|an|the)\b|"
           r"\b(?:ordered|picked|chose|selected|wanted|bought)\b[^.?!]{0,20}\b(red|blue|green|black|white|gr[ae]y|pink|yellow|brown|navy|purple|orange|beige|silver|gold)\b[^.?!]{0,10}[,;]\s*(?:but )?(?:this|it|these|they)\b[^.?!]{0,25}\b(?!\1\b)(?:red|blue|green|black|white|gr[ae]y|pink|yellow|brown|navy|purple|orange|beige|silver|gold)\b|"
           r"\bnot the (?:brand|model|size|colou?r|one|version|flavou?r|type) i (?:picked|chose|selected|ordered|wanted)\b|"
           r"\b(?:sent|shipped|got|received|gave|delivered)\b[^.?!]{0,20}\b(red|blue|green|black|white|gr[ae]y|pink|yellow|brown|navy|purple|orange|beige|silver|gold)\b[^.?!]{0,30}\bi (?:ordered|picked|chose|selected|wanted|asked for)\b[^.?!]{0,10}\b(?!\2\b)(?:red|blue|green|black|white|gr[ae]y|pink|yellow|brown|navy|purple|orange|beige|silver|gold)\b|"
           r"\bisn'?t the (?:brand|model|size|colou?r|one|version|flavou?r|type)\b[^.?!]{0,20}\bi (?:picked|chose|selected|ordered|wanted)\b|someone else'?s|\binstead of\b|\bfalsch|\bmauvais|\bequivocad|errad"),
    _topic("missing item", r"\bmissing\b|"
           r"\bthe (?:second|third|fourth|other|last|rest)\b[^.?!]{0,20}\b(?:is|are|was|were)\b[^.?!]{0,10}\b(?:nowhere|missing|not (?:there|here|in))\b|"
           r"\b(?:only )?(?:one|two|three|four|\d+) of (?:the |my )?(?:\w+ ){0,2}(?:came|arrived|turned up)\b|\bno sign of (?:the|my) (?!parcel|package|order|delivery|box)\w+|"
           r"^(?!\W*(?:it|this|that|they|he|she|you|we|i)\b)[\w\s']{1,30}\b(?:isn'?t|aren'?t|wasn'?t|weren'?t)\W*$|"
           r"\bhalf (?:full|empty)\b|\b(?:there )?should (?:have been|be|have got|have received) (?:\d+|two|three|four|five|six|more)\b|\bwhere(?:'s| is| are) the (?:second|third|fourth|other|rest|remaining)\b|"
           r"\b(?:\d+|two|three|four|five|six)\b[^.?!,]{0,20}\b(?:ordered|bought)\b\W{0,3}\s*(?:only |just |but )?(?:\d+|one|two|three|four|five)\b[^.?!]{0,15}\b(?:delivered|arrived|came|received|in the box)\b|\bonly (?:\d+|one|two|three|four|five|half|some|part)\b[^.?!]{0,30}\b(?:were|was|came|arrived|in (?:the|it|there))\b|"
           r"\b(?:one|two|some|half|part|a few) of (?:the|them|my)\b[^.?!]{0,20}\b(?:isn'?t|is not|aren'?t|wasn'?t|weren'?t|never came|didn'?t come|not there)\b|\bwithout the\b|\bonly (?:the|one|half)\b[^.?!]{0,30}\b(?:came|arrived)|"
           r"\b(?:wasn't|was not|weren't|were not|isn't|is not|aren't|are not) (?:in there|inside|included|"
           r"in (?:the|my) (?:box|parcel|package|bag))|\bil manque|\bfalta|\bfehlt"),
    _topic("billing", r"(?<!was i )(?<!were we )(?<!did you )(?<!have i been )\bcharg(?:ed|ing|e)\b(?! (?:fine|correctly|ok|okay|properly|right)\b)|\bcharged (?:twice|double|two times|again|more|extra)\b|"
           r"\b(?:i'?m|i am) not (?:paying|going to pay)\b|\brefuse to pay\b|\bwon'?t (?:be )?pay(?:ing)?\b|"
           r"\b(?:doesn'?t|does not|don'?t|didn'?t|do not) (?:match|add up|tally)\b|\bwhy (?:did|have|was|am) (?:i|we) (?:pay|paid|been charged|being charged|billed)\b|"
           r"\b(?:said|says|was|were|advertised as|meant to be|supposed to be) free\b|\bbill(?:ed|ing)\b|\binvoice|\bovercharg|\btaken? (?:my )?money|"
           r"\btook (?:my )?money|\bdebit(?:ed|s)\b|\bdeduct|\bamount (?:taken|charged|deducted)\b|"
           r"\b(?:money|payment|amount)\b[^.?!]{0,30}\b(?:left|taken from|gone from|came out of|out of) my (?:account|card|bank)\b|"
           r"\bmoney twice\b|\bon my (?:card|bank|account) statement\b|\bdon'?t recogni[sz]e\b|\bfraud|\bdispute|\b(?:my|the) bank\b(?! holiday)|\btwo payments|\b(?:extra|unexpected|unknown|strange|unexplained|mystery|additional)\b[^.?!]{0,15}\b(?:on my|charges?|payments?|debits?)\b|[£$€]\s?\d+[^.?!]{0,25}\bon my (?:card|account|statement)\b|\b(?:haven'?t|hasn'?t|didn'?t|never|not|no)\b[^.?!]{0,20}\b(?:invoice|receipt|vat)\b|\bnever (?:placed|ordered)\b(?! (?:from|with|here|on|at|before)\b)|\bdidn't (?:place|order)\b|\bpaid twice"),
    _topic("legal threat", r"\blawyer|\bsolicitor|\blegal\b|\bsue\b|\bsuing\b|\bcourt\b|small claims|"
           r"trading standards|\bchargeback|\bombudsman|\breport you\b", negatable=False),
    _topic("complaint", r"\bmanager\b|\bsupervisor\b|\bcomplain|\bcomplaint"),
)

# A clause ends at a sentence's end, a semicolon, a dash, or a comma/"but" before a new thought.
# A full stop after a lone capital is an initial ("signed for by R. Patel"), not a sentence's end.
_CLAUSE_BREAK = re.compile(r"(?:(?<!\b(?-i:[A-Z]))\.|[?!;:\n])+|\s[-\u2013\u2014]+\s|,\s*(?:but|and|also|just|so)?\b|\s(?:but|although|though)\s",
                           re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|no|never|nothing|without|neither|nor|rather than)\b|n't\b|\bno need\b|"
                       r"\bpas\b|\bkein\w*|\bnicht\b|\bn[aã]o\b", re.IGNORECASE)
# A clause that hopes or worries states no problem ("hopefully nothing's broken").
_HEDGE = re.compile(r"\bhope|\bworr(?:y|ied)|\bmight\b|\bin case\b|\bjust wondering\b|\bright\s*$|\bfingers crossed",
                    re.IGNORECASE)
# A clause that tells of a request not made ("I was going to ask for a refund but …", "I almost
# cancelled") asks for nothing; what follows it in another clause still counts.
_NOT_MADE = re.compile(r"\b(?:was|were) (?:going|about|tempted|planning) to\b|\b(?:almost|nearly)\b|"
                       r"\bthought (?:about|of)\b|\bconsidered\b|\bhad planned to\b", re.IGNORECASE)
# A negation reaches this many words ahead: "I don't want to cancel" but not "if it's not here by
# Friday I want to cancel".
NEGATION_REACH = 5
# A clause asking why or whether something was done asks about the order's history, not for it.
_ABOUT_THE_PAST = re.compile(r"^\W*(?:why|did you|have you|was|when did)\b", re.IGNORECASE)
# A clause that sets a condition ("if it isn't here tomorrow …") reports nothing missing yet.
_CONDITION = re.compile(r"^\W*(?:if|unless|in case|should|otherwise)\b", re.IGNORECASE)
_HEDGED = {"damage", "billing", "theft", "wrong item", "missing item"}


# A question the order data answers: where, when, why, tracking, status, … (and in es, fr, de, pt).
_DATA_QUESTION = re.compile(
    r"\?|\b(?:where|wh?en|status|track\w*|eta|update|news|progress|"
    r"why|what|which|who|how (?:long|soon)|how'?s|how is|wh?[ao]t'?s|wots?|(?:dispatch|delivery|arrival|new) date|"
    r"check|confirm\w*|know|tell|d[oó]nde|cu[aá]ndo|o[uù]|quand|wo|wann|onde|"
    r"quando|por qu[eé]|pourquoi|warum)\b|(?:^|[.!,;])\s*(?:is|has|was|did|any|can you)\b", re.IGNORECASE)


# Words about an order's journey ("late again", "not shipped yet", "stuck in customs"): said of an
# order still on its way, the order data answers them, question or not.
_JOURNEY = re.compile(
    r"\b(?:arriv\w*|ship\w*|dispatch\w*|deliver\w*|com(?:e|es|ing)|late|delay\w*|customs|stuck|wait\w*|ages|"
    r"yet|by now|here|taking|slow|(?:by|before|for|on) (?:mon|tues|wednes|thurs|fri|satur|sun)day|tomorrow|today|"
    r"advise|chas\w*|going|hold[- ]?up|follow\w*(?: up)?|checking in|news|eta|tracking|where)\b", re.IGNORECASE)


def speaks_of_the_journey(text: str) -> bool:
    return _JOURNEY.search(text) is not None


# The question words again, for misspellings one letter off ("wheres", "wat", "happenin").
_QUESTION_WORDS = ("where", "when", "what", "why", "status", "tracking", "update", "happening")


def asks_about_the_data(text: str) -> bool:
    """Whether the message asks something the order data can answer (or at least asks at all)."""
    if _DATA_QUESTION.search(text) is not None:
        return True
    return any(_one_letter_off(word, known) for word in re.findall(r"[a-z]{3,}", text.lower())
               for known in _QUESTION_WORDS)


def _one_letter_off(word: str, known: str) -> bool:
    """One letter added, dropped or changed (not a shorter word than three letters)."""
    if abs(len(word) - len(known)) > 1 or word == known:
        return False
    if len(word) == len(known):
        return sum(a != b for a, b in zip(word, known)) == 1
    short, long = sorted((word, known), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def clauses(text: str) -> list[str]:
    return [part.strip() for part in _CLAUSE_BREAK.split(text) if part and part.strip()]


def raised_topics(text: str, *, delivered: bool = True) -> list[str]:
    """The topics `text` asks for or complains about, in the order of TOPICS. `delivered`: the
    data shows an order delivered (or no order was looked up), so "never arrived" is a complaint."""
    found: set[str] = set()
    readings = [(clause, False) for clause in clauses(text)] + [(" ".join(text.split()), True)]
    for clause, whole in readings:
        hedged = _HEDGE.search(clause) is not None
        past = _ABOUT_THE_PAST.search(clause) is not None
        condition = _CONDITION.search(clause) is not None
        not_made = _NOT_MADE.search(clause) is not None
        for topic in TOPICS:
            if topic.name in found or (topic.needs_delivered and (condition or not delivered)) or (
                    topic.request and past):
                continue
            if whole and not topic.whole:
                continue
            if (hedged and topic.name in _HEDGED) or (not_made and topic.negatable and not whole):
                continue
            for match in topic.pattern.finditer(clause):
                if topic.negatable and _negated(clause[: match.start()]):
                    continue
                found.add(topic.name)
                break
    return [topic.name for topic in TOPICS if topic.name in found]


def names_a_topic(text: str) -> bool:
    """Whether any topic's words appear at all, asked for or not: where raised_topics finds none,
    a negation, a hedge or a request not made took them back ("I was going to ask for my money
    back but I'll wait")."""
    return any(topic.pattern.search(text) is not None for topic in TOPICS)


def _negated(before: str) -> bool:
    """Whether a negation among the last NEGATION_REACH words before a topic takes it back."""
    words = before.split()[-NEGATION_REACH:]
    return _NEGATION.search(" ".join(words)) is not None
