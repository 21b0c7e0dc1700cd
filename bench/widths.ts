/**
 * The bench at llvmpipe's two vector widths. Mesa fixes the width when the driver starts, so
 * after the rows ran at 512 bits (the bench's default on CPUs with AVX-512) they run again in a
 * child process at 256 bits, and every contestant is reported at its faster width: TF.js's and
 * jax-js's kernels, written for other subgroup sizes, and our memory-bound row kernels run
 * faster at 256, our texture matmuls at 512.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envForWidth } from '../runtime/vector-width';
import type { VectorWidth } from '../runtime/vector-width';
import type { Result } from './types';

const log = (s: string) => process.stderr.write(`${s}\n`);
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
/** the CLI's executable, which the second pass runs */
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'bin.js');

export interface PassOptions {
  readonly filter?: readonly string[];
  readonly runs: number;
  readonly maxRuns: number;
  readonly warmup: number;
  readonly budgetSeconds: number;
  readonly peers: readonly string[];
  readonly trace?: boolean;
}

/**
 * The same rows in a child process whose llvmpipe runs `width`-bit vectors (Mesa fixes the
 * width when the driver starts, so it takes another process); undefined when it fails.
 */
export async function otherWidthPass(o: PassOptions, width: VectorWidth): Promise<Result[] | undefined> {
  const got = await childPass(o, envForWidth(width), `the same rows again at ${width}-bit vectors`);
  if (!got.ok) log(`bench: the ${width}-bit pass failed (${got.error}); peers are reported at this process's width only`);
  return got.ok ? got.rows : undefined;
}

/** `o`'s rows run by `omni-emotion bench --no-other-width` in a child process with this environment. */
export async function childPass(o: PassOptions, env: NodeJS.ProcessEnv, what: string): Promise<{ ok: true; rows: Result[] } | { ok: false; error: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'omni-bench-'));
  const json = join(dir, 'rows.json');
  const args = [BIN, 'bench', '--no-other-width', '--json', json, '--runs', String(o.runs), '--max-runs', String(o.maxRuns), '--warmup', String(o.warmup), '--budget', String(o.budgetSeconds), '--peers', o.peers.join(',') || 'none'];
  if (o.trace) args.push('--trace');
  if (o.filter?.length) args.push('--filter', ...o.filter);
  log(`bench: ${what} (a child process)`);
  const code = await new Promise<number | null>((done) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', done);
    child.on('error', () => done(null));
  });
  try {
    if (code !== 0) throw new Error(`exit code ${code}`);
    return { ok: true, rows: JSON.parse(readFileSync(json, 'utf8')) as Result[] };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A result's fields for each side of the comparison. */
const SIDES = [
  { who: 'ours', ms: 'ours_ms', gflops: 'ours_gflops', error: 'ours_error' },
  { who: 'peer', ms: 'peer_ms', gflops: 'peer_gflops', error: 'error' },
] as const;

/**
 * Every contestant, ours too, at the faster of its two widths, row by row (Mesa runs one width
 * per process, so no single process gets both; the row's notes say which width each figure is
 * from and the other figure). The speed-up is recomputed; equal only when both passes found the
 * outputs equal, the larger difference kept.
 */
export function bestWidth(results: Result[], other: readonly Result[], width: number, otherWidth: number): void {
  const pick = (mine: number | null, theirs: number | null) => theirs !== null && (mine === null || theirs < mine);
  const which = (who: string, took: boolean, mine: number | null, theirs: number | null) =>
    took ? `${who} at ${otherWidth} bits${mine === null ? '' : ` (${fmt(mine)} ms at ${width})`}` : theirs === null ? '' : `${who} at ${width} bits (${fmt(theirs)} ms at ${otherWidth})`;
  for (const r of results) {
    const o = other.find((x) => x.name === r.name && x.peer === r.peer);
    if (!o) continue;
    const notes = [r.note];
    for (const side of r.peer ? SIDES : SIDES.slice(0, 1)) {
      const took = pick(r[side.ms], o[side.ms]);
      notes.push(which(side.who, took, r[side.ms], o[side.ms]));
      if (took) {
        r[side.ms] = o[side.ms];
        r[side.gflops] = o[side.gflops];
        delete r[side.error];
      }
    }
    if (o.max_rel_diff !== null) {
      r.max_rel_diff = Math.max(r.max_rel_diff ?? 0, o.max_rel_diff);
      r.equal = r.equal !== false && o.equal !== false;
    }
    r.speedup = r.peer_ms !== null && r.ours_ms !== null ? r.peer_ms / r.ours_ms : null;
    const note = notes.filter(Boolean).join('; ');
    if (note) r.note = note;
  }
}
