/**
 * `omni-emotion infer MEDIA [--checkpoint DIR] [--json] [--max-tokens N] [--prompt TEXT] [--backend B]`:
 * a trained checkpoint (what `omni-emotion train --out DIR` writes) describes the person's
 * emotional state in a clip (models/omni/infer/describe.ts) and the open-vocabulary emotion
 * labels are extracted from the description. Prints the description and the labels, or one JSON
 * object with --json. A missing checkpoint or a bad media file is one line on stderr.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../errors';
import { BACKENDS } from '../../runtime/gpu';
import type { SetExit } from './verb';
import { checkBackend, intArg } from './args';

interface Flags {
  checkpoint: string;
  json?: boolean;
  maxTokens?: number;
  prompt?: string;
  backend?: string;
}

export const DEFAULT_CHECKPOINT = 'out/train';



export function registerInfer(program: Command, setExit: SetExit): void {
  program
    .command('infer')
    .summary("describe the person's emotional state in a clip with a trained checkpoint")
    .argument('<media>', 'a video file (its audio track is used) or an audio file')
    .option('--checkpoint <dir>', 'the training run folder (config.json, model.safetensors)', DEFAULT_CHECKPOINT)
    .option('--json', 'print one JSON object (text, labels, timings)')
    .option('--max-tokens <n>', 'most tokens to generate (default 160)', intArg(1))
    .option('--prompt <text>', "the instruction (default: \"Describe the person's emotional state and the clues for it.\")")
    .option('--backend <name>', `one of ${BACKENDS.join(', ')}`)
    .action(async (media: string, o: Flags) => {
      const backend = checkBackend(o.backend);
      if (!existsSync(media)) throw new UserError(`${media}: no such media file`);
      const { describe, loadOmniCheckpoint, releaseCheckpoint } = await import('../../models/omni/infer/describe');
      const ck = loadOmniCheckpoint(o.checkpoint, { backend });
      try {
        const r = await describe(ck, media, { maxNewTokens: o.maxTokens, ...(o.prompt !== undefined ? { prompt: o.prompt } : {}) });
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ media, checkpoint: ck.dir, text: r.text, labels: r.labels, finish: r.finish, timings: r.timings })}\n`);
        } else {
          const t = r.timings;
          process.stdout.write(`${r.text}\n\nlabels: ${r.labels.length ? r.labels.join(', ') : '(none)'}\n`);
          process.stderr.write(`${t.tokens} tokens in ${(t.totalMs / 1000).toFixed(2)} s (features ${(t.featuresMs / 1000).toFixed(2)} s, embeddings ${(t.embedMs / 1000).toFixed(2)} s, prefill ${(t.prefillMs / 1000).toFixed(2)} s, decode ${(t.decodeMs / 1000).toFixed(2)} s)\n`);
        }
      } finally {
        releaseCheckpoint(ck);
      }
      setExit(0);
    });
}
