/**
 * `omni-emotion bench [--json FILE] [--filter WORDS] [--runs N]`: our compiled functions against
 * TensorFlow.js (webgpu), jax-js (webgpu, wasm) and onnxruntime (CPU, matmul rows) in this
 * process, on the same adapter; prints a markdown table. The bench lives in bench/ (also
 * `npm run bench`); it and its peers load only when the verb runs.
 */
import type { Command } from 'commander';
import { benchCommand } from '../../bench/options';
import type { BenchCliOptions } from '../../bench/options';
import type { SetExit } from './verb';

export function registerBench(program: Command, setExit: SetExit): void {
  benchCommand(program.command('bench').summary('time our kernels against TF.js, jax-js and onnxruntime on this device')).action(async (opts: BenchCliOptions) => {
    const { benchFromCli } = await import('../../bench/run');
    setExit(await benchFromCli(opts));
  });
}
