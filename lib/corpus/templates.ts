/**
 * Every sentence template of the embedded corpus.
 *
 * Mini-language: `[a|b|c]` picks one alternative (an empty one makes it optional), `{var}`
 * substitutes a variable (see generator.ts; `{oX}` is the other speaker's X), `{=slot:value}` sets
 * a slot without writing anything. Templates are lower-case with punctuation separated by spaces.
 * A template is only used when all its variables are known.
 */

export interface Tpl {
  t: string;
  /** Detail sub-type: a follow-up question and the answers that fit it share it. */
  sub?: string;
}
type TplSpec = string | Tpl;
const T = (list: TplSpec[]): Tpl[] => list.map((x) => (typeof x === 'string' ? { t: x } : x));
const S = (sub: string, list: string[]): Tpl[] => list.map((t) => ({ t, sub }));

// ---------------------------------------------------------------- social

export const GREET = T([
  '[hi|hello|hey|hey there|hi there|hello there] !',
  'good [morning|afternoon|evening] [|, nice to meet you] !',
  '[hi|hello|hey] , [nice|great|lovely|good] to meet you !',
  '[hi|hello|hey] , good to see you !',
  '[hello|hi] again , good to see you !',
]);

export const GREET_REPLY = T([
  '[hi|hello|hey|hey there|hi there|hello there] !',
  '[hi|hello] , [nice|great|lovely] to meet you too !',
  'oh , [hi|hello] !',
  'good [morning|afternoon|evening] to you too !',
  '[hey|hi] , good to see you too !',
]);

/** Short greetings put before a first question. */
export const GREET_PREFIX = ['hi !', 'hello !', 'hey !', 'hi there !', 'hey there !', 'hello there !', 'good morning !', 'hi , nice to meet you !'];

export const THANK = T([
  'thanks for the [chat|talk] !',
  'thank you , it was [nice|lovely|great] [talking|chatting] to you !',
  'thanks , this was [fun|nice|lovely] !',
  '[thanks|thank you] for [chatting|talking] with me .',
  'it was [nice|great|lovely] to chat with you , thanks !',
]);

export const THANK_REPLY = T([
  '[thank you|thanks] too !',
  'you too , [thanks|it was fun] !',
  'likewise , thanks !',
  'same here , thanks for chatting !',
]);

export const BYE = T([
  '[bye|goodbye] [|for now] !',
  '[see you|talk to you] [later|soon] !',
  'take care [|of yourself] !',
  'have a [good|nice|great|lovely] [day|evening|weekend] !',
  'good night , [sleep well|take care] !',
  'i have to go now , bye !',
  '[okay|alright] , bye !',
  '[see you|bye] , [take care|have a good one] !',
]);

// ---------------------------------------------------------------- reactions (to the other speaker)

export const REACT = {
  pos: T([
    'that sounds [fun|great|lovely|amazing|awesome|nice|cool|interesting|wonderful] !',
    '[cool|nice|awesome|lovely|wow] , [i love that|good for you|that is great] !',
    'oh , how [fun|lovely|cool|nice|interesting] !',
    'oh , that is [so cool|really nice|great|awesome] !',
    'that must be [fun|nice|great|interesting] .',
    'good for you !',
    'i love that !',
    '[nice|cool|awesome|wow] , [good for you|i love it] !',
  ]),
  neg: T([
    'oh no , [that sounds rough|sorry to hear that|that is no fun] .',
    'sorry to hear that , i hope [it gets better|you feel better soon|tomorrow is better] .',
    '[oh|aww] , poor you !',
    'that sounds [rough|exhausting|awful] .',
    '[ugh|oh no] , that is [annoying|no fun|the worst] .',
  ]),
  moodPos: T([
    'glad to hear [it|that] !',
    'good to hear !',
    'that is great to hear !',
    'happy for you !',
    '[yay|oh nice] , [good for you|that is great] !',
  ]),
  pet: T([
    'aww , {oname} sounds [adorable|lovely|sweet|like a sweetheart] !',
    'aww , i love {opets} !',
    '{opets} are [the best|so sweet|great company] !',
    '{oname} is such a [cute|great|lovely|sweet] name !',
    'aww , {ohe} sounds [adorable|lovely|sweet] !',
    '[aww|oh] , how [cute|sweet|lovely] !',
  ]),
  job: T([
    'being {oa_job} must be [interesting|hard work|so rewarding|really exciting] .',
    'wow , {ojobs} [work so hard|do such important work] !',
    'that must be a [fun|busy|tough|interesting] job .',
    'wow , that sounds like [a great job|hard work|an interesting job] !',
  ]),
  food: T([
    '[yum|mmm|ooh] , {ofood} {ofood_is} [the best|so good|delicious] !',
    'good choice , {ofood} {ofood_is} [great|amazing|so tasty] !',
    '[yum|mmm] , that sounds [delicious|so good|tasty] !',
  ]),
  hobby: T([
    '{ohobby} [sounds|is] [so relaxing|really fun|great] !',
    '{ohobby} is such a [nice|great|fun] hobby !',
    '[oh nice|cool] , i have always wanted to try {ohobby} !',
  ]),
  music: T([
    '{omusic} is [great|so good|awesome|the best] !',
    'nice , {omusic} is [great|such good music] !',
    'ooh , good taste !',
  ]),
  film: T([
    '{ofilms} are [so much fun|the best|great] !',
    '[nice|cool] , {ofilms} are [great|so much fun] !',
    'good taste , i love a good film night !',
  ]),
  travel: T([
    'wow , {oplace} [sounds|must have been] [amazing|beautiful|incredible|lovely] !',
    '{oplace} is [beautiful|amazing|so beautiful] !',
    'i have always wanted to go to {oplace} !',
  ]),
  family: T([
    'that [sounds like|is such] a [lovely|nice|fun|big] family !',
    '[aww|nice] , {ofam_pl} are the best !',
    'how lovely !',
  ]),
  weatherPos: T(['lucky you !', '[nice|oh nice] , enjoy the {ow_noun} !', 'that sounds [lovely|perfect|nice] !']),
  weatherNeg: T([
    'oh no , stay {ostay} !',
    '[ugh|oh no] , that sounds [miserable|gloomy|awful] .',
    'sorry to hear that , i hope it [clears up|gets better] soon .',
  ]),
  plans: T([
    'that sounds [fun|lovely|like a great weekend|like a plan] !',
    'have fun {oplan_at} !',
    'enjoy [it|yourself] !',
  ]),
};

/** Reactions put before a new question or a follow-up ("cool ! ..."). */
export const REACT_PREFIX = {
  pos: ['nice !', 'cool !', 'oh nice !', 'wow !', 'awesome !', 'that sounds fun !', 'how lovely !', 'oh cool !'],
  neg: ['oh no !', 'aww , sorry to hear that .', 'that sounds rough .'],
};

/** Openers that do not change what a sentence does. */
export const OPENERS = ['oh , ', 'well , ', 'hmm , ', 'haha , ', 'actually , ', 'honestly , ', 'ah , '];
export const QUESTION_OPENERS = ['so , ', 'by the way , ', 'anyway , ', 'oh , ', 'okay , '];
export const ASK_BACK = ['what about you ?', 'how about you ?', 'and you ?', 'what about yourself ?'];

// ---------------------------------------------------------------- feelings

export const ASK_FEELING = T([
  'how are you [|doing|feeling] [|today|this morning|tonight] ?',
  'how is [your day|your week|it] going ?',
  'how have you been [|lately|recently] ?',
  'how are things [|with you|going] ?',
  'how is life [|treating you] ?',
  'are you doing [okay|alright|well] [today|] ?',
]);

export const TELL_FEELING = {
  pos: T([
    'i am {mood} , thanks [|for asking] .',
    'i am [|pretty|really|quite] {mood} [today|right now|at the moment|] .',
    'i am feeling [|pretty|really|quite] {mood} [today|this week|] .',
    '{mood} , [thanks|thank you] !',
    '[honestly|to be honest] , i am [pretty|quite|really] {mood} .',
  ]),
  neg: T([
    'i am [a bit|pretty|really] {mood} [today|right now|at the moment|] .',
    'i am feeling [a bit|pretty|really|quite] {mood} [today|this week|] .',
    '[honestly|to be honest] , i am [pretty|quite|really|a bit] {mood} .',
    'meh , [a bit|pretty|kind of] {mood} [today|to be honest|] .',
    'i have been [so|really|pretty] {mood} [lately|this week|] .',
  ]),
};

export const ASK_FEELING_DETAIL = {
  pos: T([
    '[glad to hear it|good to hear|nice] ! what [made|is making] your day so [good|great] ?',
    'oh [nice|great] , any good news ?',
    'what has you in such a good mood ?',
    '[oh|really] ? how come ?',
    'what is the occasion ?',
    'why so {omood_strong} ?',
  ]),
  neg: T([
    'oh no , why [is that|are you so {omood_strong}] ?',
    'oh no , what happened ?',
    '[oh no|aww] , is everything [okay|alright] ?',
    '[oh|really] ? how come ?',
    'why so {omood_strong} ?',
    'oh no , long day ?',
    'what is wrong ?',
  ]),
};

export const TELL_FEELING_DETAIL = {
  pos: T([
    'i [just|finally] got some good news [at work|today|] .',
    'it is my day off [today|] !',
    'i [just|finally] finished a big project .',
    'i slept really well for once .',
    'my best friend is [visiting|coming over] [this week|tonight|] .',
    'i [just|] got back from a [long|lovely] walk .',
    'today is my birthday !',
    'i have the whole day to myself .',
  ]),
  neg: T([
    'work was [really|so|super] [busy|hectic] [today|this week] .',
    'i did not sleep well [last night|] .',
    'i have a big exam [tomorrow|next week] .',
    'it has been a long [day|week] .',
    'my neighbours were [so|really] loud [last night|all night] .',
    'i have [too much|so much|a lot] to do [this week|today|] .',
    'my train was late [again|this morning|] .',
    'i think i am getting sick .',
  ]),
};

// ---------------------------------------------------------------- topic openers

export const ASK: Record<string, Tpl[]> = {
  pet: T([
    'do you have any pets ?',
    'do you have [a pet|any animals|pets] [at home|] ?',
    'are you an animal person ?',
    'any pets at home ?',
    'do you [own|keep] any pets ?',
  ]),
  job: T([
    'what do you do for [work|a living] ?',
    'what is your job ?',
    'what kind of work do you do ?',
    'where do you work ?',
    'are you working at the moment ?',
  ]),
  food: T([
    'what is your favourite [food|dish|meal] ?',
    'what do you like to eat ?',
    'what food do you like ?',
    'are you a foodie ?',
    'what would you eat every day if you could ?',
  ]),
  hobby: T([
    'what do you do for fun ?',
    'do you have any hobbies ?',
    'what do you like to do in your [free|spare] time ?',
    'what are your hobbies ?',
    'how do you spend your free time ?',
  ]),
  music: T([
    'what kind of music do you like ?',
    'what music are you into ?',
    'do you listen to much music ?',
    'what is your favourite kind of music ?',
    'are you into music ?',
  ]),
  film: T([
    'what kind of [films|movies] do you like ?',
    'do you watch many [films|movies] ?',
    'what is your favourite kind of [film|movie] ?',
    'are you a [film|movie] fan ?',
    'do you like going to the cinema ?',
  ]),
  travel: T([
    'have you travelled anywhere nice [lately|recently|] ?',
    'do you like to travel ?',
    'where did you go on your last [holiday|trip] ?',
    'what is the best country you have been to ?',
    'do you travel much ?',
  ]),
  family: T([
    'do you have a big family ?',
    'who is in your family ?',
    'tell me about your family .',
    'what is your family like ?',
    'is your family big ?',
  ]),
  weather: T([
    'how is the weather [where you are|there|today|over there] ?',
    'what is the weather like [where you are|there|today] ?',
    'is it nice [out|outside] today ?',
    'what is it like outside [today|] ?',
  ]),
  plans: T([
    'any plans for the weekend ?',
    'what are you up to this weekend ?',
    'do you have any plans for [tomorrow|the weekend|tonight] ?',
    'doing anything fun this weekend ?',
    'what are your plans for the weekend ?',
    'got any plans for [tomorrow|the weekend] ?',
  ]),
};

// ---------------------------------------------------------------- facts (the speaker's own)

export const TELL: Record<string, Tpl[]> = {
  pet: T([
    'i have a {pet} [named|called] {name} .',
    'i have a [little|lovely|sweet|] {pet} [at home|] .',
    'i [own|have got] a {pet} [named|called] {name} .',
    { t: '[yes|yeah] , a {pet} [named|called] {name} .', sub: 'bare' },
    { t: '[yes|yeah] , i have a {pet} .', sub: 'bare' },
    'my {pet} {name} [is my best friend|keeps me company|lives with me] .',
    { t: 'a {pet} ! {his} name is {name} .', sub: 'bare' },
  ]),
  job: T([
    'i [work as|am] {a_job} .',
    'i am {a_job} [in the city|in town|at the moment|] .',
    'i work as {a_job} [downtown|in town|in a small town|] .',
    { t: '{a_job} . [it keeps me busy|i love it|it is hard work] .', sub: 'bare' },
    'i have been {a_job} for [a few years|a while|ages] .',
  ]),
  food: T([
    'i love {food} .',
    'my favourite food is {food} .',
    { t: '{food} , [definitely|for sure|of course] !', sub: 'bare' },
    'i could eat {food} every day .',
    { t: '[definitely|probably] {food} .', sub: 'bare' },
    'i am a big fan of {food} .',
    'nothing beats {food} .',
    'i [really like|adore] {food} .',
  ]),
  hobby: T([
    'i love {hobby} .',
    'i [really enjoy|am really into] {hobby} .',
    { t: 'mostly {hobby} [, it relaxes me|] .', sub: 'bare' },
    'i spend [my weekends|most weekends|my free time] {hobby_act} .',
    { t: '{hobby} , [definitely|mostly|for sure] !', sub: 'bare' },
    'my [favourite|main] hobby is {hobby} .',
  ]),
  music: T([
    'i love {music} .',
    { t: 'mostly {music} .', sub: 'bare' },
    'i listen to {music} [all the time|a lot|every day] .',
    'i am really into {music} [at the moment|these days|] .',
    { t: '{music} , [definitely|for sure] !', sub: 'bare' },
    'my favourite is {music} .',
  ]),
  film: T([
    'i love {films} .',
    { t: 'mostly {films} .', sub: 'bare' },
    'i am a big fan of {films} .',
    { t: '{films} , [definitely|for sure|of course] .', sub: 'bare' },
    'i [really enjoy|like] {films} [the most|] .',
    'my favourite [films|movies] are {films} .',
  ]),
  travel: T([
    'i went to {place} last [year|summer|spring] .',
    'i have been to {place} , it was [amazing|beautiful|wonderful] .',
    'my [favourite|best|last] trip was to {place} .',
    { t: '{place} ! i [went|was there] last [year|summer] .', sub: 'bare' },
    'i visited {place} [a few years ago|last year] .',
  ]),
  family: T([
    'i have {fam} .',
    { t: '[yes|yeah] , i have {fam} .', sub: 'bare' },
    { t: '[not really|not very big] , just {fam} .', sub: 'bare' },
    'it is just me and {my_fam} .',
    '{fam} , and we are very close .',
  ]),
  weather: T([
    'it is [really|very|quite|] {w} [here|today|where i am|] .',
    '[pretty|really|very] {w} [today|here|at the moment] .',
    'it has been {w} all [day|week|morning] .',
    'lots of {w_noun} [today|here|] .',
  ]),
  plans: T([
    'i am {plan_ing} [this weekend|tomorrow|on saturday|] .',
    'i [will|am going to|might] {plan_inf} .',
    { t: '[just|probably] {plan_ing} .', sub: 'bare' },
    'i [plan|want|hope] to {plan_inf} .',
    '{plan_ing} [with friends|with my best friend|] !',
  ]),
};

// ---------------------------------------------------------------- follow-ups (about the other's facts)

export const ASK_PET_NAME = T([
  'what is your {opet} called ?',
  'does your {opet} have a name ?',
  'what did you name [it|your {opet}] ?',
  'what do you call [it|your {opet}] ?',
  'what is its name ?',
]);

export const TELL_PET_NAME = T([
  '{his} name is {name} .',
  '{he} is called {name} .',
  'we call {him} {name} .',
  'i named {him} {name} .',
]);

export const ASK_DETAIL: Record<string, Tpl[]> = {
  pet: [
    ...S('like', ['what is {oname} like ?', 'what is your {opet} like ?', 'what is {ohe} like ?']),
    ...S('age', ['how old is {oname} ?', 'how old is your {opet} ?', 'how old is {ohe} ?']),
    ...S('yesno', ['is {oname} [friendly|playful|cuddly|naughty] ?', 'does {oname} [like|enjoy] [cuddles|treats|playing] ?', 'is {ohe} a good {opet} ?']),
  ],
  job: [
    ...S('long', ['how long have you been {oa_job} ?', 'how long have you [done that|been doing that] ?']),
    ...S('like', ['do you [like|enjoy] being {oa_job} ?', 'do you like your job ?']),
    ...S('hard', ['is it hard being {oa_job} ?']),
    ...S('best', ['what is the best part of being {oa_job} ?']),
    ...S('why', ['what made you want to be {oa_job} ?']),
  ],
  food: [
    ...S('make', ['do you [make|cook] {ofood} [yourself|at home] ?', 'do you make {oit} yourself ?']),
    ...S('where', ['where do you get [good|the best] {ofood} ?']),
    ...S('often', ['how often do you eat {ofood} ?']),
    ...S('why', ['what do you like about {ofood} ?']),
  ],
  hobby: [
    ...S('how', ['how did you get into {ohobby} ?']),
    ...S('long', ['how long have you been into {ohobby} ?']),
    ...S('hard', ['is {ohobby} hard to learn ?']),
    ...S('often', ['how often do you find time for {ohobby} ?']),
    ...S('why', ['what do you love about {ohobby} ?']),
  ],
  music: [
    ...S('instrument', ['do you play [any instruments|an instrument] [yourself|] ?', 'can you play any instruments ?', 'do you make any music yourself ?']),
    ...S('concert', ['do you go to {omusic} concerts ?', 'have you seen any good concerts lately ?']),
    ...S('often', ['how often do you listen to {omusic} ?']),
  ],
  film: [
    ...S('recent', ['seen any good {ofilms} [lately|recently] ?']),
    ...S('where', ['do you watch {ofilms} at the cinema or at home ?']),
    ...S('why', ['what do you like about {ofilms} ?']),
    ...S('who', ['do you watch them [with friends|on your own] ?']),
  ],
  travel: [
    ...S('like', ['what was {oplace} like ?']),
    ...S('best', ['what did you like most about {oplace} ?']),
    ...S('back', ['would you go back to {oplace} ?']),
    ...S('long', ['how long were you in {oplace} ?']),
    ...S('do', ['what did you do in {oplace} ?']),
  ],
  family: [
    ...S('close', ['are you close to your {ofam_rel} ?']),
    ...S('see', ['do you see your {ofam_rel} [often|much] ?']),
    ...S('like', ['what {oare} your {ofam_rel} like ?']),
    ...S('live', ['{odo} your {ofam_rel} live near you ?']),
    ...S('age', ['how old {oare} your {ofam_rel} ?']),
  ],
  weather: [
    ...S('last', ['is it [going|supposed] to [stay|last] like that ?', 'will it last all week ?']),
    ...S('like', ['do you like this kind of weather ?']),
    ...S('normal', ['is that normal for this time of year ?']),
  ],
  plans: [
    ...S('who', ['[who is|is anyone] coming with you ?']),
    ...S('excited', ['are you [excited|looking forward to it] ?', 'are you excited about the {oplan_noun} ?']),
    ...S('often', ['do you do that often ?']),
    ...S('when', ['what time are you [going|leaving|starting] ?']),
  ],
};

export const TELL_DETAIL: Record<string, Tpl[]> = {
  pet: [
    ...S('like', [
      '{he} is [very|really|super|so] {adj} .',
      '{name} is [very|really|] {adj} [and loves to play|and loves treats|] .',
      '{he} [sleeps|naps] [all day|most of the day] .',
      '{he} loves [cuddles|treats|playing] .',
    ]),
    ...S('age', ['{he} is {age} .', '{name} is {age} [now|] .', '{he} just turned {num} .', '{name} just turned {num} [last week|this month|] .']),
    ...S('yesno', [
      '[yes|yeah] , {he} is [so|very|really] {adj} .',
      '[yes|oh yes] , {he} loves [them|it] .',
      'not really , {he} is [quite|a bit] shy .',
      '[sometimes|mostly] , when {he} is in the mood .',
    ]),
  ],
  job: [
    ...S('long', ['[about|almost|nearly|around] {years} [now|] .', 'i have been doing it for {years} .', '{years} [now|this year] , time flies !', 'since i [left school|finished college|was young] .']),
    ...S('like', ['[yes|yeah] , i [love|enjoy] it [most days|] .', 'i love it , [every day is different|i get to help people|the people are great] .', 'it is hard work but [i love it|it is worth it] .']),
    ...S('hard', ['it can be [tough|hard|tiring] , but i [love|enjoy] it .', '[some days|sometimes] , but it is worth it .', 'not really , you get used to it .']),
    ...S('best', ['the people i work with , they are [great|so kind|lovely] .', 'i get to [help people|learn new things|be creative] every day .', 'my [colleagues|team] , [they are great|we have fun] .']),
    ...S('why', ['i always wanted to [help people|do something useful|be my own boss] .', 'my [mum|dad] was {a_job} too .']),
  ],
  food: [
    ...S('make', ['[yes|yeah] , i [make|cook] {it} [every sunday|at home|myself] .', '[no|not really] , i usually order {it} .', 'my [mum|dad|grandma] taught me how to make {it} .']),
    ...S('where', ['there is a [great|lovely|little] [place|restaurant] near my [house|flat] .', 'i make {it} at home , it is [cheaper|better] .', 'a little place [in town|near work] .']),
    ...S('often', ['[almost|about] every [day|week|weekend] !', 'at least once a week .', 'more often than i should !']),
    ...S('why', ['it is just so [tasty|comforting|good] .', 'it reminds me of [home|my childhood] .', '[everything|the taste] , [honestly|really] .']),
  ],
  hobby: [
    ...S('how', ['my [dad|mum|uncle|best friend] [got me into it|taught me] [when i was young|when i was little|years ago] .', 'a friend showed me [how|] [a few years ago|at school] .']),
    ...S('long', ['[about|almost|nearly] {years} now .', 'since i was [little|a teenager|at school] .']),
    ...S('hard', ['not really , [anyone can learn|it just takes practice] .', 'a little at first , but [you get better fast|it gets easier] .']),
    ...S('often', ['[every|most] [weekend|evening] if i can .', 'not as often as i would like .', 'a few times a week .']),
    ...S('why', ['it [helps me unwind|clears my head|keeps me fit] .', 'it is a great way to [switch off|unwind|get away from screens] .']),
  ],
  music: [
    ...S('instrument', [
      '[yes|yeah] , i play the {instrument} .',
      'i play [a bit of|a little] {instrument} .',
      'yes , i have played the {instrument} since i was [young|little] .',
      'i am learning the {instrument} [at the moment|right now|] .',
    ]),
    ...S('none', ['{=instrument:none}no , i just listen .', '{=instrument:none}[sadly|not really] , i [only|just] listen .', '{=instrument:none}no , i can not play [anything|any instruments] .']),
    ...S('concert', ['[yes|yeah] , i [went to|saw] a [great|brilliant] one last [month|week|summer] .', 'not [often|as much as i would like] , tickets are [expensive|hard to get] .', '[sometimes|when i can] , i love live music .']),
    ...S('often', ['[every day|all the time] , [on my way to work|while i cook|in the car] .', '[pretty much|almost] every day .']),
  ],
  film: [
    ...S('recent', ['[yes|yeah] , i [saw|watched] a [great|really good|brilliant] one last [week|weekend|night] .', 'not lately , [i have not had the time|there is nothing good on] .']),
    ...S('where', ['mostly at home [on the sofa|with popcorn|] .', 'at the cinema , [the big screen is the best|it is more fun] .']),
    ...S('why', ['[i love|i like] [the stories|the surprises|how they make me feel] .', 'they [help me switch off|always cheer me up|take my mind off things] .']),
    ...S('who', ['[mostly|usually] with [friends|my best friend] .', 'on my own , [with snacks|it is my quiet time] .']),
  ],
  travel: [
    ...S('like', ['it was [amazing|beautiful|incredible] , [the food was great|the people were so friendly|the views were stunning] .']),
    ...S('best', ['the food , [for sure|definitely|easily] .', 'the people were [so friendly|lovely] .', 'the views were [stunning|unreal] .']),
    ...S('back', ['[yes|definitely] , i would [love to|go back tomorrow] .', 'maybe one day , there is so much to see .']),
    ...S('long', ['[about|almost] [two|three] weeks .', '[just|only] [a week|ten days] , but it was [amazing|not enough] .']),
    ...S('do', ['we [ate a lot|walked everywhere|saw so much] .', 'mostly walking around and eating !']),
  ],
  family: [
    ...S('close', ['[yes|yeah] , we are [very|really|super] close .', 'we talk [every day|all the time|every week] .', '[kind of|sort of] , we argue sometimes [though|] .']),
    ...S('see', ['[not as often as i would like|every weekend|most sundays] .', 'i see {them} [most weekends|every sunday|on holidays] .']),
    ...S('like', ['{they} {are} [so|really] [funny|kind|sweet|clever] .', '{they} {are} [lovely|great fun] , [but|and] a bit [loud|crazy] .']),
    ...S('live', ['{they} {live} [nearby|in the next town|far away|just down the road] .', '[yes|luckily] , only [ten|twenty] minutes away .']),
    ...S('age', ['{they} {are} [still young|all grown up|teenagers now] .']),
  ],
  weather: [
    ...S('last', ['[i think|i hope] it [will change|clears up|stays] [tomorrow|soon|this weekend] .', 'the forecast says [more of the same|it will change tomorrow] .']),
    ...S('like', ['[i love it|not really|i do not mind it] , [to be honest|honestly] .', '[yes|yeah] , it is my favourite .', 'not really , i prefer [summer|winter] .']),
    ...S('normal', ['[yes|yeah] , it is normal [this time of year|for here] .', '[not really|no] , it is [strange|unusual] for [this time of year|us] .']),
  ],
  plans: [
    ...S('who', ['my best friend is coming [too|with me] .', 'just me [this time|] , i like the quiet .', 'a few friends from [work|school] .']),
    ...S('excited', ['[yes|yeah] , i can not wait !', '[yes|yeah] , i have been looking forward to it all week .']),
    ...S('often', ['[not often|not really] , so it will be a nice change .', '[yes|yeah] , [almost every weekend|whenever i can] .']),
    ...S('when', ['[early|around ten|after lunch] , [i think|probably] .', 'first thing in the morning .']),
  ],
};

/** Persona sentences (the responding speaker's facts). */
export const PERSONA: Record<string, Tpl[]> = {
  pet: T(['i have a {pet} named {name} .', 'my {pet} is called {name} .', 'i have a {pet} called {name} .']),
  job: T(['i work as {a_job} .', 'i am {a_job} .']),
  food: T(['my favourite food is {food} .', 'i love eating {food} .']),
  hobby: T(['i love {hobby} .', 'in my free time i enjoy {hobby} .', 'my hobby is {hobby} .']),
  music: T(['i listen to {music} a lot .', 'my favourite music is {music} .']),
  instrument: T(['i play the {instrument} .', 'i can play the {instrument} .']),
  no_instrument: T(['{=instrument:none}i do not play any instruments .']),
  film: T(['i love watching {films} .', 'my favourite films are {films} .']),
  travel: T(['i have been to {place} .', 'i went to {place} last year .']),
  family: T(['i have {fam} .']),
};

/** Pet temperaments (tell_pet_detail). */
export const PET_ADJECTIVES = ['playful', 'lazy', 'friendly', 'shy', 'clever', 'calm', 'cheeky', 'gentle', 'curious', 'funny', 'noisy', 'cuddly', 'naughty', 'energetic'];
