"""The broader everyday world of the second corpus: words of many domains, labels, numbers.

``vocabulary.py`` is the small story world (animals, homes, the old task data); this module adds
the everyday words a user's own small experiment is likely to contain, grouped so the skill
documents (``skills.py``) can talk about them meaningfully: topic words under their topic label,
opinion words under their verdict, nouns with their plurals, verbs with their past tense, cities
and countries, small numbers. Tuples only (seeded reproducibility, see ``vocabulary.py``).
"""
from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))  # de-duplicated, order kept


# Topic label -> words that signal it. The labels are single common words (they become single
# tokens) and each list holds everyday nouns/verbs of that domain.
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sports", _words("football soccer tennis hockey golf basketball baseball race team coach goal "
                      "match player stadium score league runner swimmer referee medal champion ball "
                      "cricket rugby boxing skiing cycling marathon tournament trophy season fans")),
    ("food", _words("pizza pasta bread cheese soup salad rice noodles sandwich burger chicken "
                    "butter sugar salt pepper recipe kitchen chef dinner lunch breakfast sauce "
                    "cookie cake fruit vegetables tomato potato onion garlic dessert menu")),
    ("music", _words("song guitar piano drum violin singer band concert album melody rhythm "
                     "orchestra choir lyrics chorus jazz rock opera tune radio microphone stage "
                     "trumpet flute notes rehearsal playlist")),
    ("weather", _words("rain snow wind storm cloud sunshine thunder lightning fog frost ice "
                       "temperature forecast umbrella heat cold humid breeze hail drizzle sky "
                       "rainbow flood drought degrees")),
    ("science", _words("experiment atom molecule cell physics chemistry biology laboratory theory "
                       "energy planet star telescope microscope gene research data scientist "
                       "element electron gravity fossil evolution oxygen carbon")),
    ("technology", _words("computer phone software app internet website laptop screen keyboard "
                          "robot code program password network server battery camera email "
                          "download upload printer tablet chip data")),
    ("travel", _words("airport flight hotel passport ticket luggage suitcase train station "
                      "tourist map trip journey holiday beach museum tour guide visa cruise "
                      "island mountain border camping")),
    ("health", _words("doctor nurse hospital medicine fever cough pain clinic patient illness "
                      "vitamin exercise diet sleep headache injury surgery pill dentist tooth "
                      "heart blood virus vaccine")),
    ("money", _words("bank price cost cash coin salary tax budget loan debt payment account "
                     "credit dollar euro market stock profit invoice savings wallet bill "
                     "shop sale discount")),
    ("nature", _words("tree forest river mountain lake flower grass leaf ocean wave sand rock "
                      "bird insect butterfly garden seed plant soil valley desert island meadow "
                      "waterfall")),
    ("school", _words("teacher student lesson homework exam class classroom pencil notebook "
                      "book library grade subject math history reading writing test desk "
                      "chalk school university professor")),
    ("home", _words("house room bed sofa chair table lamp window door kitchen bathroom garden "
                    "roof wall floor carpet curtain shelf pillow blanket towel garage key")),
)
TOPIC_LABELS: tuple[str, ...] = tuple(label for label, _ in TOPICS)

# Verdict -> opinion words (adjectives) that make a review's verdict.
OPINIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("positive", _words("good great excellent wonderful lovely amazing fantastic delicious "
                        "beautiful perfect pleasant nice friendly helpful clean fresh tasty "
                        "brilliant superb charming comfortable fun enjoyable cheerful cozy warm "
                        "awesome splendid marvelous delightful fabulous elegant gorgeous happy "
                        "impressive outstanding polite quick reliable smooth stunning tidy "
                        "useful calm generous kind bright sweet")),
    ("negative", _words("bad terrible awful horrible poor dirty rude boring broken ugly slow "
                        "noisy cold stale bland disgusting nasty unpleasant dull smelly greasy "
                        "expensive crowded annoying useless painful sad messy weak soggy "
                        "disappointing dreadful grim harsh lousy mediocre miserable shabby "
                        "sloppy sticky tiresome unfriendly unhelpful gloomy clumsy")),
    ("neutral", _words("okay fine average normal ordinary plain standard usual typical regular "
                       "simple basic moderate common")),
)
SENTIMENT_LABELS: tuple[str, ...] = ("positive", "negative", "neutral")

# Things that can be reviewed.
REVIEWED: tuple[str, ...] = _words(
    "hotel restaurant film movie book meal service room staff food coffee show trip park phone "
    "app shop game concert cafe pizza soup class course car bus train flight museum bakery "
    "laptop camera shirt shoes chair bed pillow lesson tour beach garden market")

# Regular and irregular nouns: (singular, plural). Regular ones dominate, as in English.
NOUNS: tuple[tuple[str, str], ...] = tuple(
    (w, w + "s") for w in _words(
        "apple arm bag ball band bank bed bell bird boat book boot bottle bowl bread bridge "
        "brother button cake camera candle car card carrot cat chair chicken cloud coat coin "
        "computer cookie cow cup desk door dog dollar dream drum duck ear egg eye farm farmer "
        "field finger flag floor flower friend frog garden gate girl goat hand hat head hill "
        "horse house island jacket key king kite lamp letter lion map market meal mountain "
        "nail name nest night nose painter pen pencil phone piano picture pig pillow planet "
        "plant plate pocket pond queen rabbit ring river road rock room rope school seed shell "
        "shirt shoe shop sister snake sock song spoon star stone street student table teacher "
        "ticket tiger tooth-x towel tower toy train tree truck turtle village wall window wing "
        "word worker year")
    if not w.endswith("-x")
) + (
    ("box", "boxes"), ("bus", "buses"), ("glass", "glasses"), ("dish", "dishes"),
    ("watch", "watches"), ("church", "churches"), ("fox", "foxes"), ("brush", "brushes"),
    ("class", "classes"), ("beach", "beaches"), ("city", "cities"), ("baby", "babies"),
    ("story", "stories"), ("party", "parties"), ("family", "families"), ("country", "countries"),
    ("cherry", "cherries"), ("lady", "ladies"), ("leaf", "leaves"), ("knife", "knives"),
    ("wolf", "wolves"), ("child", "children"), ("man", "men"), ("woman", "women"),
    ("mouse", "mice"), ("foot", "feet"), ("tooth", "teeth"), ("sheep", "sheep"),
    ("fish", "fish"), ("person", "people"),
)

# Verbs: (base, past).
VERBS: tuple[tuple[str, str], ...] = tuple(
    (w, w + ("d" if w.endswith("e") else "ed")) for w in _words(
        "walk jump play talk help cook clean paint open close watch wash call look laugh "
        "smile dance move love like visit start finish climb listen answer ask fix wait "
        "work learn kick pull push carry-x climb count cross fill kiss mark pick plant "
        "rain snow rest return share show travel turn use want order")
    if not w.endswith("-x")
) + (
    ("run", "ran"), ("eat", "ate"), ("go", "went"), ("see", "saw"), ("make", "made"),
    ("take", "took"), ("give", "gave"), ("find", "found"), ("sing", "sang"), ("swim", "swam"),
    ("write", "wrote"), ("read", "read"), ("buy", "bought"), ("bring", "brought"),
    ("think", "thought"), ("sleep", "slept"), ("drink", "drank"), ("drive", "drove"),
    ("fly", "flew"), ("sit", "sat"), ("stand", "stood"), ("speak", "spoke"), ("tell", "told"),
    ("win", "won"), ("lose", "lost"), ("sell", "sold"), ("meet", "met"), ("leave", "left"),
    ("carry", "carried"), ("cry", "cried"), ("try", "tried"), ("study", "studied"),
)

CITIES: tuple[tuple[str, str], ...] = (
    ("Paris", "France"), ("London", "England"), ("Rome", "Italy"), ("Berlin", "Germany"),
    ("Madrid", "Spain"), ("Lisbon", "Portugal"), ("Vienna", "Austria"), ("Prague", "Czechia"),
    ("Dublin", "Ireland"), ("Oslo", "Norway"), ("Stockholm", "Sweden"), ("Helsinki", "Finland"),
    ("Warsaw", "Poland"), ("Athens", "Greece"), ("Cairo", "Egypt"), ("Nairobi", "Kenya"),
    ("Lagos", "Nigeria"), ("Tokyo", "Japan"), ("Seoul", "Korea"), ("Beijing", "China"),
    ("Delhi", "India"), ("Mumbai", "India"), ("Bangkok", "Thailand"), ("Hanoi", "Vietnam"),
    ("Sydney", "Australia"), ("Toronto", "Canada"), ("Chicago", "America"),
    ("Boston", "America"), ("Denver", "America"), ("Mexico", "Mexico"), ("Lima", "Peru"),
    ("Bogota", "Colombia"), ("Santiago", "Chile"), ("Havana", "Cuba"), ("Moscow", "Russia"),
    ("Istanbul", "Turkey"), ("Tehran", "Iran"), ("Dubai", "Emirates"), ("Manila", "Philippines"),
    ("Jakarta", "Indonesia"), ("Amsterdam", "Netherlands"), ("Brussels", "Belgium"),
    ("Zurich", "Switzerland"), ("Budapest", "Hungary"), ("Milan", "Italy"), ("Munich", "Germany"),
    ("Barcelona", "Spain"), ("Seattle", "America"), ("Miami", "America"), ("Rio", "Brazil"),
)

FIRST_NAMES: tuple[str, ...] = _words(
    "Tom Sam Ben Max Leo Jack Finn Omar Mia Lily Anna Emma Rosa Lucy Nora Zoe James John "
    "David Michael Daniel Paul Mark Peter George Henry Oliver Harry Noah Liam Lucas Adam Ryan "
    "Ethan Alex Carlos Diego Juan Luis Pedro Ahmed Ali Hassan Yusuf Ivan Igor Kenji Hiro Chen "
    "Wei Raj Arjun Kofi Sara Sarah Maria Julia Laura Olivia Sophia Ella Grace Alice Chloe "
    "Hannah Amy Kate Jane Helen Rachel Nina Elena Sofia Lena Fatima Aisha Leila Mei Yuki "
    "Priya Ana Ines Clara Eva Ruth Ivy Jade Ruby Hugo Felix Oscar Victor Simon Martin Kevin")
SURNAMES: tuple[str, ...] = _words(
    "Smith Brown Jones Miller Davis Garcia Lopez Wilson Taylor Moore Clark Lewis Walker Hall "
    "Young King Wright Green Baker Adams Nelson Hill Scott Turner Parker Evans Collins Stewart "
    "Morris Reed Cook Bell Murphy Cooper Ward Gray Hughes Price Wood Kim Lee Chen Wang Singh "
    "Khan Silva Rossi Novak Ito")

JOBS: tuple[str, ...] = _words(
    "doctor nurse teacher farmer baker cook driver pilot painter writer singer dancer lawyer "
    "engineer plumber builder gardener waiter student scientist banker artist police soldier "
    "sailor fisherman dentist tailor barber cleaner manager clerk")

COLORS: tuple[str, ...] = _words("red blue green yellow brown white black pink orange gray purple gold silver")
DAYS: tuple[str, ...] = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
MONTHS: tuple[str, ...] = _words(
    "January February March April May June July August September October November December")

NUMBER_WORDS: tuple[str, ...] = _words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty")

# Labels users put in their own data; each appears often in the skill documents.
YES_NO: tuple[str, ...] = ("yes", "no")
TRUE_FALSE: tuple[str, ...] = ("true", "false")

# Syllables for made-up words and names (copying must not depend on knowing the word).
SYLLABLES: tuple[str, ...] = _words(
    "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no "
    "nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo zu zor mek "
    "tal bri fen gor lum quin rax sol tem vex wim yar zan dor kel mir pon tas")

# General everyday English beyond the domains above, by part of speech, so ordinary words in a
# user's data are single tokens the model has seen in sentences (used by ``skills.everyday_doc``).
COMMON_NOUNS: tuple[str, ...] = _words(
    "time person year way day thing man world life hand part child eye woman place work week "
    "case point company number group problem fact idea question business side kind head house "
    "service friend father mother power hour game line end member law car city community name "
    "president team minute moment air teacher force education foot boy age policy music art "
    "war history party result change morning reason research girl guy food moment paper level "
    "office door health person art war decision price experience story voice plan report "
    "family area money water room mother area program issue job word rest body information "
    "back parent face others level office door study student country problem hand system "
    "government night state picture news garden forest street road bridge river field village "
    "town market shop store church station airport hospital library museum theater theatre park "
    "beach hotel restaurant cafe kitchen bedroom bathroom garage office factory farm prison "
    "court bank post building tower castle palace temple square corner center edge top bottom "
    "middle front inside outside surface shape size weight height length color sound smell "
    "taste touch feeling thought memory dream hope fear love anger joy pride shame trust "
    "truth lie secret answer choice chance risk danger safety peace trouble mistake success "
    "failure effort skill talent habit rule plan goal purpose method process step stage "
    "event meeting party wedding birthday holiday weekend evening afternoon midnight season "
    "spring summer autumn winter century decade future past present moment detail example "
    "sample piece pair couple crowd audience customer client guest visitor neighbor stranger "
    "partner husband wife son daughter uncle aunt cousin baby adult kid teenager parent "
    "owner boss worker expert leader captain chief officer agent judge priest guard hero "
    "enemy army soldier war battle weapon gun sword shield horse wheel engine machine tool "
    "hammer knife fork spoon plate bowl glass bottle box bag basket bucket rope chain wire "
    "pipe tube board sheet page letter note message sign signal symbol picture photo image "
    "movie film show series episode channel article magazine newspaper novel poem story "
    "language word sentence voice speech conversation argument discussion opinion advice "
    "order request offer promise plan deal contract agreement license permit card ticket "
    "gift present prize reward award medal coin key lock box cup mug jar can tin pot pan "
    "oven stove fridge sink shower soap towel brush comb mirror clock watch ring necklace "
    "bracelet earring button pocket sleeve collar belt boot glove scarf sweater jacket dress "
    "skirt trousers jeans shorts sock hat cap helmet uniform costume fabric cotton wool silk "
    "leather metal iron steel gold silver copper glass plastic paper wood stone brick sand "
    "dust mud clay oil gas fuel fire smoke flame spark light shadow dark color shade line")
COMMON_ADJECTIVES: tuple[str, ...] = _words(
    "new old high low long short large small young early late important public private "
    "different same free real true false full empty hard soft easy difficult strong weak "
    "heavy light dark bright quick slow fast loud quiet rich poor cheap safe dangerous "
    "simple complex clear strange famous rare common local foreign national natural modern "
    "ancient hot warm cool wet dry sharp flat round square deep shallow wide narrow thick "
    "thin tall short huge tiny giant little main final whole single double certain likely "
    "ready busy open closed wild tame fresh raw ripe sour bitter salty spicy sweet smooth "
    "rough solid liquid serious silly funny honest fair proud brave shy calm angry afraid "
    "lonely lucky careful careless healthy sick alive dead awake asleep hungry thirsty "
    "tired sleepy wise foolish clever stupid polite gentle wild quick eager")
COMMON_VERBS: tuple[str, ...] = _words(
    "be have do say get make go know take see come think look want give use find tell ask "
    "work seem feel try leave call need keep let begin help talk turn start show hear play "
    "run move like live believe hold bring happen write provide sit stand lose pay meet "
    "include continue set learn change lead understand watch follow stop create speak read "
    "allow add spend grow open walk win offer remember love consider appear buy wait serve "
    "die send expect build stay fall cut reach kill remain suggest raise pass sell require "
    "report decide pull break explain hope develop carry drive return agree choose forget "
    "enjoy prefer fix clean cook wash paint draw sing dance jump swim climb throw catch kick "
    "push pick drop fill pour mix boil bake fry taste smell touch listen answer laugh smile "
    "cry shout whisper sleep wake dream rest travel visit arrive depart enter exit hide seek "
    "save spend borrow lend count measure weigh compare choose vote join share teach study")
ADVERBS: tuple[str, ...] = _words(
    "very really quite too also just only still already soon now then today tomorrow "
    "yesterday always never often sometimes usually rarely again almost nearly maybe perhaps "
    "probably certainly surely honestly finally suddenly quickly slowly quietly loudly "
    "carefully easily happily sadly together alone here there everywhere somewhere outside "
    "inside upstairs downstairs away back home early late well badly")
