/**
 * `omni-emotion demo`: the README's main job (examples/demo.ts): a transformer block compiled and
 * checked against the reference, a tiny Qwen2 trained from scratch, then KV-cache generation.
 */
import type { Command } from 'commander';
import type { SetExit } from './verb';

export function registerDemo(program: Command, setExit: SetExit): void {
  program
    .command('demo')
    .summary('run the demo (what `npm run demo` runs)')
    .action(async () => {
      const { runDemo } = await import('../../examples/demo');
      await runDemo();
      setExit(0);
    });
}
