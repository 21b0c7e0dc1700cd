/**
 * `omni-emotion eval --task synthemo|emer-ov|emer|dfew|mafw --data MANIFEST --checkpoint DIR
 *   [--split test] [--json FILE] [--ablate modality|fusion] [--modalities V|V+A|V+F|V+A+F] [--max-tokens N] [--limit N] [--backend B]`:
 * a checkpoint describes every item of the split (models/omni/infer/eval.ts), then the task's
 * metrics (PAPER.md 4) as a Markdown table on stdout (and the full report as JSON with --json).
 * `--ablate modality`: rows V, V+A, V+F, V+A+F; `--ablate fusion`: `--checkpoint DIR1,DIR2,DIR3`,
 * one row per checkpoint named by its fusion variant. `--modalities`: the one setting to evaluate
 * (a model trained without audio or faces: its run config's `modalities`). Progress (item i/N,
 * ETA) goes to stderr.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../errors';
import { toJson } from '../../data/metrics/report';
import type { SetExit } from './verb';
import { DEFAULT_CHECKPOINT } from './infer';
import { checkBackend, intArg } from './args';

interface Flags {
  task?: string;
  data?: string;
  checkpoint: string;
  split: string;
  json?: string;
  ablate?: string;
  modalities?: string;
  maxTokens?: number;
  limit?: number;
  backend?: string;
}

export function registerEval(program: Command, setExit: SetExit): void {
  program
    .command('eval')
    .summary('evaluate a checkpoint on a manifest: synthemo, emer-ov, emer, dfew, mafw (with modality / fusion ablations)')
    .option('--task <name>', 'synthemo | emer-ov | emer | dfew | mafw')
    .option('--data <manifest>', 'the JSONL manifest')
    .option('--checkpoint <dirs>', 'the training run folder; for --ablate fusion several, comma-separated', DEFAULT_CHECKPOINT)
    .option('--split <name>', 'train | val | test | all', 'test')
    .option('--json <file>', 'write the full report (metrics, per-item outputs) as JSON')
    .option('--ablate <kind>', 'modality (V, V+A, V+F, V+A+F) | fusion (one checkpoint per variant)')
    .option('--modalities <setting>', 'V | V+A | V+F | V+A+F: the streams given to the model (default V+A+F)')
    .option('--max-tokens <n>', 'most tokens generated per item (default 160)', intArg(1))
    .option('--limit <n>', 'only the first N items of the split', intArg(1))
    .option('--backend <name>', 'the compute backend')
    .action(async (o: Flags) => {
      if (o.task === undefined) throw new UserError('eval: --task is required (synthemo, emer-ov, emer, dfew, mafw)');
      if (o.data === undefined) throw new UserError('eval: --data MANIFEST is required');
      if (o.ablate !== undefined && o.ablate !== 'modality' && o.ablate !== 'fusion') throw new UserError(`--ablate ${o.ablate}: expected modality or fusion`);
      const backend = checkBackend(o.backend);
      const { MODALITY_ABLATION } = await import('../../models/omni/infer/describe');
      const setting = o.modalities === undefined ? undefined : MODALITY_ABLATION.find(([name]) => name === o.modalities);
      if (o.modalities !== undefined && !setting) throw new UserError(`--modalities ${o.modalities}: expected one of ${MODALITY_ABLATION.map(([n]) => n).join(', ')}`);
      const checkpoints = o.checkpoint.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      const { runEval } = await import('../../models/omni/infer/eval');
      const r = await runEval({ task: o.task, data: o.data, checkpoints, split: o.split, ablate: o.ablate as 'modality' | 'fusion' | undefined, modalities: setting?.[1], maxNewTokens: o.maxTokens, limit: o.limit, backend });
      if (o.json !== undefined) writeFileSync(o.json, `${toJson(r)}\n`);
      process.stdout.write(`${r.markdown}\n`);
      setExit(0);
    });
}
