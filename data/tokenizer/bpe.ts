/**
 * Byte-level BPE from a Hugging Face `tokenizer.json` (GPT-2, Qwen2, Llama 3 style), with no
 * tokenizer library at run time. Encoding follows the Rust `tokenizers` library step by step:
 * added tokens are cut out of the raw text, the rest is normalised (NFC), split by the
 * pre-tokenizer regex, turned into bytes, and each piece's bytes are merged by rank. The test
 * compares it with that library on thousands of random strings.
 */
import { decodeOrThrow } from '../../dsl/config';
import { AddedTokenMatcher, type AddedToken } from './added-tokens';
import { BYTE_TO_CHAR, fromUtf8, tokenBytes, utf8Bytes } from './byte-level';
import { fieldError, normalizerOf, preTokenize, preTokenizerSteps, templateOf, type Step } from './components';
import { MergeTable, mergeWord } from './merges';
import { TokenizerJson } from './schema';
import type { DecodeOptions, EncodeOptions, SpecialIds, Tokenizer } from './types';

/** Words cached before the cache starts over; a few MB, and far more than one text holds. */
const CACHE_WORDS = 100_000;
/** Longer pieces are not cached: they rarely repeat (the Rust library uses the same bound). */
const CACHE_CHARS = 256;

export interface BpeOptions {
  /** Added tokens with a larger id are dropped: Qwen2 knows only those up to 151645. */
  readonly maxAddedTokenId?: number;
  /** Which tokens play these roles (the tokenizer_config.json says; tokenizer.json does not). */
  readonly special?: { readonly pad?: string; readonly bos?: string; readonly eos?: string };
}

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly special: SpecialIds;
  private readonly vocab: Map<string, number>;
  private readonly tokens: (string | undefined)[];
  private readonly addedById = new Map<number, AddedToken>();
  private readonly specialContents = new Set<string>();
  private readonly rawAdded: AddedTokenMatcher;
  private readonly normalizedAdded: AddedTokenMatcher;
  private readonly normalize: (s: string) => string;
  private readonly steps: Step[];
  private readonly merges: MergeTable;
  /** vocabulary id of each byte's character, -1 when the vocabulary lacks it */
  private readonly byteIds = new Int32Array(256);
  private readonly unkId: number;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  private readonly template: { before: number[]; after: number[] };
  private readonly cache = new Map<string, number[]>();
  private readonly bytesById: (Uint8Array | undefined)[] = [];

  /** Validates a parsed tokenizer.json; errors are ConfigErrors that start with `label`
   * (the file name) and name the field. */
  static fromJson(value: unknown, label: string, options: BpeOptions = {}): BpeTokenizer {
    return new BpeTokenizer(decodeOrThrow(TokenizerJson, value, label), label, options);
  }

  private constructor(json: TokenizerJson, label: string, options: BpeOptions) {
    const model = json.model;
    this.vocab = new Map(Object.entries(model.vocab));
    this.tokens = [];
    for (const [token, id] of this.vocab) this.tokens[id] = token;
    this.merges = new MergeTable(
      model.merges.map((m, i) => {
        const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
        const ids = [this.vocab.get(a), this.vocab.get(b), this.vocab.get(a + b)];
        const missing = [a, b, a + b].find((_, k) => ids[k] === undefined);
        if (missing !== undefined) throw fieldError(label, `model.merges[${i}]`, `uses "${missing}", which is not in model.vocab`, m);
        return ids as [number, number, number];
      }),
    );
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.vocab.get(BYTE_TO_CHAR[b]) ?? -1;
    const unk = model.unk_token;
    this.unkId = unk == null ? -1 : (this.vocab.get(unk) ?? -1);
    if (unk != null && this.unkId < 0) throw fieldError(label, 'model.unk_token', `is "${unk}", which is not in model.vocab`, unk);
    this.fuseUnk = model.fuse_unk === true;
    this.ignoreMerges = model.ignore_merges === true;

    const maxAdded = options.maxAddedTokenId ?? Infinity;
    const added: { token: AddedToken; normalized: boolean }[] = [];
    for (const t of json.added_tokens ?? []) {
      if (t.id > maxAdded) continue;
      const token: AddedToken = { id: t.id, content: t.content, special: t.special, lstrip: t.lstrip, rstrip: t.rstrip, singleWord: t.single_word };
      added.push({ token, normalized: t.normalized ?? !t.special });
      this.addedById.set(t.id, token);
      if (t.special) this.specialContents.add(t.content);
    }
    this.normalize = normalizerOf(json.normalizer);
    this.rawAdded = new AddedTokenMatcher(added.filter((a) => !a.normalized).map((a) => a.token));
    // Tokens matched after normalisation are themselves normalised first, as in the Rust library.
    this.normalizedAdded = new AddedTokenMatcher(added.filter((a) => a.normalized).map((a) => ({ ...a.token, content: this.normalize(a.token.content) })));
    this.steps = preTokenizerSteps(json.pre_tokenizer, label);
    this.template = templateOf(json.post_processor, label);
    this.vocabSize = Math.max(this.tokens.length, ...[...this.addedById.keys()].map((i) => i + 1));

    const id = (content: string | undefined) => (content === undefined ? undefined : this.tokenToId(content));
    this.special = {
      pad: id(options.special?.pad),
      bos: id(options.special?.bos),
      eos: id(options.special?.eos),
      imStart: id('<|im_start|>'),
      imEnd: id('<|im_end|>'),
    };
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const split = options.splitSpecialTokens === true;
    const ids: number[] = [];
    for (const piece of this.rawAdded.split(text, split)) {
      if (typeof piece === 'number') {
        ids.push(piece);
        continue;
      }
      for (const inner of this.normalizedAdded.split(this.normalize(piece), split)) {
        if (typeof inner === 'number') ids.push(inner);
        else this.encodePlain(inner, ids);
      }
    }
    if (options.addSpecialTokens !== true) return ids;
    return [...this.template.before, ...ids, ...this.template.after];
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (const id of ids) {
      const token = this.idToToken(id);
      if (token === undefined || (options.skipSpecialTokens && this.specialContents.has(token))) continue;
      const bytes = (this.bytesById[id] ??= tokenBytes(token));
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return fromUtf8(all);
  }

  tokenToId(token: string): number | undefined {
    return this.rawAdded.get(token)?.id ?? this.normalizedAdded.get(token)?.id ?? this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.tokens[id];
  }

  /** Text with no added tokens in it, already normalised. */
  private encodePlain(text: string, ids: number[]): void {
    for (const piece of preTokenize(this.steps, text)) {
      let word = this.cache.get(piece);
      if (word === undefined) {
        word = this.encodeWord(piece);
        if (piece.length < CACHE_CHARS) {
          if (this.cache.size >= CACHE_WORDS) this.cache.clear();
          this.cache.set(piece, word);
        }
      }
      for (const id of word) ids.push(id);
    }
  }

  private encodeWord(piece: string): number[] {
    const bytes = utf8Bytes(piece);
    if (this.ignoreMerges) {
      const whole = this.vocab.get(bytes.map((b) => BYTE_TO_CHAR[b]).join(''));
      if (whole !== undefined) return [whole];
    }
    return mergeWord(this.withUnknown(bytes.map((b) => this.byteIds[b])), this.merges);
  }

  /** A byte outside the vocabulary becomes unk_token (consecutive ones fused with fuse_unk),
   * or is dropped when there is none, as in the Rust library. */
  private withUnknown(symbols: number[]): number[] {
    if (!symbols.includes(-1)) return symbols;
    const out: number[] = [];
    let afterUnknown = false;
    for (const s of symbols) {
      if (s >= 0) out.push(s);
      else if (this.unkId >= 0 && !(this.fuseUnk && afterUnknown)) out.push(this.unkId);
      afterUnknown = s < 0;
    }
    return out;
  }
}
