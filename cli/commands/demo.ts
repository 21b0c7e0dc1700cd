/**
 * `omni-emotion demo`: the README's main job (examples/synthemo-demo.ts): SynthEmo generated, the
 * tiny preset trained through the three stages, evaluated on held-out clips, and a clip described.
 * `--core` runs examples/core-demo.ts instead: a transformer block compiled and checked against
 * the reference, a tiny Qwen2 trained from scratch, then KV-cache generation.
 */
import type { Command } from 'commander';
import { intArg } from './args';
import type { SetExit } from './verb';

export function registerDemo(program: Command, setExit: SetExit): void {
  program
    .command('demo')
    .summary('run the demo (what `npm run demo` runs): SynthEmo, three training stages, evaluation, a clip described')
    .option('--core', 'the core demo instead (what `npm run demo:core` runs)')
    .option('--out <dir>', 'output folder (default out/synthemo-demo)')
    .option('--clips <n>', 'SynthEmo clips to generate (default 270)', intArg(18))
    .option('--seed <n>', 'corpus seed', intArg(0))
    .action(async (o: { core?: boolean; out?: string; clips?: number; seed?: number }) => {
      if (o.core) {
        const { runCoreDemo } = await import('../../examples/core-demo');
        await runCoreDemo();
      } else {
        const { runSynthEmoDemo } = await import('../../examples/synthemo-demo');
        const args = [...(o.out !== undefined ? ['--out', o.out] : []), ...(o.clips !== undefined ? ['--clips', String(o.clips)] : []), ...(o.seed !== undefined ? ['--seed', String(o.seed)] : [])];
        await runSynthEmoDemo(args);
      }
      setExit(0);
    });
}
