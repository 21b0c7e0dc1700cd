/**
 * `omni-emotion eval`: evaluates a model on a dataset and prints its metrics.
 * A placeholder until it is implemented; only this file changes then.
 */
import type { Command } from 'commander';
import { placeholder, type SetExit } from './verb';

export function registerEval(program: Command, _setExit: SetExit): void {
  placeholder(program, 'eval', 'evaluate a model on a dataset');
}
