/**
 * The `omni-emotion` command line. Each verb lives in its own file under commands/ and only
 * registers itself here. `main` returns the exit code instead of exiting: commander is told
 * not to call process.exit, so main can be called from tests, and bin.js decides when the
 * process ends (it must end explicitly: Dawn keeps native threads alive).
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { runCli, UserError } from './errors';
import type { RegisterVerb } from './commands/verb';
import { registerRun } from './commands/run';
import { registerCompile } from './commands/compile';
import { registerTrain } from './commands/train';
import { registerInfer } from './commands/infer';
import { registerEval } from './commands/eval';
import { registerBench } from './commands/bench';
import { registerDoctor } from './commands/doctor';
import { registerDemo } from './commands/demo';
import { registerTokenize } from './commands/tokenize';
import { registerData } from './commands/data';
import { registerFeatures } from './commands/features';
import { registerFaces } from './commands/faces';
import { registerModel } from './commands/model';

const VERBS: RegisterVerb[] = [registerRun, registerCompile, registerTrain, registerInfer, registerEval, registerBench, registerDoctor, registerDemo, registerData, registerTokenize, registerFeatures, registerFaces, registerModel];

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('omni-emotion')
    .description('Omni-Emotion on a typed TypeScript tensor DSL and WebGPU compiler')
    .version(packageVersion())
    .showSuggestionAfterError()
    // Set before the subcommands are made: they inherit both settings.
    .exitOverride()
    // runCli prints commander's errors as one line; help and version still print normally.
    .configureOutput({ outputError: () => {} });
  for (const register of VERBS) register(program, setExit);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  return runCli(async () => {
    let code = 0;
    const program = buildProgram((c) => (code = c));
    try {
      await program.parseAsync(argv, { from: 'user' });
    } catch (e) {
      if (!(e instanceof CommanderError)) throw e;
      // --help and --version end with exit code 0; help shown for a missing verb is a usage error.
      if (e.exitCode === 0) return 0;
      if (e.code === 'commander.help') return 2;
      throw new UserError(e.message.replace(/^error: /, ''), 2);
    }
    return code;
  });
}
