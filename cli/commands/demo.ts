/**
 * `omni-emotion demo`: runs the quickstart example end to end.
 * A placeholder until it is implemented; only this file changes then.
 */
import type { Command } from 'commander';
import { placeholder, type SetExit } from './verb';

export function registerDemo(program: Command, _setExit: SetExit): void {
  placeholder(program, 'demo', 'run the quickstart example end to end');
}
