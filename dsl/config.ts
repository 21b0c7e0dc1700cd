/**
 * io-ts helpers for the configs we read. A config that does not decode becomes one ConfigError
 * whose message names every failing field by its path (`vision_config.depths[2]`), what was
 * expected in words and what was found, so the user can fix the file without reading our code.
 *
 * Hugging Face configs are decoded leniently (plain `t.type`: unknown fields are kept, and
 * ignored); configs of our own use `exactStrict`, where an unknown field is an error (usually
 * a typo that would otherwise silently fall back to a default).
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either';
import { readFile } from 'node:fs/promises';

export interface ConfigIssue {
  /** dotted/indexed path from the root, '' for the root itself */
  readonly path: string;
  readonly expected: string;
  readonly actual: unknown;
  readonly message: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly file?: string;
  /** the first failing field; all of them are in `issues` */
  readonly path: string;
  readonly expected: string;
  readonly actual: unknown;
  readonly issues: readonly ConfigIssue[];
  constructor(message: string, details: { file?: string; issues: readonly ConfigIssue[] }) {
    super(message);
    this.file = details.file;
    this.issues = details.issues;
    const first = details.issues[0];
    this.path = first?.path ?? '';
    this.expected = first?.expected ?? '';
    this.actual = first?.actual;
  }
}

// ---------------------------------------------------------------------------------------------
// Readable names for what a codec expects

const descriptions = new WeakMap<t.Decoder<unknown, unknown>, string>();
/** Our own wrapper codecs -> the codec they validate with (see `structural`). */
const wrapped = new WeakMap<t.Decoder<unknown, unknown>, t.Decoder<unknown, unknown>>();

/** Gives a codec the words used for it in error messages ("a positive integer"). */
export function described<C extends t.Decoder<unknown, unknown>>(codec: C, description: string): C {
  descriptions.set(codec, description);
  return codec;
}

type Tagged = t.Decoder<unknown, unknown> & {
  _tag?: string;
  type?: t.Decoder<unknown, unknown>;
  types?: t.Decoder<unknown, unknown>[];
  value?: unknown;
  keys?: object;
};

export function describe(codec: t.Decoder<unknown, unknown>): string {
  const known = descriptions.get(codec);
  if (known !== undefined) return known;
  const c = codec as Tagged;
  switch (c._tag) {
    case 'NumberType': return 'a number';
    case 'StringType': return 'a string';
    case 'BooleanType': return 'a boolean';
    case 'NullType': return 'null';
    case 'LiteralType': return JSON.stringify(c.value);
    case 'KeyofType': return Object.keys(c.keys ?? {}).map((k) => JSON.stringify(k)).join(' or ');
    case 'UnionType': return [...new Set((c.types ?? []).map(describe))].join(' or ');
    case 'ArrayType':
    case 'ReadonlyArrayType': return 'an array';
    case 'TupleType': return `an array of ${c.types?.length} items`;
    case 'InterfaceType':
    case 'PartialType':
    case 'StrictType':
    case 'ExactType':
    case 'DictionaryType':
    case 'IntersectionType': return 'an object';
    case 'RefinementType': return c.name === 'Int' ? 'an integer' : c.name;
    default: return c.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Reusable codecs

export interface PositiveIntBrand { readonly PositiveInt: unique symbol }
export const PositiveInt = described(
  t.brand(t.Int, (n): n is t.Branded<t.Int, PositiveIntBrand> => n > 0, 'PositiveInt'),
  'a positive integer',
);
export type PositiveInt = t.TypeOf<typeof PositiveInt>;

export interface NonNegativeIntBrand { readonly NonNegativeInt: unique symbol }
export const NonNegativeInt = described(
  t.brand(t.Int, (n): n is t.Branded<t.Int, NonNegativeIntBrand> => n >= 0, 'NonNegativeInt'),
  'a non-negative integer',
);
export type NonNegativeInt = t.TypeOf<typeof NonNegativeInt>;

export interface PositiveNumberBrand { readonly PositiveNumber: unique symbol }
export const PositiveNumber = described(
  t.brand(t.number, (n): n is t.Branded<number, PositiveNumberBrand> => Number.isFinite(n) && n > 0, 'PositiveNumber'),
  'a positive number',
);
export type PositiveNumber = t.TypeOf<typeof PositiveNumber>;

export interface ProbabilityBrand { readonly Probability: unique symbol }
export const Probability = described(
  t.brand(t.number, (n): n is t.Branded<number, ProbabilityBrand> => n >= 0 && n <= 1, 'Probability'),
  'a probability in [0, 1]',
);
export type Probability = t.TypeOf<typeof Probability>;

function isRecord(u: unknown): u is Record<string, unknown> {
  return typeof u === 'object' && u !== null && !Array.isArray(u);
}

/**
 * Fills fields that are missing (or undefined) from `defaults` before decoding with `codec`,
 * so the decoded type has every field. Defaults are plain values (`{ dropout: 0.1 }`, no brand
 * casts) because they are decoded with the rest. To combine with exactStrict, wrap it:
 * `withDefaults(exactStrict(t.type({...})), {...})`.
 */
export function withDefaults<C extends t.Mixed>(codec: C, defaults: Partial<t.OutputOf<C>>, name = codec.name): t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown> {
  const type = new t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown>(
    name,
    codec.is,
    (u, c) => {
      if (!isRecord(u)) return codec.validate(u, c);
      const filled: Record<string, unknown> = { ...u };
      for (const [k, v] of Object.entries(defaults as object)) {
        // A copy, so that a caller mutating its decoded config cannot change the defaults.
        if (filled[k] === undefined) filled[k] = structuredClone(v);
      }
      return codec.validate(filled, c);
    },
    codec.encode,
  );
  wrapped.set(type, codec);
  return described(type, describe(codec));
}

/** Marks an unknown key in a context; formatIssues reports it as "unknown field". */
const UnknownField = new t.Type<never>('UnknownField', (_): _ is never => false, (u, c) => t.failure(u, c), () => {
  throw new Error('UnknownField has no values');
});

function propsOf(codec: t.HasProps): t.Props {
  switch (codec._tag) {
    case 'RefinementType':
    case 'ReadonlyType': return propsOf(codec.type);
    case 'InterfaceType':
    case 'StrictType':
    case 'PartialType': return codec.props;
    case 'IntersectionType': return Object.assign({}, ...codec.types.map(propsOf));
  }
}

/** Like `t.exact`, but an unknown key is a decoding error (reported by its path) rather than
 * being dropped. Nest it at every level that should be strict. */
export function exactStrict<C extends t.HasProps>(codec: C, name = codec.name): t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown> {
  const exact = t.exact(codec);
  const known = new Set(Object.keys(propsOf(codec)));
  const type = new t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown>(
    name,
    (u): u is t.TypeOf<C> => exact.is(u) && Object.keys(u as object).every((k) => known.has(k)),
    (u, c) => {
      const result = exact.validate(u, c);
      if (!isRecord(u)) return result;
      const unknownKeys: t.ValidationError[] = Object.keys(u)
        .filter((k) => !known.has(k))
        .map((k) => ({ value: u[k], context: [...c, { key: k, type: UnknownField, actual: u[k] }] }));
      if (unknownKeys.length === 0) return result;
      return t.failures([...(isLeft(result) ? result.left : []), ...unknownKeys]);
    },
    exact.encode,
  );
  wrapped.set(type, exact);
  return described(type, 'an object');
}

// ---------------------------------------------------------------------------------------------
// Errors -> one message

const SKIPS_KEY = new Set(['UnionType', 'IntersectionType']); // their members add a context entry with no field of their own
const INDEXES = new Set(['ArrayType', 'ReadonlyArrayType', 'TupleType']);
const MAX_ISSUES = 20;

/** Wrappers validate their inner codec with the same context, so the codec that added a
 * context entry is its parent entry's codec with the wrappers peeled off. */
function structural(codec: t.Decoder<unknown, unknown>): string {
  for (let c: Tagged | undefined = codec; c !== undefined; ) {
    const inner: t.Decoder<unknown, unknown> | undefined = wrapped.get(c);
    if (inner) c = inner;
    else if (c._tag === 'ExactType' || c._tag === 'RefinementType' || c._tag === 'ReadonlyType' || c._tag === 'RecursiveType') c = c.type;
    else return c._tag ?? '';
  }
  return '';
}

/** The field path of an io-ts context, and the codec that was asked for at that field. */
function locate(context: t.Context): { path: string; type: t.Decoder<unknown, unknown>; unknownKey: boolean } {
  let path = '';
  let type = context[0]?.type ?? t.unknown;
  for (let i = 1; i < context.length; i++) {
    // exactStrict adds unknown keys itself, whatever the codec it wraps
    const parentTag = context[i].type === UnknownField ? '' : structural(context[i - 1].type);
    if (SKIPS_KEY.has(parentTag)) continue;
    const key = context[i].key;
    path += INDEXES.has(parentTag) ? `[${key}]` : path === '' ? key : `.${key}`;
    type = context[i].type;
  }
  return { path, type, unknownKey: type === UnknownField };
}

function show(value: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export function formatIssues(errors: t.Errors): ConfigIssue[] {
  // Group by path, so a union's members read as one "expected A or B".
  const byPath = new Map<string, { path: string; expected: string[]; actual: unknown; unknownKey: boolean; custom?: string }>();
  for (const e of errors) {
    const { path, type, unknownKey } = locate(e.context);
    const id = `${unknownKey ? 'u' : 'f'}:${path}`;
    const entry = byPath.get(id) ?? { path, expected: [], actual: e.value, unknownKey, custom: e.message };
    const expected = describe(type);
    if (!entry.expected.includes(expected)) entry.expected.push(expected);
    byPath.set(id, entry);
  }
  return [...byPath.values()].map(({ path, expected, actual, unknownKey, custom }) => {
    const want = expected.join(' or ');
    const field = `field '${path}'`;
    const message =
      custom !== undefined ? (path ? `${field}: ${custom}` : custom)
      : unknownKey ? `unknown ${field}`
      : actual === undefined ? (path ? `missing ${field} (expected ${want})` : `expected ${want}, got nothing`)
      : `${path ? `${field} expected` : 'expected'} ${want}, got ${show(actual)}`;
    return { path, expected: unknownKey ? 'no such field' : want, actual, message };
  });
}

function decodeWith<A>(codec: t.Type<A, unknown, unknown>, value: unknown, label: string, file?: string): A {
  const result = codec.decode(value);
  if (!isLeft(result)) return result.right;
  const issues = formatIssues(result.left);
  const shown = issues.slice(0, MAX_ISSUES).map((i) => i.message);
  if (issues.length > MAX_ISSUES) shown.push(`and ${issues.length - MAX_ISSUES} more`);
  throw new ConfigError(`${label}: ${shown.join('; ')}`, { file, issues });
}

/** Decodes `value` or throws one ConfigError naming every failing field; `label` starts the
 * message (usually the file name). */
export function decodeOrThrow<A>(codec: t.Type<A, unknown, unknown>, value: unknown, label: string): A {
  return decodeWith(codec, value, label);
}

/** Where in the text a JSON.parse error points, as line:column (Node reports an offset). */
function jsonPosition(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m || /line \d+/.test(message)) return ''; // newer V8 gives the line itself
  const before = text.slice(0, Number(m[1])).split('\n');
  return ` (line ${before.length}, column ${before[before.length - 1].length + 1})`;
}

/** Reads and decodes a JSON config; every failure names the file. */
export async function readJsonConfig<A>(codec: t.Type<A, unknown, unknown>, path: string): Promise<A> {
  const fail = (why: string, expected: string, actual: unknown): never => {
    throw new ConfigError(`${path}: ${why}`, { file: path, issues: [{ path: '', expected, actual, message: why }] });
  };
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a folder, not a file' : err.message;
    fail(`cannot read the config file: ${why}`, 'a readable file', err.code);
  }
  if (text.trim() === '') fail('the file is empty (expected JSON)', 'JSON', text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // V8 quotes the text around the error, newlines included: keep the message on one line.
    const msg = (e as Error).message.replace(/\s*\n\s*/g, ' ');
    fail(`invalid JSON: ${msg}${jsonPosition(text, msg)}`, 'JSON', text.slice(0, 60));
  }
  return decodeWith(codec, value, path, path);
}
