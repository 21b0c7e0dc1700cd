/**
 * `npm run bench` / `omni-emotion bench [--json FILE] [--filter WORDS] [--runs N]`: our compiled
 * functions against TensorFlow.js (webgpu), jax-js (webgpu and wasm) and, for the matmul rows,
 * onnxruntime's CPU provider, in one process on the same adapter. How each contestant is timed:
 * timing.ts, ours.ts and the files in peers/.
 */
import { loadTable, tuneMode } from '../runtime/tune-table';
import { Command } from 'commander';
import { BENCH_DEFAULTS, ROW_SECONDS, benchCommand } from './options';
import type { BenchCliOptions } from './options';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpuHasAvx512, vectorWidth } from '../runtime/vector-width';
import { bestWidth, childPass, otherWidthPass } from './widths';
import { getGpu } from '../runtime/gpu';
import { allRows } from './rows';
import { maxRelDiff, median, timeOnce } from './timing';
import { PEERS, PEER_LABEL } from './types';
import type { Case, PeerName, Result, Row } from './types';

export interface BenchOptions {
  /** write the results here as a JSON array of rows */
  readonly json?: string;
  /** run only rows whose name contains one of these words */
  readonly filter?: readonly string[];
  readonly runs: number;
  /** more timed calls than `runs`, up to this many, while the slowest contestant's fit in ROW_SECONDS */
  readonly maxRuns: number;
  readonly warmup: number;
  readonly peers: readonly PeerName[];
  /** a contestant whose warm-up call is slow gets fewer timed calls, to stay near this */
  readonly budgetSeconds: number;
  /** on llvmpipe at 512-bit vectors: time every contestant again at 256 bits in a child process and report each peer at its faster width */
  readonly otherWidth: boolean;
  /** log every timed call */
  readonly trace?: boolean;
}

export const DEFAULTS: BenchOptions = { ...BENCH_DEFAULTS, peers: PEERS, otherWidth: true };

const log = (s: string) => process.stderr.write(`${s}\n`);
const reason = (e: unknown) => {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n').find((l) => l.trim()) ?? msg;
  return line.length > 100 ? `${line.slice(0, 97)}...` : line;
};

/**
 * Rows whose name matches one of the patterns (separate arguments or comma-separated); a pattern
 * of several words matches names that contain all of them: `--filter matmul softmax`,
 * `--filter "f32 1024"`.
 */
export function selectRows(rows: readonly Row[], filter?: readonly string[]): Row[] {
  const patterns = (filter ?? []).flatMap((f) => f.toLowerCase().split(',')).map((p) => p.split(/\s+/).filter(Boolean)).filter((p) => p.length > 0);
  if (patterns.length === 0) return [...rows];
  return rows.filter((r) => patterns.some((words) => words.every((w) => r.name.toLowerCase().includes(w))));
}

interface Contestant {
  readonly label: string;
  case?: Case;
  error?: string;
  times: number[];
  runs: number;
  /** calls made, warm-up ones included */
  calls: number;
  /** the last warm-up call's time */
  warmMs?: number;
  /** its first warm-up call was so slow that the others were skipped */
  warmedOnce?: boolean;
}

/** Timed calls per contestant in a row whose contestants' last warm-up calls took `warmMs`. */
export function rowRuns(o: Pick<BenchOptions, 'runs' | 'maxRuns'>, warmMs: readonly (number | undefined)[]): number {
  if (warmMs.length === 0 || warmMs.some((ms) => ms === undefined)) return o.runs;
  const slowest = Math.max(...(warmMs as number[]));
  return Math.max(o.runs, Math.min(o.maxRuns, Math.floor((ROW_SECONDS * 1000) / Math.max(slowest, 1e-3))));
}

async function runRow(row: Row, o: BenchOptions): Promise<Result[]> {
  const warm = row.warmup ?? o.warmup;
  const contestants: Contestant[] = [];
  const make = async (label: string, factory: (() => Promise<Case>) | string | undefined) => {
    if (factory === undefined) return; // the peer has nothing to say on this row (onnxruntime: matmul only)
    const c: Contestant = { label, times: [], runs: o.runs, calls: 0 };
    contestants.push(c);
    if (typeof factory === 'string') c.error = factory;
    else {
      try {
        c.case = await factory();
      } catch (e) {
        c.error = reason(e);
      }
    }
  };
  await make('ours', row.ours);
  for (const p of o.peers) await make(PEER_LABEL[p], row.peers[p]);
  const live = () => contestants.filter((c) => c.case && !c.error);
  const fail = (c: Contestant, e: unknown) => {
    c.error = reason(e);
    log(`  ${c.label}: ${c.error}`);
  };
  const budget = (c: Contestant, ms: number) => {
    if (ms > 0) c.runs = Math.max(1, Math.min(o.runs, Math.floor((o.budgetSeconds * 1000) / ms)));
  };
  for (const c of live()) {
    try {
      // a contestant whose single call takes half the budget is warm after one call
      for (let i = 0; i < warm; i++) {
        const ms = await timeOnce(c.case!);
        c.calls++;
        c.warmMs = ms;
        budget(c, ms);
        if (ms > (o.budgetSeconds * 1000) / 2) {
          if (i + 1 < warm) c.warmedOnce = true;
          break;
        }
      }
    } catch (e) {
      fail(c, e);
    }
  }
  // a quick row gets more timed calls, every contestant alike
  const runs = rowRuns(o, live().map((c) => c.warmMs));
  for (const c of live()) if (c.runs === o.runs) c.runs = runs;
  // round-robin: a burst of load from elsewhere on the machine hits every contestant alike
  for (let r = 0; r < runs; r++) {
    const order = live();
    for (let i = 0; i < order.length; i++) {
      const c = order[(i + r) % order.length];
      if (c.times.length >= c.runs || c.error) continue;
      try {
        c.times.push(await timeOnce(c.case!));
        c.calls++;
        if (warm === 0 && c.times.length === 1) budget(c, c.times[0]);
      } catch (e) {
        fail(c, e);
      }
    }
  }
  if (o.trace) for (const c of contestants) log(`  ${c.label}: ${c.times.map((t) => fmt(t)).join(' ')}`);
  const outputs = new Map<Contestant, Float32Array>();
  const most = Math.max(0, ...live().map((c) => c.calls));
  for (const c of live()) {
    try {
      // a slow contestant made fewer calls: the same number of steps before the outputs are compared
      if (row.stateful) for (; c.calls < most; c.calls++) await timeOnce(c.case!);
      outputs.set(c, await c.case!.read());
    } catch (e) {
      fail(c, e);
    }
  }
  for (const c of contestants) {
    try {
      await c.case?.dispose();
    } catch {
      /* a failed dispose does not change the figures */
    }
  }
  const gflops = (ms: number | null) => (ms !== null && row.flops ? row.flops / (ms * 1e6) : null);
  const ours = contestants[0];
  const oursMs = ours.error ? null : median(ours.times);
  const oursOut = outputs.get(ours);
  const noteOf = (c: Contestant) =>
    [c.case?.note, c.warmedOnce ? '1 warm-up call (slow)' : undefined, c.runs < runs ? `${c.times.length} timed calls (slow)` : undefined].filter(Boolean).join('; ') || undefined;
  const base = { name: row.name, ours_ms: oursMs, ours_gflops: gflops(oursMs), runs, warmup: warm };
  const peers = contestants.slice(1);
  const oursError = ours.error ? { ours_error: ours.error } : {};
  if (peers.length === 0) return [{ ...base, peer: null, peer_ms: null, peer_gflops: null, speedup: null, max_rel_diff: null, equal: null, note: noteOf(ours), ...oursError }];
  return peers.map((c): Result => {
    const peerMs = c.error ? null : median(c.times);
    const out = outputs.get(c);
    const diff = out && oursOut ? maxRelDiff(oursOut, out) : null;
    const notes = [ours.error ? undefined : noteOf(ours), noteOf(c)].filter(Boolean);
    return {
      ...base,
      peer: c.label,
      peer_ms: peerMs,
      peer_gflops: gflops(peerMs),
      speedup: peerMs !== null && oursMs !== null ? peerMs / oursMs : null,
      max_rel_diff: diff,
      equal: diff === null ? null : diff <= (row.tol ?? 1e-3),
      ...(notes.length ? { note: notes.join('; ') } : {}),
      ...oursError,
      ...(c.error ? { error: c.error } : {}),
    };
  });
}

/** A row ours could not run at all, with no peer figures. */
export const failedRow = (name: string, why: string): Result => ({ name, ours_ms: null, ours_gflops: null, runs: 0, warmup: 0, peer: null, peer_ms: null, peer_gflops: null, speedup: null, max_rel_diff: null, equal: null, ours_error: why });

const fmt = (v: number | null, digits = 1) => (v === null || !Number.isFinite(v) ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(digits));
const fmtDiff = (r: Result) => (r.max_rel_diff === null ? '-' : `${r.max_rel_diff.toExponential(1)}${r.equal ? '' : ' (differs)'}`);

const cell = (s: string) => s.replace(/\|/g, '/').replace(/\n/g, ' ');

export function markdownTable(results: readonly Result[]): string {
  const head = '| row | ours ms | ours GFLOP/s | peer | peer ms | peer GFLOP/s | speed-up | max rel diff | notes |\n|---|---:|---:|---|---:|---:|---:|---:|---|\n';
  return (
    head +
    results
      .map((r) => {
        const peerMs = r.peer_ms === null && r.peer ? `n/a (${r.error ?? 'failed'})` : fmt(r.peer_ms);
        const oursMs = r.ours_ms === null ? `n/a (${r.ours_error ?? 'failed'})` : fmt(r.ours_ms);
        const speed = r.speedup === null ? '-' : `${r.speedup.toFixed(2)}x`;
        return `| ${cell(r.name)} | ${cell(oursMs)} | ${fmt(r.ours_gflops)} | ${r.peer ?? '-'} | ${cell(peerMs)} | ${fmt(r.peer_gflops)} | ${speed} | ${fmtDiff(r)} | ${cell(r.note ?? '')} |`;
      })
      .join('\n') +
    '\n'
  );
}

export async function runBench(opts: Partial<BenchOptions> = {}): Promise<Result[]> {
  const o: BenchOptions = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  const rows = selectRows(allRows(), o.filter);
  if (rows.length === 0) throw new Error(`no bench row matches ${JSON.stringify(o.filter)}; rows: ${allRows().map((r) => r.name).join(', ')}`);
  // the cold-compile rows need Mesa's shader cache off, which Mesa reads when the driver starts:
  // beside other rows they run in a child process, so the other rows run with the cache a user has
  const cold = rows.filter((r) => r.coldShaderCache);
  const coldInChild = cold.length > 0 && cold.length < rows.length && !process.env.MESA_SHADER_CACHE_DISABLE;
  if (cold.length > 0 && !coldInChild) process.env.MESA_SHADER_CACHE_DISABLE ??= 'true';
  const here = coldInChild ? rows.filter((r) => !r.coldShaderCache) : rows;
  // steady-state speed: llvmpipe at 512-bit vectors where the CPU has them (the runtime's default
  // stays 256 for its compile times, see runtime/vector-width.ts); every contestant is timed
  // again at 256 bits below
  if (!process.env.OMNI_VECTOR_WIDTH && !process.env.LP_NATIVE_VECTOR_WIDTH && cpuHasAvx512()) process.env.OMNI_VECTOR_WIDTH = '512';
  const gpu = await getGpu();
  const info = gpu.adapterInfo;
  const load0 = loadavg()[0];
  const started = new Date();
  log(`bench: ${rows.length} rows, ${o.warmup} warm-up + ${o.runs} to ${Math.max(o.runs, o.maxRuns)} timed calls each, peers: ${o.peers.join(', ') || 'none'}`);
  const byRow = new Map<string, Result[]>();
  for (const row of here) {
    log(`- ${row.name}`);
    const t0 = performance.now();
    const rs = await runRow(row, o);
    byRow.set(row.name, rs);
    const peers = rs.filter((r) => r.peer).map((r) => `${r.peer} ${r.peer_ms === null ? 'n/a' : `${fmt(r.peer_ms)} ms`}`);
    log(`  ours ${rs[0].ours_ms === null ? 'n/a' : `${fmt(rs[0].ours_ms)} ms`}${peers.length ? `; ${peers.join(', ')}` : ''} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  if (coldInChild) {
    const got = await childPass({ ...o, filter: cold.map((r) => r.name) }, { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true' }, 'the cold-compile rows with the shader cache off');
    // a failed child costs those rows only: the table says so and keeps every other row's figures
    if (!got.ok) log(`bench: the cold-compile rows failed in their process (${got.error})`);
    const coldRows: Result[] = got.ok ? got.rows : cold.map((r) => failedRow(r.name, `its process failed: ${got.error}`));
    for (const r of coldRows) byRow.set(r.name, [...(byRow.get(r.name) ?? []), r]);
  }
  const results = rows.flatMap((r) => byRow.get(r.name) ?? []);
  const width = vectorWidth();
  const cpuLike = gpu.traits.cpuLike;
  const second = cpuLike && width === 512 && o.otherWidth && o.peers.length > 0 ? await otherWidthPass(o, 256) : undefined;
  if (second) bestWidth(results, second, width, 256);
  const widths = !cpuLike
    ? ''
    : second
      ? `llvmpipe runs one vector width per process: every row ran at ${width}-bit vectors (16-lane subgroups, OMNI_VECTOR_WIDTH=512, the bench's default on CPUs with AVX-512; the runtime's default is 256) and again at 256 bits in a second process; each contestant, ours too, is shown at its faster width for the row, the notes give both figures. `
      : `llvmpipe at ${width}-bit vectors for every contestant. `;
  const out =
    `## omni-emotion bench, ${started.toISOString()}\n\n` +
    `Adapter: ${[info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ')}; Node ${process.version}. ${widths}` +
    `Median of ${o.runs} timed calls, or more (up to ${Math.max(o.runs, o.maxRuns)}) while the row's slowest contestant's calls fit in ${ROW_SECONDS} s, after ${o.warmup} warm-up calls (the compile row: none), the same for every contestant, timed round-robin; each call is op + submit + wait for the queue, readback excluded. ` +
    `speed-up = peer ms / ours ms; max rel diff = max |ours - peer| / max |peer|. Load average ${load0.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end. ` +
    `Kernel choices: ${tuneMode() === 'off' ? 'the fallbacks (OMNI_AUTOTUNE=0)' : `${loadTable(info).size} measured by the autotuner on this adapter, the fallbacks elsewhere`}.\n\n` +
    markdownTable(results);
  process.stdout.write(out);
  if (o.json) writeFileSync(o.json, `${JSON.stringify(results, null, 2)}\n`);
  return results;
}

// ------------------------------------------------------------------ command line
export async function benchFromCli(opts: BenchCliOptions): Promise<number> {
  if (opts.list) {
    process.stdout.write(`${selectRows(allRows(), opts.filter).map((r) => r.name).join('\n')}\n`);
    return 0;
  }
  await runBench({ json: opts.json, filter: opts.filter, runs: opts.runs, maxRuns: opts.maxRuns, warmup: opts.warmup, peers: opts.peers, budgetSeconds: opts.budget, otherWidth: opts.otherWidth, trace: opts.trace });
  return 0;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const program = benchCommand(new Command('bench').description('our compiled kernels against TF.js, jax-js and onnxruntime on this adapter'));
  let code = 1;
  try {
    program.parse(process.argv);
    code = await benchFromCli(program.opts<BenchCliOptions>());
  } catch (e) {
    process.stderr.write(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  }
  // Dawn keeps native threads alive: end the process explicitly once the output is out
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
