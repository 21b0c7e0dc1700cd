/**
 * `omni-emotion run <arch> --config C.json --weights W.safetensors --inputs I.safetensors
 * --out O.safetensors [--grad] [--backend B]` (ARCHITECTURE.md, "Stable interfaces").
 */
import type { Command } from 'commander';
import type { SetExit } from './verb';
import { UserError } from '../errors';
import { BACKENDS } from '../../runtime/gpu';
import type { BackendName } from '../../runtime/gpu';
import { checkBackend } from './args';

export function registerRun(program: Command, setExit: SetExit): void {
  program
    .command('run')
    .summary('run one architecture on given weights and inputs')
    .argument('<arch>', 'whisper-encoder | siglip-vision | qwen2 | face-encoder | omni-emotion')
    .requiredOption('--config <file>', 'the Hugging Face config.json of the model')
    .requiredOption('--weights <file>', 'safetensors weights under Hugging Face names (or a sharded index / folder)')
    .requiredOption('--inputs <file>', 'safetensors inputs by name (input_features, pixel_values, input_ids; cotangent with --grad)')
    .requiredOption('--out <file>', 'safetensors output file')
    .option('--grad', 'also write grad.<parameter> = d sum(output * cotangent) / d parameter')
    .option('--backend <name>', `one of ${BACKENDS.join(', ')}`)
    .option('--dump <what>', 'print the optimised IR (ir) or the generated kernels (wgsl)')
    .action(async (arch: string, o: { config: string; weights: string; inputs: string; out: string; grad?: boolean; backend?: string; dump?: string }) => {
      if (o.dump && o.dump !== 'ir' && o.dump !== 'wgsl') throw new UserError(`--dump ${o.dump}: expected ir or wgsl`);
      checkBackend(o.backend);
      const { runArchitecture } = await import('../../models/run');
      const t0 = performance.now();
      const res = await runArchitecture({ arch, config: o.config, weights: o.weights, inputs: o.inputs, out: o.out, grad: !!o.grad, backend: o.backend as BackendName | undefined, dump: o.dump as 'ir' | 'wgsl' | undefined });
      const names = Object.keys(res);
      process.stderr.write(`omni-emotion run ${arch}: wrote ${names.length} tensors to ${o.out} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      setExit(0);
    });
}
