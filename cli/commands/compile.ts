/**
 * `omni-emotion compile <arch> --config C.json --inputs I.safetensors --out DIR [--portable]`:
 * a stand-alone inference module for the shapes of the example inputs.
 */
import type { Command } from 'commander';
import type { SetExit } from './verb';

export function registerCompile(program: Command, setExit: SetExit): void {
  program
    .command('compile')
    .summary('write a stand-alone inference module (WGSL kernels + a safetensors loader)')
    .argument('<arch>', 'whisper-encoder | siglip-vision | qwen2 | face-encoder | omni-emotion')
    .requiredOption('--config <file>', 'the Hugging Face config.json of the model')
    .requiredOption('--inputs <file>', 'example inputs (safetensors): their shapes are compiled in')
    .requiredOption('--out <dir>', 'folder for index.js, index.ts and model.json')
    .option('--portable', "kernels for any adapter instead of this adapter's fastest")
    .action(async (arch: string, o: { config: string; inputs: string; out: string; portable?: boolean }) => {
      const { compileModule } = await import('../../models/compile-module');
      const files = await compileModule({ arch, config: o.config, inputs: o.inputs, out: o.out, portable: !!o.portable });
      process.stderr.write(`omni-emotion compile ${arch}: wrote ${files.length} files to ${o.out}; run it with: node ${o.out}/index.js --weights W.safetensors --inputs I.safetensors --out O.safetensors\n`);
      setExit(0);
    });
}
