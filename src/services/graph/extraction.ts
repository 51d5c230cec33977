import { Jieba, TfIdf } from '@node-rs/jieba';
import { dict, idf } from '@node-rs/jieba/dict.js';
import { type DocumentGraph, entityId, normaliseName } from '../../stores/graph/graph-store.js';
import { roundTo } from '../../util/numbers.js';

/** An entity found in a text. */
export interface ExtractedEntity {
  name: string;
  /** `NAME`, `PERSON`, `PLACE`, `ORGANIZATION` or `CONCEPT` from the default extractor. */
  type: string;
  /** 0..1: how sure the extractor is, used to rank a document's entities. */
  confidence: number;
  /** Offset of the first mention in the text. */
  position: number;
  /** Text around the first mention. */
  context: string;
}

/** Finds entities in a document's text. Pluggable: anything implementing this can replace the default. */
export interface EntityExtractor {
  extract(text: string): Promise<ExtractedEntity[]>;
}

/** The extractor that finds nothing (GRAPH_EXTRACTOR=none). */
export const noEntities: EntityExtractor = { extract: async () => [] };

const STOPWORDS = new Set(
  `a about above after again against all also am an and any are as at be because been before being below between both but by can
  could did do does doing down during each few for from further had has have having he her here hers him his how i if in into is
  it its itself just me more most my no nor not now of off on once only or other our ours out over own same she should so some
  such than that the their theirs them then there these they this those through to too under until up very was we were what when
  where which while who whom why will with would you your yours however therefore thus also many much may might must shall use used
  using one two three new first last each every within without via per like well make made get got`
    .split(/\s+/)
    .filter(Boolean),
);
/** Words that are capitalised only because a sentence starts with them, and calendar words. */
const SENTENCE_WORDS = new Set([
  ...[...STOPWORDS].map((w) => w[0]?.toUpperCase() + w.slice(1)),
  ...'January February March April May June July August September October November December Monday Tuesday Wednesday Thursday Friday Saturday Sunday'.split(
    ' ',
  ),
]);
/** Domain words the stock jieba dictionary splits (机器学习 → 机器 / 学习). */
const DOMAIN_WORDS = [
  '人工智能',
  '机器学习',
  '深度学习',
  '强化学习',
  '迁移学习',
  '神经网络',
  '卷积神经网络',
  '循环神经网络',
  '自然语言处理',
  '计算机视觉',
  '知识图谱',
  '语音识别',
  '语音合成',
  '语音助手',
  '大语言模型',
  '语言模型',
  '向量数据库',
  '图数据库',
  '注意力机制',
  '预训练模型',
  '推荐系统',
  '数据挖掘',
  '云计算',
  '边缘计算',
  '量子计算',
  '区块链',
  '物联网',
  '自动驾驶',
];
const JIEBA_TYPES: Record<string, string> = {
  nr: 'PERSON',
  ns: 'PLACE',
  nt: 'ORGANIZATION',
  nz: 'CONCEPT',
  n: 'CONCEPT',
  vn: 'CONCEPT',
};
const HAN = /\p{Script=Han}/u;

let jieba: { cutter: Jieba; tfidf: TfIdf } | undefined;
/** Loading the dictionaries takes about 0.3 s, so it happens on the first Chinese text. */
function loadJieba() {
  if (jieba === undefined) {
    const cutter = Jieba.withDict(dict);
    cutter.loadDict(Buffer.from(DOMAIN_WORDS.map((w) => `${w} 20000 n`).join('\n')));
    const tfidf = TfIdf.withDict(idf);
    tfidf.loadDict(Buffer.from(DOMAIN_WORDS.map((w) => `${w} 11.0`).join('\n')));
    jieba = { cutter, tfidf };
  }
  return jieba;
}

/**
 * The default extractor; needs no model. English: proper-noun phrases (runs of capitalised
 * words, or acronyms and camel-case names, not a stopword that only starts a sentence) as
 * `NAME`, and key phrases (one to three content words recurring at least twice) as
 * `CONCEPT`, or as `NAME` when every mention is capitalised the same way. Chinese:
 * jieba's TF-IDF keywords among nouns, typed from jieba's part of speech. Confidence grows
 * with the number of mentions.
 */
export class KeywordEntityExtractor implements EntityExtractor {
  constructor(private readonly maxEntities = 100) {}

  async extract(text: string): Promise<ExtractedEntity[]> {
    const found = new Map<string, ExtractedEntity>();
    const add = (name: string, type: string, confidence: number) => {
      const key = normaliseName(name);
      const existing = found.get(key);
      // One entity per normalised name in a document: a proper noun wins over a key phrase.
      if (
        existing !== undefined &&
        (existing.type !== 'CONCEPT' || type === 'CONCEPT') &&
        existing.confidence >= confidence
      )
        return;
      const position = findMention(text, name);
      found.set(key, {
        name,
        type,
        confidence: round(confidence),
        position,
        context: contextAt(text, position, name.length),
      });
    };
    for (const { name, count } of properNouns(text)) add(name, 'NAME', Math.min(1, 0.55 + 0.1 * count));
    for (const { name, count } of keyPhrases(text)) {
      // Written the same capitalised way every time (it only ever starts sentences): a name.
      const forms = new Set(mentions(text, name));
      const [form] = forms;
      if (forms.size === 1 && form !== undefined && /^\p{Lu}/u.test(form))
        add(form, 'NAME', Math.min(1, 0.55 + 0.1 * count));
      else add(name, 'CONCEPT', Math.min(0.9, 0.3 + 0.1 * count));
    }
    if (HAN.test(text))
      for (const keyword of chineseKeywords(text, this.maxEntities))
        add(keyword.name, keyword.type, keyword.confidence);
    return [...found.values()]
      .filter((e) => e.position >= 0)
      .sort((a, b) => b.confidence - a.confidence || a.position - b.position)
      .slice(0, this.maxEntities);
  }
}

/** Capitalised phrases with their number of mentions. */
function properNouns(text: string): Array<{ name: string; count: number }> {
  const counts = new Map<string, { name: string; count: number; midSentence: boolean }>();
  const word = String.raw`(?:[A-Z][\p{L}\p{N}]*(?:[-'.][\p{L}\p{N}]+)*|[\p{N}]+[A-Z][\p{L}\p{N}]*)`;
  const phrase = new RegExp(
    String.raw`(?<![\p{L}\p{N}])${word}(?:[ \t]+(?:(?:of|for|and|de|van|von)[ \t]+)?${word}){0,4}(?![\p{L}\p{N}])`,
    'gu',
  );
  for (const match of text.matchAll(phrase)) {
    let words = match[0].split(/[ \t]+/);
    let start = match.index;
    // Leading words capitalised only by their place ("The", "In") are not part of the name.
    while (words.length > 0 && SENTENCE_WORDS.has(words[0] as string)) {
      start += (words[0] as string).length + 1;
      words = words.slice(1);
    }
    while (words.length > 0 && /^(?:of|for|and|de|van|von)$/.test(words[words.length - 1] as string))
      words = words.slice(0, -1);
    if (words.length === 0) continue;
    const name = words.join(' ');
    const before = text.slice(Math.max(0, start - 3), start);
    const midSentence = start > 0 && !/(?:[.!?。！？]\s*|\n\s*|^\s*)$/.test(before);
    const distinctive = words.length > 1 || /[A-Z].*[A-Z]|\d/.test(name);
    const entry = counts.get(name) ?? { name, count: 0, midSentence: false };
    entry.count += 1;
    entry.midSentence ||= midSentence || distinctive;
    counts.set(name, entry);
  }
  // A lone capitalised word seen only at the start of sentences is just a sentence start.
  return [...counts.values()].filter((e) => e.midSentence && e.name.length > 1);
}

/** Content-word n-grams (one to three words) that recur, longest first where they overlap. */
function keyPhrases(text: string): Array<{ name: string; count: number }> {
  const counts = new Map<string, number>();
  for (const sentence of text.split(/[.!?;:,()\n\r"“”。！？；：，]+/)) {
    const words = sentence.toLowerCase().match(/[a-z][a-z0-9'-]*/g) ?? [];
    for (let n = 1; n <= 3; n++) {
      for (let i = 0; i + n <= words.length; i++) {
        const gram = words.slice(i, i + n);
        if (gram.some((w) => STOPWORDS.has(w) || w.length < 3) || (n === 1 && (gram[0] as string).length < 5)) continue;
        const key = gram.join(' ');
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
  }
  const recurring = [...counts.entries()].filter(([, count]) => count >= 2);
  // A word or pair that only ever appears inside a longer recurring phrase is not its own concept.
  return recurring
    .filter(
      ([gram, count]) =>
        !recurring.some(([longer, c]) => longer !== gram && c >= count && ` ${longer} `.includes(` ${gram} `)),
    )
    .map(([name, count]) => ({ name, count }));
}

function chineseKeywords(text: string, limit: number): Array<{ name: string; type: string; confidence: number }> {
  const { cutter, tfidf } = loadJieba();
  const tags = new Map<string, { tag: string; count: number }>();
  for (const { word, tag } of cutter.tag(text, true)) {
    const entry = tags.get(word) ?? { tag, count: 0 };
    entry.count += 1;
    tags.set(word, entry);
  }
  // Names of people, places and organisations, longer terms, and common nouns that recur.
  const keep = (word: string) => {
    const entry = tags.get(word);
    return (
      entry !== undefined && (entry.tag !== 'n' && entry.tag !== 'vn' ? true : word.length >= 3 || entry.count >= 2)
    );
  };
  const keywords = tfidf
    .extractKeywords(cutter, text, limit * 2, Object.keys(JIEBA_TYPES))
    .filter((k) => HAN.test(k.keyword) && k.keyword.length > 1 && keep(k.keyword))
    .slice(0, limit);
  const best = keywords[0]?.weight ?? 1;
  return keywords.map((k) => ({
    name: k.keyword,
    type: JIEBA_TYPES[tags.get(k.keyword)?.tag ?? 'n'] ?? 'CONCEPT',
    confidence: 0.4 + 0.6 * (k.weight / best),
  }));
}

/** Offset of the first mention: exact, else ignoring case at word boundaries. */
function findMention(text: string, name: string): number {
  const exact = text.indexOf(name);
  if (exact >= 0) return exact;
  return mentionIn(text.toLowerCase(), name.toLowerCase());
}

/** Where `needle` occurs in `haystack` as a whole word (Han text has no word boundaries to check). */
export function mentionIn(haystack: string, needle: string, from = 0): number {
  const letter = /[\p{L}\p{N}]/u;
  for (let at = haystack.indexOf(needle, from); at >= 0; at = haystack.indexOf(needle, at + 1)) {
    if (HAN.test(needle)) return at;
    const before = haystack[at - 1];
    const after = haystack[at + needle.length];
    if ((before === undefined || !letter.test(before)) && (after === undefined || !letter.test(after))) return at;
  }
  return -1;
}

/** Every whole-word mention of `phrase` in `text` (any case), as written. */
function mentions(text: string, phrase: string): string[] {
  const lower = text.toLowerCase();
  const needle = phrase.toLowerCase();
  const found: string[] = [];
  for (let at = mentionIn(lower, needle); at >= 0; at = mentionIn(lower, needle, at + 1))
    found.push(text.slice(at, at + phrase.length));
  return found;
}

function contextAt(text: string, position: number, length: number): string {
  if (position < 0) return '';
  // Han text says as much in a third of the characters.
  const reach = HAN.test(text.slice(position, position + length)) ? 20 : 60;
  return text
    .slice(Math.max(0, position - reach), position + length + reach)
    .replace(/\s+/g, ' ')
    .trim();
}

const round = (value: number) => roundTo(value, 3);

/** Most entities paired per chunk: co-occurrence pairs grow with the square of it. */
const PAIRS_PER_CHUNK = 15;

/**
 * What a document adds to the graph: its entities (ids per owner, type and normalised
 * name) and, for every two entities mentioned in the same chunk, in how many chunks.
 */
export function documentGraph(
  document: { id: string; ownerId: string; title: string },
  entities: readonly ExtractedEntity[],
  chunks: readonly string[],
): DocumentGraph {
  const unique = new Map<string, ExtractedEntity & { id: string }>();
  for (const entity of entities) {
    const id = entityId(document.ownerId, entity.type, entity.name);
    if (!unique.has(id)) unique.set(id, { ...entity, id });
  }
  const ranked = [...unique.values()].sort((a, b) => b.confidence - a.confidence || (a.id < b.id ? -1 : 1));
  const pairs = new Map<string, { source: string; target: string; frequency: number }>();
  for (const chunk of chunks) {
    const lower = chunk.toLowerCase();
    const present = ranked.filter((e) => mentionIn(lower, e.name.toLowerCase()) >= 0).slice(0, PAIRS_PER_CHUNK);
    for (let i = 0; i < present.length; i++) {
      for (let j = i + 1; j < present.length; j++) {
        const [source, target] = [(present[i] as { id: string }).id, (present[j] as { id: string }).id].sort() as [
          string,
          string,
        ];
        const key = `${source}/${target}`;
        const pair = pairs.get(key) ?? { source, target, frequency: 0 };
        pair.frequency += 1;
        pairs.set(key, pair);
      }
    }
  }
  return {
    document,
    entities: ranked.map(({ id, name, type, confidence, position, context }) => ({
      id,
      name,
      type,
      confidence,
      position,
      context,
    })),
    cooccurrences: [...pairs.values()],
  };
}
