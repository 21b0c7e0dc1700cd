/**
 * What every verb file under cli/commands/ exports: a function that adds its subcommand to the
 * program. Commander discards what an action returns, so an action reports its exit code
 * through `setExit`; errors it throws go to runCli (cli/errors.ts).
 */
import type { Command } from 'commander';

export type SetExit = (code: number) => void;
export type RegisterVerb = (program: Command, setExit: SetExit) => void;
