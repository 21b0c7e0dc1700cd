/**
 * What every verb file under cli/commands/ exports: a function that adds its subcommand to the
 * program. Commander discards what an action returns, so an action reports its exit code
 * through `setExit`; errors it throws go to runCli (cli/errors.ts).
 */
import type { Command } from 'commander';
import { UserError } from '../errors';

export type SetExit = (code: number) => void;
export type RegisterVerb = (program: Command, setExit: SetExit) => void;

/** A verb that is named and documented but does not run yet: it accepts any arguments so
 * that scripts written against the final interface fail with the clear message below. */
export function placeholder(program: Command, name: string, summary: string): Command {
  return program
    .command(name)
    .summary(`${summary} (not implemented yet)`)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new UserError(`not implemented yet: ${name}`, 1);
    });
}
