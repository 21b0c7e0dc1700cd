/**
 * A built-in emotion synonym table: the deterministic replacement for the GPT-3.5 synonym
 * grouping of the EMER-OV protocol (PAPER.md 4.1 step 2), which needs an API we do not have.
 *
 * - EMOTION_GROUPS: disjoint groups of lowercase emotion words with (approximately) the same
 *   meaning; the first word of a group is its representative. It covers the DFEW / MAFW classes
 *   and the common EMER-OV open vocabulary. The groups follow the project brief (e.g. "excited"
 *   and "enthusiastic" are in the happy group, "disappointed" in the sad group, "contemptuous" in
 *   the disgusted group); this is coarser than the MAFW class set on purpose, since EMER-OV asks
 *   "same meaning", not "same MAFW class".
 * - Behavioural cues (smiling, laughing, crying, tears) are not emotion words here: they are clues,
 *   and the reference label prompt keeps "only the clearly identifiable emotional categories".
 * - EMOTION_LEMMAS: simple form -> base word (happiness -> happy, anger -> angry, fear -> fearful,
 *   surprise -> surprised, ...), plus suffix rules (-ly, -ness, -ment) applied only when the
 *   result is a table word.
 * - Grouper: `(words) => Map<word, representative>`, the pluggable interface; a judge model can
 *   replace the table later (the reference prompt is given per sample the union U of GT and
 *   predicted words and returns groups; "map every word to the first element of its group;
 *   unlisted words map to themselves"). The table grouper ignores the context U and groups each
 *   word on its own, so its answer for a word is the same in every sample.
 */

/** Groups of same-meaning emotion words; the first is the representative. Lowercase, disjoint. */
export const EMOTION_GROUPS: readonly (readonly string[])[] = [
  ['happy', 'joyful', 'cheerful', 'pleased', 'delighted', 'content', 'excited', 'enthusiastic', 'glad', 'joyous',
    'elated', 'ecstatic', 'thrilled', 'merry', 'jubilant', 'euphoric', 'gleeful', 'pleasant', 'pleasurable',
    'satisfied', 'contented', 'overjoyed', 'blissful', 'exhilarated', 'exuberant', 'lighthearted', 'light-hearted',
    'upbeat', 'positive', 'eager'],
  ['sad', 'unhappy', 'sorrowful', 'depressed', 'disappointed', 'gloomy', 'upset', 'melancholy', 'melancholic',
    'heartbroken', 'miserable', 'dejected', 'downcast', 'mournful', 'grieving', 'grief-stricken', 'despondent',
    'sorry', 'hurt', 'down', 'blue', 'disheartened', 'discouraged', 'let down', 'negative',
    'distressed', 'pained', 'regretful', 'lonely', 'wistful', 'nostalgic'],
  ['angry', 'irritated', 'annoyed', 'furious', 'frustrated', 'mad', 'enraged', 'irate', 'resentful', 'indignant',
    'hostile', 'outraged', 'displeased', 'dissatisfied', 'agitated', 'aggravated', 'exasperated', 'livid', 'fuming',
    'cross', 'aggressive', 'bitter', 'complaining', 'impatient', 'grumpy', 'irritable', 'provoked', 'infuriated',
    'accusatory', 'defiant', 'reproachful', 'blaming'],
  ['fearful', 'afraid', 'scared', 'anxious', 'nervous', 'worried', 'tense', 'frightened', 'terrified', 'panicked',
    'panicky', 'uneasy', 'apprehensive', 'concerned', 'alarmed', 'stressed', 'restless', 'insecure',
    'horrified', 'petrified', 'timid', 'jittery', 'on edge', 'troubled', 'distraught', 'overwhelmed', 'cautious',
    'hesitant', 'vigilant', 'suspenseful'],
  ['surprised', 'astonished', 'amazed', 'shocked', 'startled', 'stunned', 'astounded', 'dumbfounded',
    'flabbergasted', 'taken aback', 'awed', 'awestruck', 'incredulous', 'disbelieving'],
  ['disgusted', 'contemptuous', 'disdainful', 'scornful', 'repulsed', 'revolted', 'sneering',
    'repelled', 'nauseated', 'loathing', 'averse', 'dismissive', 'condescending', 'arrogant', 'disrespectful',
    'disapproving', 'mocking', 'sarcastic', 'sardonic', 'ironic', 'cynical'],
  ['neutral', 'calm', 'relaxed', 'peaceful', 'serene', 'composed', 'tranquil', 'placid', 'unemotional',
    'expressionless', 'at ease', 'relieved', 'indifferent', 'unconcerned', 'impassive', 'emotionless',
    'laid-back', 'comfortable', 'casual'],
  ['tired', 'bored', 'exhausted', 'weary', 'fatigued', 'sleepy', 'drowsy', 'lethargic', 'listless', 'apathetic',
    'uninterested', 'disinterested', 'drained', 'worn out', 'jaded', 'unmotivated', 'languid'],
  ['helpless', 'powerless', 'hopeless', 'desperate', 'despairing', 'resigned', 'defeated', 'vulnerable', 'lost',
    'at a loss', 'trapped', 'aggrieved', 'wronged'],
  ['confused', 'puzzled', 'perplexed', 'bewildered', 'baffled', 'uncertain', 'doubtful', 'unsure', 'confounded',
    'disoriented', 'mystified', 'skeptical', 'sceptical', 'suspicious', 'distrustful', 'dubious', 'wary',
    'curious', 'inquisitive', 'intrigued', 'interested', 'thoughtful', 'pensive', 'contemplative',
    'reflective', 'hesitating', 'ambivalent'],
  ['embarrassed', 'ashamed', 'shy', 'awkward', 'sheepish', 'self-conscious', 'humiliated', 'bashful', 'guilty',
    'remorseful', 'apologetic', 'mortified', 'flustered', 'uncomfortable', 'self-deprecating', 'self-mocking'],
  ['proud', 'confident', 'triumphant', 'self-assured', 'assertive', 'determined', 'resolute', 'firm', 'bold',
    'brave', 'courageous', 'accomplished', 'victorious', 'smug', 'complacent', 'boastful'],
  ['grateful', 'thankful', 'appreciative', 'touched', 'moved'],
  ['loving', 'affectionate', 'tender', 'caring', 'warm', 'fond', 'romantic', 'passionate', 'adoring', 'intimate',
    'sweet', 'kind', 'friendly', 'gentle', 'sympathetic', 'compassionate', 'empathetic', 'understanding', 'supportive',
    'comforting', 'pitying'],
  ['hopeful', 'optimistic', 'expectant', 'anticipating', 'encouraged', 'encouraging', 'reassured', 'reassuring',
    'looking forward'],
  ['amused', 'humorous', 'playful', 'teasing', 'joking', 'funny', 'witty', 'mischievous', 'silly', 'entertained'],
  ['serious', 'solemn', 'earnest', 'stern', 'grave', 'focused', 'attentive', 'formal', 'strict', 'severe'],
  ['jealous', 'envious', 'covetous'],
];

/**
 * Simple forms -> base word of the table (nouns, adverbs, verbs). Only unambiguous mappings.
 * Keys and values lowercase; every value is a word of EMOTION_GROUPS.
 */
export const EMOTION_LEMMAS: Readonly<Record<string, string>> = {
  // happy
  happiness: 'happy', happily: 'happy', joy: 'joyful', joyfulness: 'joyful', joyfully: 'joyful', cheer: 'cheerful',
  cheerfulness: 'cheerful', cheerfully: 'cheerful', pleasure: 'pleased', delight: 'delighted', contentment: 'content',
  excitement: 'excited', enthusiasm: 'enthusiastic', enthusiastically: 'enthusiastic', elation: 'elated',
  ecstasy: 'ecstatic', euphoria: 'euphoric', glee: 'gleeful', satisfaction: 'satisfied', bliss: 'blissful',
  exhilaration: 'exhilarated', exuberance: 'exuberant', gladness: 'glad', eagerness: 'eager',
  // sad
  sadness: 'sad', sadly: 'sad', unhappiness: 'unhappy', sorrow: 'sorrowful', depression: 'depressed',
  disappointment: 'disappointed', disappointing: 'disappointed', gloom: 'gloomy', grief: 'grieving', grieve: 'grieving',
  misery: 'miserable', dejection: 'dejected', heartbreak: 'heartbroken', despondency: 'despondent', regret: 'regretful',
  loneliness: 'lonely', distress: 'distressed', pain: 'pained', melancholia: 'melancholy', nostalgia: 'nostalgic',
  // angry
  anger: 'angry', angrily: 'angry', irritation: 'irritated', annoyance: 'annoyed', fury: 'furious',
  furiously: 'furious', frustration: 'frustrated', rage: 'enraged', resentment: 'resentful', indignation: 'indignant',
  hostility: 'hostile', outrage: 'outraged', displeasure: 'displeased', agitation: 'agitated',
  exasperation: 'exasperated', aggression: 'aggressive', bitterness: 'bitter', impatience: 'impatient',
  complaint: 'complaining', complain: 'complaining', complains: 'complaining', defiance: 'defiant',
  reproach: 'reproachful', blame: 'blaming', dissatisfaction: 'dissatisfied',
  // fearful
  fear: 'fearful', fears: 'fearful', fearfully: 'fearful', concern: 'concerned', fright: 'frightened', terror: 'terrified', panic: 'panicked', anxiety: 'anxious',
  anxiously: 'anxious', anxiousness: 'anxious', nervousness: 'nervous', nervously: 'nervous', worry: 'worried',
  worries: 'worried', worrying: 'worried', tension: 'tense', unease: 'uneasy', uneasiness: 'uneasy',
  apprehension: 'apprehensive', stress: 'stressed', insecurity: 'insecure', horror: 'horrified',
  restlessness: 'restless', caution: 'cautious', hesitation: 'hesitant', scare: 'scared',
  // surprised
  surprise: 'surprised', surprising: 'surprised', surprisingly: 'surprised', astonishment: 'astonished', amazement: 'amazed', shock: 'shocked',
  incredulity: 'incredulous', disbelief: 'disbelieving', awe: 'awed',
  // disgusted
  disgust: 'disgusted', contempt: 'contemptuous', disgusting: 'disgusted', disdain: 'disdainful', scorn: 'scornful', revulsion: 'repulsed', loathe: 'loathing',
  aversion: 'averse', contemptuously: 'contemptuous', sarcasm: 'sarcastic', mockery: 'mocking', irony: 'ironic',
  cynicism: 'cynical', arrogance: 'arrogant', disapproval: 'disapproving', condescension: 'condescending',
  // neutral
  neutrality: 'neutral', calmness: 'calm', calmly: 'calm', relaxation: 'relaxed', peace: 'peaceful',
  peacefully: 'peaceful', serenity: 'serene', composure: 'composed', tranquility: 'tranquil',
  tranquillity: 'tranquil', relief: 'relieved', indifference: 'indifferent', relax: 'relaxed',
  // tired
  tiredness: 'tired', fatigue: 'fatigued', exhaustion: 'exhausted', boredom: 'bored', weariness: 'weary',
  sleepiness: 'sleepy', drowsiness: 'drowsy', lethargy: 'lethargic', apathy: 'apathetic', boring: 'bored',
  // helpless
  helplessness: 'helpless', powerlessness: 'powerless', hopelessness: 'hopeless', despair: 'despairing', desperation: 'desperate',
  resignation: 'resigned', defeat: 'defeated', vulnerability: 'vulnerable',
  // confused
  confusion: 'confused', puzzlement: 'puzzled', perplexity: 'perplexed', bewilderment: 'bewildered',
  uncertainty: 'uncertain', doubt: 'doubtful', skepticism: 'skeptical', scepticism: 'sceptical',
  suspicion: 'suspicious', distrust: 'distrustful', curiosity: 'curious', interest: 'interested',
  ambivalence: 'ambivalent',
  // embarrassed
  embarrassment: 'embarrassed', shame: 'ashamed', shyness: 'shy', awkwardness: 'awkward', humiliation: 'humiliated',
  guilt: 'guilty', remorse: 'remorseful', discomfort: 'uncomfortable',
  // proud
  pride: 'proud', proudly: 'proud', confidence: 'confident', confidently: 'confident', triumph: 'triumphant',
  determination: 'determined', assertiveness: 'assertive', courage: 'courageous', bravery: 'brave', smugness: 'smug',
  // grateful
  gratitude: 'grateful', thankfulness: 'thankful', appreciation: 'appreciative',
  // loving
  love: 'loving', affection: 'affectionate', tenderness: 'tender', warmth: 'warm', fondness: 'fond',
  passion: 'passionate', sympathy: 'sympathetic', compassion: 'compassionate', empathy: 'empathetic',
  kindness: 'kind', friendliness: 'friendly', pity: 'pitying',
  // hopeful
  hope: 'hopeful', optimism: 'optimistic', anticipation: 'anticipating', expectation: 'expectant',
  // amused
  amusement: 'amused', humor: 'humorous', humour: 'humorous', playfulness: 'playful', playfully: 'playful',
  // serious
  seriousness: 'serious', seriously: 'serious', solemnity: 'solemn', sternness: 'stern', sternly: 'stern',
  focus: 'focused', attention: 'attentive',
  // jealous
  jealousy: 'jealous', envy: 'envious',
};

/** Lowercase, unify apostrophes/dashes, drop surrounding punctuation and quotes, collapse spaces. */
export function cleanEmotionWord(word: string): string {
  return word
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u2010-\u2015]/g, '-')
    .replace(/^[\s"'`.,;:!?()[\]{}]+|[\s"'`.,;:!?()[\]{}]+$/g, '')
    .replace(/\s+/g, ' ');
}

const GROUP_OF = new Map<string, string>();
for (const g of EMOTION_GROUPS) {
  for (const w of g) {
    if (GROUP_OF.has(w)) throw new Error(`emotion-wheel: ${JSON.stringify(w)} is in two groups`);
    GROUP_OF.set(w, g[0]!);
  }
}
for (const [form, base] of Object.entries(EMOTION_LEMMAS)) {
  if (!GROUP_OF.has(base)) throw new Error(`emotion-wheel: lemma ${form} -> ${base} is not a table word`);
}

/** Every surface form the table knows (group words and lemma forms), lowercase. */
export const EMOTION_VOCABULARY: ReadonlySet<string> = new Set([...GROUP_OF.keys(), ...Object.keys(EMOTION_LEMMAS)]);

/**
 * A lemmatiser over a vocabulary: the lemma table, then suffix rules accepted only when they land
 * on a known word or a lemma key (-ily -> -y; -ly; -iness -> -y; -ness; -ment -> -ed/-d; plural -s).
 * Unknown words come back cleaned but otherwise unchanged.
 */
export function makeLemmatizer(isKnown: (w: string) => boolean, lemmas: Readonly<Record<string, string>>): (word: string) => string {
  return (word) => {
    const w = cleanEmotionWord(word);
    if (isKnown(w)) return w;
    const direct = lemmas[w];
    if (direct !== undefined) return direct;
    const candidates: string[] = [];
    if (w.endsWith('ily')) candidates.push(`${w.slice(0, -3)}y`);
    if (w.endsWith('ly')) candidates.push(w.slice(0, -2));
    if (w.endsWith('iness')) candidates.push(`${w.slice(0, -5)}y`);
    if (w.endsWith('ness')) candidates.push(w.slice(0, -4));
    if (w.endsWith('ment')) candidates.push(`${w.slice(0, -4)}ed`, `${w.slice(0, -4)}d`);
    if (w.endsWith('s') && !w.endsWith('ss')) candidates.push(w.slice(0, -1));
    for (const c of candidates) {
      if (isKnown(c)) return c;
      const l = lemmas[c];
      if (l !== undefined) return l;
    }
    return w;
  };
}

/** Base form of a word for the built-in table (happiness -> happy, anger -> angry, fear -> fearful). */
export const lemmatizeEmotion: (word: string) => string = makeLemmatizer((w) => GROUP_OF.has(w), EMOTION_LEMMAS);

/** The group representative of a word, or undefined when the table does not know it. */
export function emotionGroupOf(word: string): string | undefined {
  return GROUP_OF.get(lemmatizeEmotion(word));
}

/** True when the word (after lemmatisation) is a table word. */
export function isEmotionWord(word: string): boolean {
  return GROUP_OF.has(lemmatizeEmotion(word));
}

/**
 * Synonym grouping of one sample's words: word -> group representative. Keys are the given words
 * exactly as passed; a word missing from the map (or mapped to itself) stands for its own group.
 * Same contract as the GPT step it replaces, so a judge model can be dropped in.
 */
export type Grouper = (words: string[]) => Map<string, string>;
/** The asynchronous form, for a judge model behind an API. */
export type AsyncGrouper = (words: string[]) => Map<string, string> | Promise<Map<string, string>>;

/**
 * A grouper from a list of groups (first word = representative), with the same cleaning and
 * lemmatisation rules as the built-in table. Words outside the groups map to their cleaned lemma,
 * so "Happiness" and "happy" still fall together.
 */
export function groupsGrouper(groups: readonly (readonly string[])[], lemmas: Readonly<Record<string, string>> = EMOTION_LEMMAS): Grouper {
  const of = new Map<string, string>();
  for (const g of groups) {
    const rep = cleanEmotionWord(g[0] ?? '');
    for (const w of g) if (!of.has(cleanEmotionWord(w))) of.set(cleanEmotionWord(w), rep);
  }
  const lemmatize = makeLemmatizer((w) => of.has(w), lemmas);
  return (words) => {
    const out = new Map<string, string>();
    for (const word of words) {
      const base = lemmatize(word);
      out.set(word, of.get(base) ?? base);
    }
    return out;
  };
}

/** The default grouper: the built-in EMOTION_GROUPS table with EMOTION_LEMMAS. */
export const tableGrouper: Grouper = groupsGrouper(EMOTION_GROUPS);

/**
 * Turns a judge model's answer in the reference output format (a list of lists, e.g.
 * `[['Agree', 'agreement'], ['Relaxed', 'relaxed']]`) into a Grouper-style map over `words`,
 * as MERTools main-ov.py does: every word maps to the first element of its group, a word in two
 * groups takes the last one, unlisted words map to themselves. No lowercasing here (the caller
 * lowercases U before asking, as the reference does).
 */
export function mapFromGroups(words: string[], groups: readonly (readonly string[])[]): Map<string, string> {
  const of = new Map<string, string>();
  for (const g of groups) for (const w of g) of.set(w, g[0]!);
  return new Map(words.map((w) => [w, of.get(w) ?? w]));
}
