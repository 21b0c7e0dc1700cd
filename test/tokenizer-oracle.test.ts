/**
 * Our byte-level BPE against an independent implementation: the Rust Hugging Face `tokenizers`
 * library (0.22) as the prebuilt napi binary of the devDependency @anush008/tokenizers. When
 * that binary cannot load, every test here fails with the reason (each one loads it, so none
 * is reported as skipped): a comparison that silently skips would look like a pass.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { BpeTokenizer } from '../data/tokenizer/bpe';
import { BYTE_TO_CHAR } from '../data/tokenizer/byte-level';
import { loadQwen2Tokenizer, QWEN2_LAST_ADDED_ID, QWEN2_TOKENIZER_PATH } from '../data/tokenizer/qwen2';

interface RustEncoding {
  getIds(): number[];
}
interface RustTokenizer {
  encodeBatch(texts: string[], options: { addSpecialTokens: boolean }): Promise<RustEncoding[]>;
  decode(ids: number[], skipSpecialTokens: boolean): Promise<string>;
}
interface RustModule {
  Tokenizer: { fromString(json: string): RustTokenizer };
}

function loadOracle(): RustModule {
  try {
    return createRequire(import.meta.url)('@anush008/tokenizers') as RustModule;
  } catch (e) {
    throw new Error(
      `the test oracle @anush008/tokenizers (devDependency; the Rust tokenizers library as a prebuilt binary ` +
        `for ${process.platform}-${process.arch}) cannot be loaded, so the comparison cannot run. ` +
        `Run 'npm install' so that its platform package is installed. Cause: ${(e as Error).message}`,
    );
  }
}

/**
 * Letters and digits new in Unicode 17.0. V8's ICU here knows them (\p{L}, \p{N}); the Rust
 * library's Oniguruma has Unicode 16 tables and treats them as unassigned, so a text holding
 * one splits differently. A scan of every code point found differences in these ranges only.
 * Which tables a tokenizer has depends on its build, not on the vocabulary, so random text
 * avoids them.
 */
const UNICODE_17_LETTERS: [number, number][] = [
  [0x88f, 0x88f], [0xc5c, 0xc5c], [0xcdc, 0xcdc], [0xa7ce, 0xa7cf], [0xa7d2, 0xa7d2], [0xa7d4, 0xa7d4],
  [0xa7f1, 0xa7f1], [0x10940, 0x10959], [0x10ec5, 0x10ec7], [0x11db0, 0x11ddb], [0x11de0, 0x11de9],
  [0x16ea0, 0x16eb8], [0x16ebb, 0x16ed3], [0x16ff2, 0x16ff6], [0x187f8, 0x187ff], [0x18d09, 0x18d1e],
  [0x18d80, 0x18df2], [0x1e6c0, 0x1e6ff], [0x2b73a, 0x2b73f], [0x2cea2, 0x2cead], [0x323b0, 0x33479],
];

const codePoint = fc
  .integer({ min: 0, max: 0x10ffff })
  .filter((c) => (c < 0xd800 || c > 0xdfff) && !UNICODE_17_LETTERS.some(([a, b]) => c >= a && c <= b))
  .map((c) => String.fromCodePoint(c));
const whitespace = fc.constantFrom(' ', '\n', '\r', '\t', '\v', '\f', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2028', '\u2029', '\u202f', '\u3000', '\ufeff', '\u200b');
const pieces = fc.constantFrom(
  "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'LL", "'d", 'ſ', "'ſ", "don't", "WE'LL", // contractions, case-insensitive
  '0', '1', '12', '2024', '٣', '²', 'Ⅻ', '½', // digits: \p{N} one at a time
  '🙂', '👍🏽', '👨‍👩‍👧', '🇫🇷', '你好', '世界', '日本語', '한국어', 'ÄÖÜ', 'e\u0301', '\u0301', // emoji, CJK, combining
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<|im_end', '<think>', '<|fim_pad|>', '<tool_call>', // added tokens
  '...', '!!', '?!\n', '->', '{}', '"', '$', ' (', '\r\n', '\n\n', '   ', ' \n ',
);
/** Long letter, space and punctuation runs are single pieces of 64 bytes and more: they take
 * the heap path of the merges. */
const run = (chars: string[]) => fc.string({ unit: fc.constantFrom(...chars), minLength: 30, maxLength: 300 });
const longRun = fc.oneof(run(['a', 'b', 'n', 'é', 'ü', '中', '国', 'Д']), run([' ', ' ', ' ', '\t']), run(['!', '.', '-', '=', '*', '—']));
const unit = fc.oneof(
  { weight: 4, arbitrary: codePoint },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: whitespace },
  { weight: 1, arbitrary: fc.string({ unit: whitespace, minLength: 2, maxLength: 12 }) },
  { weight: 4, arbitrary: pieces },
  { weight: 1, arbitrary: longRun },
);
const texts = (n: number, seed: number) => fc.sample(fc.string({ unit, maxLength: 30 }), { numRuns: n, seed });

interface Mismatch {
  text: string;
  want: number[];
  got: number[];
}

async function compare(ours: BpeTokenizer, rust: RustTokenizer, inputs: string[], addSpecialTokens = false): Promise<Mismatch[]> {
  const want = (await rust.encodeBatch(inputs, { addSpecialTokens })).map((e) => e.getIds());
  const out: Mismatch[] = [];
  inputs.forEach((text, i) => {
    const got = ours.encode(text, { addSpecialTokens });
    if (got.length !== want[i].length || got.some((id, k) => id !== want[i][k])) out.push({ text, want: want[i], got });
  });
  return out;
}

/** Built on first use, inside a test, so that a failure to load fails that test. */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}
const oracle = once(loadOracle);
const qwenText = once(() => gunzipSync(readFileSync(QWEN2_TOKENIZER_PATH)).toString('utf8'));

describe('Qwen2 tokenizer against the Rust tokenizers library', () => {
  const strictRust = once(() => {
    const json = JSON.parse(qwenText());
    json.added_tokens = json.added_tokens.filter((t: { id: number }) => t.id <= QWEN2_LAST_ADDED_ID);
    return oracle().Tokenizer.fromString(JSON.stringify(json));
  });

  it('encodes 4000 random texts identically', async () => {
    const mismatches = await compare(loadQwen2Tokenizer(), strictRust(), texts(4000, 20240501));
    expect(mismatches.slice(0, 3)).toEqual([]);
  });

  it('encodes a 14k-character text identically', async () => {
    let text = '';
    for (const t of texts(600, 7)) text += `${t} `;
    text = Array.from(text).slice(0, 14_000).join('');
    expect(await compare(loadQwen2Tokenizer(), strictRust(), [text])).toEqual([]);
  });

  it('decodes random ids identically, with and without special tokens', async () => {
    const tok = loadQwen2Tokenizer();
    const rust = strictRust();
    const id = fc.oneof(fc.integer({ min: 0, max: 151645 }), fc.integer({ min: 0, max: 400 }), fc.integer({ min: 151640, max: 152063 }));
    let mismatches = 0;
    for (const ids of fc.sample(fc.array(id, { maxLength: 12 }), { numRuns: 1500, seed: 3 })) {
      for (const skip of [false, true]) {
        if ((await rust.decode(ids, skip)) !== tok.decode(ids, { skipSpecialTokens: skip })) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  it('with all 26 added tokens (strict: false) matches the unfiltered file', async () => {
    const full = oracle().Tokenizer.fromString(qwenText());
    const mismatches = await compare(loadQwen2Tokenizer({ strict: false }), full, texts(1000, 99));
    expect(mismatches.slice(0, 3)).toEqual([]);
  });
});

describe('a GPT-2-style tokenizer.json against the Rust tokenizers library', () => {
  // The options Qwen2 does not use: ByteLevel's own regex and prefix space, string merges, a
  // TemplateProcessing post-processor, unk_token with fuse_unk, added tokens with lstrip,
  // rstrip, single_word, and one matched after normalisation.
  const json = syntheticJson();
  const rust = once(() => oracle().Tokenizer.fromString(JSON.stringify(json)));
  const ours = BpeTokenizer.fromJson(json, 'synthetic');
  const unitHere = fc.oneof(
    fc.constantFrom(' ', '  ', '\n', 'the', 'hello', ' hello', 'z', 'zq', 'ing', '<mask>', ' <mask> ', 'a<mask>', '<m', '<s>', '</s>', 'café', 'cafe\u0301', "'s", '12', '\u0085'),
    fc.string({ unit: 'grapheme', maxLength: 3 }),
  );
  const inputs = fc.sample(fc.string({ unit: unitHere, maxLength: 12 }), { numRuns: 1500, seed: 5 });

  it('encodes identically, with and without special tokens', async () => {
    expect((await compare(ours, rust(), inputs, false)).slice(0, 3)).toEqual([]);
    expect((await compare(ours, rust(), inputs, true)).slice(0, 3)).toEqual([]);
  });

  it('decodes identically', async () => {
    let mismatches = 0;
    for (const text of inputs.slice(0, 500)) {
      const ids = ours.encode(text, { addSpecialTokens: true });
      for (const skip of [false, true]) if ((await rust().decode(ids, skip)) !== ours.decode(ids, { skipSpecialTokens: skip })) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});

function syntheticJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  const add = (s: string) => (vocab[s] ??= Object.keys(vocab).length);
  add('<unk>');
  // 'q' and 'z' are left out, so they become <unk>.
  for (let b = 0; b < 256; b++) if (b !== 0x71 && b !== 0x7a) add(BYTE_TO_CHAR[b]);
  const pairs = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['Ġ', 'a'], ['l', 'l'], ['ll', 'o'], ['Ġ', 'h'], ['Ġh', 'e'], ['Ġhe', 'llo'], ['Ġ', 'Ġ'], ['ĠĠ', 'ĠĠ'], ['i', 'n'], ['in', 'g'], ['Ġt', 'h'], ['Ã', '©'], ['1', '2']];
  for (const [a, b] of pairs) add(a + b);
  for (const s of ['<s>', '</s>', '<mask>', 'café', '<m']) add(s);
  const added = (content: string, special: boolean, more: Record<string, boolean> = {}) => ({
    id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special, ...more,
  });
  return {
    added_tokens: [
      added('<unk>', true),
      added('<s>', true),
      added('</s>', true),
      added('<mask>', true, { lstrip: true, rstrip: true, single_word: true }),
      added('café', false),
      added('<m', false, { normalized: false }),
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }] },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [vocab['<s>']], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [vocab['</s>']], tokens: ['</s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true,
      byte_fallback: false, ignore_merges: false, vocab, merges: pairs.map((p) => p.join(' ')),
    },
  };
}
