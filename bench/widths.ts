/**
 * The bench at llvmpipe's two vector widths. Mesa fixes the width when the driver starts, so at
 * 512 bits (what our runtime asks for on CPUs with AVX-512) the same rows run again in a child
 * process at 256 bits, and each peer, whose kernels are written for 8-lane subgroups or none,
 * is reported at its faster width.
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
  readonly warmup: number;
  readonly budgetSeconds: number;
  readonly peers: readonly string[];
}

/**
 * The same rows in a child process whose llvmpipe runs `width`-bit vectors (Mesa fixes the
 * width when the driver starts, so it takes another process); undefined when it fails.
 */
export async function otherWidthPass(o: PassOptions, width: VectorWidth): Promise<Result[] | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'omni-bench-'));
  const json = join(dir, 'rows.json');
  const args = [BIN, 'bench', '--no-other-width', '--json', json, '--runs', String(o.runs), '--warmup', String(o.warmup), '--budget', String(o.budgetSeconds), '--peers', o.peers.join(',')];
  if (o.filter?.length) args.push('--filter', ...o.filter);
  log(`bench: the same rows again at ${width}-bit vectors (a second process)`);
  const code = await new Promise<number | null>((done) => {
    const child = spawn(process.execPath, args, { env: envForWidth(width), stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', done);
    child.on('error', () => done(null));
  });
  try {
    if (code !== 0) throw new Error(`exit code ${code}`);
    return JSON.parse(readFileSync(json, 'utf8')) as Result[];
  } catch (e) {
    log(`bench: the ${width}-bit pass failed (${e instanceof Error ? e.message : String(e)}); peers are reported at this process's width only`);
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Each peer's figure becomes the faster of its two widths' (speed-up recomputed against ours at
 * `width`); the notes keep the other figure and ours at the other width.
 */
export function bestWidth(results: Result[], other: readonly Result[], width: number, otherWidth: number): void {
  for (const r of results) {
    const o = other.find((x) => x.name === r.name && x.peer === r.peer);
    if (!o) continue;
    const notes = [r.note];
    if (r.peer && o.peer_ms !== null && (r.peer_ms === null || o.peer_ms < r.peer_ms)) {
      notes.push(`peer at ${otherWidth} bits${r.peer_ms === null ? '' : ` (${fmt(r.peer_ms)} ms at ${width})`}`);
      r.peer_ms = o.peer_ms;
      r.peer_gflops = o.peer_gflops;
      delete r.error;
    } else if (r.peer && o.peer_ms !== null) notes.push(`peer at ${width} bits (${fmt(o.peer_ms)} ms at ${otherWidth})`);
    if (o.ours_ms !== null) notes.push(`ours at ${otherWidth} bits ${fmt(o.ours_ms)} ms`);
    r.speedup = r.peer_ms !== null && r.ours_ms !== null ? r.peer_ms / r.ours_ms : null;
    const note = notes.filter(Boolean).join('; ');
    if (note) r.note = note;
  }
}
