/**
 * The instruction manifest: one JSON object per line, LLaVA-style (PAPER.md 3.1) plus optional
 * labels that evaluation and SynthEmo use. Media paths are relative to the manifest's folder.
 * Unknown fields are errors (exactStrict): in a file we write ourselves they are typos.
 *
 *   {"id": "synthemo-000001", "video": "clips/synthemo-000001.mp4", "audio": "clips/synthemo-000001.mp4",
 *    "conversations": [{"from": "human", "value": "<video>\n<audio>\nDescribe ..."},
 *                      {"from": "gpt", "value": "The person seems cheerful. ..."}],
 *    "labels": {"emotion": "happy", "open_vocab": ["cheerful", "happy"], "clues": ["raised mouth corners"],
 *               "valence": 0.8, "arousal": 0.1},
 *    "split": "train"}
 */
import * as t from 'io-ts';
import { chain } from 'fp-ts/lib/Either';
import { pipe } from 'fp-ts/lib/function';
import { described, exactStrict } from '../../dsl/config';

/** A base codec narrowed by a predicate, keeping the plain TypeScript type (no brand), so
 * generators can build entries as object literals. A RefinementType, so that error paths
 * through it read `conversations[0].from` (dsl/config looks through refinements). */
function refined<A>(base: t.Type<A, A, unknown>, ok: (a: A) => boolean, name: string, description: string): t.Type<A, A, unknown> {
  const type = new t.RefinementType<t.Type<A, A, unknown>, A, A, unknown>(
    name,
    (u): u is A => base.is(u) && ok(u),
    (u, c) => pipe(base.validate(u, c), chain((a) => (ok(a) ? t.success(a) : t.failure(u, c)))),
    t.identity,
    base,
    ok,
  );
  return described(type, description);
}

const NonEmptyString = refined(t.string, (s) => s.trim() !== '', 'NonEmptyString', 'a non-empty string');
/** a path relative to the manifest's folder (absolute paths are allowed but not portable) */
const MediaPath = refined(t.string, (s) => s.trim() !== '', 'MediaPath', 'a file path');
const Unit = refined(t.number, (n) => Number.isFinite(n) && n >= -1 && n <= 1, 'Unit', 'a number in [-1, 1]');

export const Turn = exactStrict(t.type({ from: t.keyof({ human: null, gpt: null }), value: t.string }), 'Turn');
export type Turn = t.TypeOf<typeof Turn>;

const Conversations = refined(t.array(Turn), (a) => a.length > 0, 'Conversations', 'a non-empty array of turns');

export const Labels = exactStrict(
  t.partial({
    /** the coarse class (SynthEmo: one of its classes; DFEW-style sets: one of 7) */
    emotion: NonEmptyString,
    /** open-vocabulary emotion words (EMER-OV style) */
    open_vocab: t.array(NonEmptyString),
    /** short descriptions of the evidence */
    clues: t.array(NonEmptyString),
    valence: Unit,
    arousal: Unit,
  }),
  'Labels',
);
export type Labels = t.TypeOf<typeof Labels>;

export const Split = t.keyof({ train: null, val: null, test: null });
export type Split = t.TypeOf<typeof Split>;

export const ManifestEntry = exactStrict(
  t.intersection([
    t.type({ id: NonEmptyString, conversations: Conversations }),
    t.partial({ video: MediaPath, audio: MediaPath, labels: Labels, split: Split }),
  ]),
  'ManifestEntry',
);
export type ManifestEntry = t.TypeOf<typeof ManifestEntry>;
