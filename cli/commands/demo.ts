/**
 * `omni-emotion demo`: the README's main job (examples/demo.ts): a transformer block compiled and
 * checked against the reference, a tiny Qwen2 trained from scratch, then KV-cache generation.
 * `--synthemo` runs examples/synthemo-demo.ts instead: SynthEmo generated, the tiny preset
 * trained through the three stages, evaluated on held-out clips, and a clip described.
 */
import type { Command } from 'commander';
import { intArg } from './args';
import type { SetExit } from './verb';

export function registerDemo(program: Command, setExit: SetExit): void {
  program
    .command('demo')
    .summary('run the demo (what `npm run demo` runs); --synthemo: Omni-Emotion trained and evaluated on SynthEmo')
    .option('--synthemo', 'the SynthEmo demo (what `npm run demo:synthemo` runs)')
    .option('--out <dir>', 'output folder of the SynthEmo demo (default out/synthemo-demo)')
    .option('--clips <n>', 'SynthEmo clips to generate (default 270)', intArg(18))
    .option('--seed <n>', 'corpus seed', intArg(0))
    .action(async (o: { synthemo?: boolean; out?: string; clips?: number; seed?: number }) => {
      if (o.synthemo) {
        const { runSynthEmoDemo } = await import('../../examples/synthemo-demo');
        const args = [...(o.out !== undefined ? ['--out', o.out] : []), ...(o.clips !== undefined ? ['--clips', String(o.clips)] : []), ...(o.seed !== undefined ? ['--seed', String(o.seed)] : [])];
        await runSynthEmoDemo(args);
      } else {
        const { runDemo } = await import('../../examples/demo');
        await runDemo();
      }
      setExit(0);
    });
}
