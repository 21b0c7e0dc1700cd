/**
 * The autotuner's measured kernel choices (see autotune.ts): one JSON file per adapter, under
 * $OMNI_TUNE_DIR, else $XDG_CACHE_HOME/omni-emotion/autotune, else ~/.cache/omni-emotion/autotune.
 * A choice measured on one adapter says nothing about another, so the file is named after the
 * adapter's vendor, architecture, device and driver description. OMNI_AUTOTUNE=0 ignores the
 * files (every kernel takes its fallback), OMNI_AUTOTUNE=1 measures what is missing at compile.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either';

const Entry = t.type({
  /** the variant that ran fastest */
  choice: t.string,
  /** median ms of every variant measured */
  ms: t.record(t.string, t.number),
  /** ISO date of the measurement */
  measured: t.string,
});
const TableFile = t.type({ adapter: t.string, entries: t.record(t.string, Entry) });
export type TuneEntry = t.TypeOf<typeof Entry>;

export class TuneFileError extends Error {
  override name = 'TuneFileError';
}

export interface AdapterDescription {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
}

export const adapterName = (a: AdapterDescription) => [a.vendor, a.architecture, a.device, a.description].map((s) => s || '-').join(' / ');

export function tuneDir(): string {
  if (process.env.OMNI_TUNE_DIR) return process.env.OMNI_TUNE_DIR;
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'omni-emotion', 'autotune');
}

export function tuneFile(a: AdapterDescription): string {
  const name = adapterName(a);
  const slug = (a.device || a.description || 'adapter').toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40);
  return path.join(tuneDir(), `${slug}-${createHash('sha256').update(name).digest('hex').slice(0, 12)}.json`);
}

/** 'off': ignore measurements; 'use': take them; 'measure': take them and measure what is missing */
export function tuneMode(): 'off' | 'use' | 'measure' {
  const v = (process.env.OMNI_AUTOTUNE ?? '').toLowerCase();
  return v === '0' || v === 'off' ? 'off' : v === '1' || v === 'on' ? 'measure' : 'use';
}

const tables = new Map<string, Map<string, TuneEntry>>();
let generation = 0;

/** Changes whenever a measurement is recorded: compiled executables cached before are stale. */
export const tuneGeneration = () => generation;

function readTable(file: string): Map<string, TuneEntry> {
  if (!fs.existsSync(file)) return new Map();
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TuneFileError(`${file}: not readable JSON (${(e as Error).message}); delete it to measure again`);
  }
  const decoded = TableFile.decode(raw);
  if (isLeft(decoded)) {
    const { context, value } = decoded.left[0]!;
    const at = context
      .slice(1)
      .map((c) => c.key)
      .join('.');
    throw new TuneFileError(`${file}: field '${at}' is ${JSON.stringify(value)}, expected ${context[context.length - 1]!.type.name}; delete the file to measure again`);
  }
  return new Map(Object.entries(decoded.right.entries));
}

export function loadTable(a: AdapterDescription): Map<string, TuneEntry> {
  const file = tuneFile(a);
  let table = tables.get(file);
  if (!table) tables.set(file, (table = readTable(file)));
  return table;
}

/** Drops the tables read so far (tests that write files behind the cache's back). */
export function forgetTables(): void {
  tables.clear();
  generation++;
}

/** The lookup kernels consult (undefined when measurements are switched off). */
export function tunedChoices(a: AdapterDescription): ((key: string) => string | undefined) | undefined {
  if (tuneMode() === 'off') return undefined;
  const table = loadTable(a);
  return (key) => table.get(key)?.choice;
}

/** Adds a measurement and rewrites the adapter's file (temporary file, then rename). */
export function recordChoice(a: AdapterDescription, key: string, entry: TuneEntry): void {
  const file = tuneFile(a);
  const table = loadTable(a);
  table.set(key, entry);
  generation++;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const body = { adapter: adapterName(a), entries: Object.fromEntries([...table].sort(([x], [y]) => (x < y ? -1 : 1))) };
  fs.writeFileSync(tmp, `${JSON.stringify(body, null, 1)}\n`);
  fs.renameSync(tmp, file);
}
