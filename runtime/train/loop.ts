/**
 * The training loop: data -> compiled step -> metrics. Prints progress (step, loss, learning
 * rate, samples/s, ETA), says so when a step is skipped for non-finite values, appends a CSV
 * row per step, checkpoints periodically, and on SIGINT/SIGTERM finishes the current step,
 * writes a checkpoint and returns.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Trainer, StepResult } from './trainer';
import { saveCheckpoint } from './checkpoint';

export interface LoopOptions {
  readonly steps: number;
  /** the batch (or micro-batches) for a 0-based step */
  readonly data: (step: number) => unknown | Promise<unknown>;
  readonly samplesPerStep?: number;
  readonly logEvery?: number;
  readonly csv?: string;
  readonly checkpoint?: { readonly path: string; readonly every?: number; readonly config?: unknown };
  readonly log?: (line: string) => void;
  readonly onStep?: (r: StepResult) => void;
  /** handle SIGINT/SIGTERM by checkpointing (default true when a checkpoint path is set) */
  readonly handleSignals?: boolean;
}

export interface LoopSummary {
  readonly steps: number;
  readonly lastLoss: number;
  readonly skipped: number;
  readonly seconds: number;
  readonly interrupted: boolean;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

export async function trainLoop(trainer: Trainer, o: LoopOptions): Promise<LoopSummary> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const every = o.logEvery ?? 10;
  if (o.csv) {
    mkdirSync(dirname(o.csv), { recursive: true });
    if (trainer.state.step === 0) writeFileSync(o.csv, 'step,loss,grad_norm,lr,skipped,loss_scale,seconds\n');
  }
  let stop = false;
  const onSignal = (sig: string) => {
    log(`received ${sig}: finishing this step${o.checkpoint ? ' and writing a checkpoint' : ''}`);
    stop = true;
  };
  const signals = (o.handleSignals ?? !!o.checkpoint) ? (['SIGINT', 'SIGTERM'] as const) : [];
  for (const s of signals) process.on(s, onSignal);
  const t0 = performance.now();
  const start = trainer.state.step;
  let last: StepResult | undefined;
  try {
    while (trainer.state.step < o.steps && !stop) {
      const step = trainer.state.step;
      const r = await trainer.step(await o.data(step));
      last = r;
      o.onStep?.(r);
      const secs = (performance.now() - t0) / 1000;
      if (o.csv) appendFileSync(o.csv, `${r.step},${r.loss},${r.gradNorm},${r.lr},${r.skipped ? 1 : 0},${r.lossScale},${secs.toFixed(3)}\n`);
      if (r.skipped) log(`step ${r.step}: loss or gradients not finite (loss ${r.loss}); update skipped (${trainer.state.skipped} skipped so far)`);
      const done = r.step - start;
      if (r.step % every === 0 || r.step === o.steps) {
        const rate = done / secs;
        const samples = o.samplesPerStep ? `  ${(rate * o.samplesPerStep).toFixed(1)} samples/s` : `  ${rate.toFixed(2)} steps/s`;
        log(`step ${r.step}/${o.steps}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}${samples}  ETA ${formatDuration((o.steps - r.step) / rate)}`);
      }
      if (o.checkpoint?.every && r.step % o.checkpoint.every === 0) await saveCheckpoint(trainer, o.checkpoint.path, o.checkpoint.config);
    }
    if (o.checkpoint && (stop || trainer.state.step === o.steps)) await saveCheckpoint(trainer, o.checkpoint.path, o.checkpoint.config);
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
  return { steps: trainer.state.step, lastLoss: last?.loss ?? NaN, skipped: trainer.state.skipped, seconds: (performance.now() - t0) / 1000, interrupted: stop };
}
