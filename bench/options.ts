/**
 * The options of `omni-emotion bench` and `npm run bench`, defined once. Light on purpose: the
 * CLI loads this file at start-up and the bench itself (bench/run.ts) only when the verb runs.
 */
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { PEERS } from './types';
import type { PeerName } from './types';

/**
 * `runs` timed calls per contestant at least; more, up to `maxRuns`, while the row's slowest
 * contestant's calls fit in ROW_SECONDS. Medians of 5 moved by a third between runs on this
 * machine (the MLP step: 6.0 to 9.1 ms while TF.js stayed at 33; matmul 1024: 32 to 42 ms), which
 * a few calls in a noisy phase decide; the quick rows cost a second or two more each.
 */
export const BENCH_DEFAULTS = { runs: 5, maxRuns: 21, warmup: 2, budgetSeconds: 30 } as const;
export const ROW_SECONDS = 3;

export interface BenchCliOptions {
  json?: string;
  filter?: string[];
  runs?: number;
  maxRuns?: number;
  warmup?: number;
  peers?: PeerName[];
  budget?: number;
  list?: boolean;
  /** print every timed call of every row on stderr */
  trace?: boolean;
  /** false (--single-width): no second pass of the peers at llvmpipe's other vector width */
  otherWidth?: boolean;
}

const wholeNumber = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

const atLeastOne = (v: string) => {
  const n = wholeNumber(v);
  if (n < 1) throw new InvalidArgumentError('expected at least 1');
  return n;
};

const peerList = (v: string): PeerName[] => {
  if (v === 'none') return [];
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!(PEERS as readonly string[]).includes(n)) throw new InvalidArgumentError(`unknown peer '${n}'; expected some of ${PEERS.join(', ')}, or none`);
  return names as PeerName[];
};

export function benchCommand(cmd: Command): Command {
  return cmd
    .option('--json <file>', 'also write the results as a JSON array of rows')
    .option('--filter <words...>', 'run only the rows whose name contains one of the words; a quoted "w1 w2" needs both (e.g. matmul softmax, "f32 1024")')
    .option('--runs <n>', `timed calls per contestant, at least (default ${BENCH_DEFAULTS.runs})`, atLeastOne)
    .option('--max-runs <n>', `more timed calls than --runs, up to this many, while the slowest contestant's fit in ${ROW_SECONDS} s (default ${BENCH_DEFAULTS.maxRuns})`, atLeastOne)
    .option('--warmup <n>', `warm-up calls per contestant, the same for all (default ${BENCH_DEFAULTS.warmup})`, wholeNumber)
    .option('--peers <list>', `comma-separated peers (default ${PEERS.join(',')}); 'none' for ours only`, peerList)
    .option('--budget <seconds>', `per contestant and row: fewer calls when one call is slow (default ${BENCH_DEFAULTS.budgetSeconds})`, atLeastOne)
    .option('--no-other-width', 'on llvmpipe at 512-bit vectors, skip the second pass that times every contestant at 256 bits (each peer is reported at its faster width)')
    .option('--trace', 'print every timed call of every contestant, in order, on stderr (a slow phase of the machine, or a neighbour that slows the call after it, shows there)')
    .option('--list', 'print the row names and exit');
}
