/**
 * Reading a JSONL manifest line by line (a stream: manifests can be large). Every bad line is
 * reported with its line number and the failing field, all of them at once, so a user fixes
 * the file in one pass; `onBadLine: 'skip'` keeps the good lines and returns the issues.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigError, decodeOrThrow } from '../../dsl/config';
import { UserError } from '../../cli/errors';
import { ManifestEntry } from './schema';

export interface ManifestIssue {
  /** 1-based line number */
  line: number;
  /** the failing field's path ('' for the whole line) */
  field: string;
  message: string;
}

export interface ManifestItem {
  line: number;
  entry: ManifestEntry;
  /** absolute media paths (resolved against the manifest's folder) */
  video?: string;
  audio?: string;
}

export interface Manifest {
  file: string;
  dir: string;
  items: ManifestItem[];
  issues: ManifestIssue[];
}

const SHOWN = 10;

/** Thrown (in 'throw' mode) when any line is bad; `issues` holds all of them. Named UserError
 * so the CLI prints it as one line with exit code 2. */
export class ManifestError extends UserError {
  constructor(
    readonly file: string,
    readonly issues: ManifestIssue[],
  ) {
    const shown = issues.slice(0, SHOWN).map((i) => `line ${i.line}: ${i.message}`);
    if (issues.length > SHOWN) shown.push(`and ${issues.length - SHOWN} more`);
    const lines = new Set(issues.map((i) => i.line)).size;
    super(`${file}: ${lines} bad line${lines === 1 ? '' : 's'}: ${shown.join('; ')}`);
  }
}

/** Decodes one line; issues carry the field path that decodeOrThrow found. */
export function parseManifestLine(text: string, line: number): ManifestEntry | ManifestIssue[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return [{ line, field: '', message: `invalid JSON: ${(e as Error).message.replace(/\s*\n\s*/g, ' ')}` }];
  }
  try {
    return decodeOrThrow(ManifestEntry, value, `line ${line}`);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => ({ line, field: i.path, message: i.message }));
  }
}

export async function readManifest(file: string, opts: { onBadLine?: 'throw' | 'skip' } = {}): Promise<Manifest> {
  try {
    if (!(await stat(file)).isFile()) throw new UserError(`${file}: is not a manifest file (a folder?)`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${file}: no such manifest file`);
  }
  const dir = dirname(resolve(file));
  const items: ManifestItem[] = [];
  const issues: ManifestIssue[] = [];
  const seen = new Map<string, number>();
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() === '') continue; // blank lines (e.g. a trailing newline) are allowed
    const r = parseManifestLine(text, n);
    if (Array.isArray(r)) {
      issues.push(...r);
      continue;
    }
    const first = seen.get(r.id);
    if (first !== undefined) {
      issues.push({ line: n, field: 'id', message: `field 'id': "${r.id}" was already used on line ${first}` });
      continue;
    }
    seen.set(r.id, n);
    items.push({
      line: n,
      entry: r,
      ...(r.video !== undefined ? { video: resolve(dir, r.video) } : {}),
      ...(r.audio !== undefined ? { audio: resolve(dir, r.audio) } : {}),
    });
  }
  if (items.length === 0 && issues.length === 0) issues.push({ line: 0, field: '', message: 'the manifest has no entries' });
  if (issues.length > 0 && opts.onBadLine !== 'skip') throw new ManifestError(file, issues);
  return { file, dir, items, issues };
}
