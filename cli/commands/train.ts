/**
 * `omni-emotion train --preset tiny|small|paper --data MANIFEST --stage audio-align|face-align|instruct|all
 *   --out DIR [--resume] [--config FILE] [--steps N] [--batch B] [--backend B] [--json]`:
 * the three Omni-Emotion training stages (models/omni/train/driver.ts): the feature cache of the
 * manifest's train split in DIR/cache, per stage DIR/<stage>/loss.csv and checkpoint.safetensors,
 * DIR/loss.png as training goes, and DIR/model.safetensors (LoRA merged) + DIR/config.json at the
 * end. The run config file (models/omni/train/config.ts) sets lr/steps/epochs per stage, batch
 * size, LoRA rank/alpha or full tuning for instruct, fusion variant, frames and seed.
 * Exit codes: 0 done, 2 bad arguments/config/data, 130 interrupted (checkpoint written; --resume).
 */
import type { Command } from 'commander';
import { UserError } from '../errors';
import { BACKENDS, type BackendName } from '../../runtime/gpu';
import type { SetExit } from './verb';
import { checkBackend, intArg } from './args';

interface Flags {
  preset: string;
  data?: string;
  stage: string;
  out?: string;
  resume?: boolean;
  config?: string;
  steps?: number;
  batch?: number;
  backend?: string;
  json?: boolean;
}


export function registerTrain(program: Command, setExit: SetExit): void {
  program
    .command('train')
    .summary('train Omni-Emotion: audio-align, face-align, instruct (LoRA or full) on a manifest')
    .option('--preset <name>', 'tiny | small | paper', 'tiny')
    .option('--data <manifest>', 'the JSONL manifest (its train split is used; items without a split count as train)')
    .option('--stage <name>', 'audio-align | face-align | instruct | all', 'all')
    .option('--out <dir>', 'the run folder (cache, per-stage CSV and checkpoints, loss.png, model.safetensors, config.json)')
    .option('--resume', 'continue from the last checkpoint of the current stage (finished stages are skipped)')
    .option('--config <file>', 'JSON run config (lr/steps/epochs per stage, batch_size, LoRA, fusion, frames, seed, ...)')
    .option('--steps <n>', 'steps of every stage (overrides the config and the epochs)', intArg(1))
    .option('--batch <n>', 'batch size (overrides the config)', intArg(1))
    .option('--backend <name>', `one of ${BACKENDS.join(', ')}`)
    .option('--json', 'print a JSON summary on stdout at the end')
    .action(async (o: Flags) => {
      if (o.data === undefined) throw new UserError('train: --data MANIFEST is required');
      if (o.out === undefined) throw new UserError('train: --out DIR is required');
      checkBackend(o.backend);
      const { runTraining } = await import('../../models/omni/train/driver');
      const r = await runTraining({
        preset: o.preset, data: o.data, stage: o.stage, out: o.out, resume: o.resume === true, config: o.config,
        steps: o.steps, batch: o.batch, backend: o.backend as BackendName | undefined,
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ out: o.out, interrupted: r.interrupted, model: r.model, plot: r.plot, stages: r.stages.map(({ trainable: _t, ...s }) => s) })}\n`);
      } else {
        for (const s of r.stages) process.stdout.write(`${s.stage}: ${s.status}, ${s.steps} steps, last loss ${Number.isFinite(s.lastLoss) ? s.lastLoss.toFixed(4) : '?'}${s.ran ? `, ${s.secondsPerStep.toFixed(2)} s/step` : ''}\n`);
        process.stdout.write(r.interrupted ? `interrupted: continue with --resume (checkpoints in ${o.out})\n` : `model: ${r.model}  loss plot: ${r.plot}\n`);
      }
      setExit(r.interrupted ? 130 : 0);
    });
}
