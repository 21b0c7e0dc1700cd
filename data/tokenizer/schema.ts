/**
 * The parts of a Hugging Face `tokenizer.json` that our byte-level BPE reads, as io-ts codecs.
 * Decoding is lenient (plain `t.type`, as for other Hugging Face files): fields we do not use
 * are kept and ignored, but every component we run is checked, so a WordPiece or Metaspace
 * tokenizer fails at load time with the field named instead of encoding wrongly.
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either';
import { describe, described, NonNegativeInt } from '../../dsl/config';

/**
 * One of several component shapes, chosen by the `type` field. Checking `type` first gives
 * "field 'pre_tokenizer.type' expected "ByteLevel" or "Sequence", got "Metaspace"" rather
 * than every member's complaints, which a t.union would list.
 */
function byType<M extends Record<string, t.Mixed>>(members: M): t.Type<t.TypeOf<M[keyof M]>, unknown, unknown> {
  const names = Object.keys(members);
  const Tag = t.type({ type: t.keyof(Object.fromEntries(names.map((k) => [k, null])) as Record<keyof M & string, null>) });
  const codec = new t.Type<t.TypeOf<M[keyof M]>, unknown, unknown>(
    `one of ${names.join(', ')}`,
    (u): u is t.TypeOf<M[keyof M]> => Object.values(members).some((m) => m.is(u)),
    (u, c) => {
      const tag = Tag.validate(u, c);
      return isLeft(tag) ? tag : members[tag.right.type].validate(u, c);
    },
    t.identity,
  );
  return described(codec, `an object with "type" ${names.map((k) => JSON.stringify(k)).join(' or ')}`);
}

/** A component that may be null or left out (no normaliser, no post-processor). */
function orNull<A>(codec: t.Type<A, unknown, unknown>): t.Type<A | null | undefined, unknown, unknown> {
  const wrapped = new t.Type<A | null | undefined, unknown, unknown>(
    codec.name,
    (u): u is A | null | undefined => u == null || codec.is(u),
    (u, c) => (u == null ? t.success(u as null | undefined) : codec.validate(u, c)),
    t.identity,
  );
  return described(wrapped, `${describe(codec)}, or null`);
}

const Flag = t.union([t.boolean, t.undefined]);

export const AddedTokenJson = t.intersection([
  t.type({ id: NonNegativeInt, content: t.string, special: t.boolean }),
  t.partial({ single_word: Flag, lstrip: Flag, rstrip: Flag, normalized: Flag }),
]);
export type AddedTokenJson = t.TypeOf<typeof AddedTokenJson>;

/** Older files write a merge as "a b", newer ones as ["a", "b"] (tokens may then hold spaces). */
const MergeString = described(
  t.refinement(t.string, (s) => s.split(' ').length === 2, 'MergeString'),
  'a merge "left right" (two tokens separated by one space)',
);
export const Merge = t.union([MergeString, t.tuple([t.string, t.string])]);

const Nothing = t.union([t.null, t.undefined]);
const EmptyString = t.union([t.literal(''), t.null, t.undefined]);

export const BpeModelJson = t.intersection([
  t.type({
    type: t.literal('BPE'),
    vocab: t.record(t.string, NonNegativeInt),
    merges: t.array(Merge),
  }),
  t.partial({
    // Features a byte-level vocabulary never needs; refused rather than silently ignored.
    dropout: t.union([Nothing, t.literal(0)]),
    continuing_subword_prefix: EmptyString,
    end_of_word_suffix: EmptyString,
    byte_fallback: t.union([t.literal(false), t.undefined]),
    unk_token: t.union([t.string, Nothing]),
    fuse_unk: Flag,
    ignore_merges: Flag,
  }),
]);

const Forms = {
  NFC: t.type({ type: t.literal('NFC') }),
  NFD: t.type({ type: t.literal('NFD') }),
  NFKC: t.type({ type: t.literal('NFKC') }),
  NFKD: t.type({ type: t.literal('NFKD') }),
};
export const NormalizerJson = orNull(
  byType({ ...Forms, Sequence: t.type({ type: t.literal('Sequence'), normalizers: t.array(byType(Forms)) }) }),
);
export type NormalizerJson = t.TypeOf<typeof NormalizerJson>;

/** As a decoder or post-processor ByteLevel changes no id, so its options are not read. */
export const ByteLevelJson = t.type({ type: t.literal('ByteLevel') });

// Members of byType are plain t.type (a field typed `X | undefined` may be left out): an
// intersection would put its member index into the field paths of error messages.

/** As a pre-tokenizer; `use_regex` defaults to true (GPT-2's pattern) as in the Rust library. */
export const ByteLevelPreJson = t.type({ type: t.literal('ByteLevel'), add_prefix_space: t.boolean, use_regex: Flag });
export type ByteLevelPreJson = t.TypeOf<typeof ByteLevelPreJson>;

export const SplitJson = t.type({
  type: t.literal('Split'),
  pattern: t.union([t.type({ Regex: t.string }), t.type({ String: t.string })]),
  // Isolated keeps matches and the text between them as separate pieces; the only behaviour
  // byte-level vocabularies (GPT-2, Qwen2, Llama 3) use.
  behavior: t.literal('Isolated'),
  invert: t.union([t.literal(false), t.undefined]),
});
export type SplitJson = t.TypeOf<typeof SplitJson>;

export const PreTokenizerStep = byType({ Split: SplitJson, ByteLevel: ByteLevelPreJson });
export type PreTokenizerStep = t.TypeOf<typeof PreTokenizerStep>;
export const PreTokenizerJson = byType({
  ByteLevel: ByteLevelPreJson,
  Sequence: t.type({ type: t.literal('Sequence'), pretokenizers: t.array(PreTokenizerStep) }),
});

const TemplatePiece = t.union([
  t.type({ SpecialToken: t.type({ id: t.string }) }),
  t.type({ Sequence: t.type({ id: t.literal('A') }) }),
]);
export const TemplateJson = t.type({
  type: t.literal('TemplateProcessing'),
  single: t.array(TemplatePiece),
  special_tokens: t.record(t.string, t.type({ ids: t.array(NonNegativeInt) })),
});
export type TemplateJson = t.TypeOf<typeof TemplateJson>;
const PostSteps = { ByteLevel: ByteLevelJson, TemplateProcessing: TemplateJson };
export const PostProcessorJson = orNull(
  byType({ ...PostSteps, Sequence: t.type({ type: t.literal('Sequence'), processors: t.array(byType(PostSteps)) }) }),
);

export const TokenizerJson = t.intersection([
  t.type({
    model: BpeModelJson,
    pre_tokenizer: PreTokenizerJson,
    decoder: byType({ ByteLevel: ByteLevelJson }),
  }),
  t.partial({
    added_tokens: t.union([t.array(AddedTokenJson), Nothing]),
    normalizer: NormalizerJson,
    post_processor: PostProcessorJson,
  }),
]);
export type TokenizerJson = t.TypeOf<typeof TokenizerJson>;
