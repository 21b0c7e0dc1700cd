/**
 * `omni-emotion data synth --out DIR --n N [--seed S] [--jobs J] ...`: writes the SynthEmo
 * corpus (data/synth). Progress goes to stderr: one updating line on a terminal, a line every
 * ~10% otherwise (logs stay short). The summary line goes to stdout.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { generateSynthEmo, type SynthProgress } from '../../data/synth/index';
import type { SetExit } from './verb';
import { formatSeconds, intArg } from './args';


function numArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  return n;
}


export function progressLine(p: SynthProgress): string {
  return `clip ${p.done}/${p.total}  ${p.clipsPerSecond.toFixed(2)} clips/s  elapsed ${formatSeconds(p.elapsed)}  ETA ${formatSeconds(p.eta)}`;
}

interface SynthFlags {
  out: string;
  n: number;
  seed: number;
  jobs?: number;
  size: number;
  fps: number;
  seconds: number;
}

export function registerData(program: Command, setExit: SetExit): void {
  const data = program.command('data').summary('make and inspect datasets');
  data
    .command('synth')
    .summary('generate the SynthEmo corpus: synthetic face + voice clips and a JSONL manifest')
    .requiredOption('--out <dir>', 'output folder (clips/, manifest.jsonl, synthemo.json)')
    .requiredOption('--n <count>', 'number of clips', intArg(1, true))
    .option('--seed <seed>', 'seed: the same seed gives the same corpus', intArg(0, true), 0)
    .option('--jobs <count>', 'clips made at once (default: number of cores)', intArg(1, true))
    .option('--size <pixels>', 'frame width and height', intArg(16, true), 224)
    .option('--fps <rate>', 'frames per second', numArg, 10)
    .option('--seconds <length>', 'clip length', numArg, 3)
    .action(async (o: SynthFlags) => {
      const tty = process.stderr.isTTY === true;
      let lastShown = 0;
      const onProgress = (p: SynthProgress) => {
        if (tty) process.stderr.write(`\r${progressLine(p)}\x1b[K`);
        else if (p.done === p.total || p.done - lastShown >= Math.max(1, Math.ceil(p.total / 10))) {
          lastShown = p.done;
          process.stderr.write(`${progressLine(p)}\n`);
        }
      };
      const r = await generateSynthEmo({
        out: o.out, n: o.n, seed: o.seed, jobs: o.jobs, width: o.size, height: o.size, fps: o.fps, seconds: o.seconds, onProgress,
      });
      if (tty) process.stderr.write('\n');
      process.stdout.write(`wrote ${r.entries.length} clips and ${r.manifest} in ${r.seconds.toFixed(1)}s (${r.clipsPerSecond.toFixed(2)} clips/s)\n`);
      setExit(0);
    });
}
