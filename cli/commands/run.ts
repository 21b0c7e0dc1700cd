/**
 * `omni-emotion run`: runs one architecture on given weights and inputs (ARCHITECTURE.md, "Stable interfaces").
 * A placeholder until it is implemented; only this file changes then.
 */
import type { Command } from 'commander';
import { placeholder, type SetExit } from './verb';

export function registerRun(program: Command, _setExit: SetExit): void {
  placeholder(program, 'run', 'run one architecture on given weights and inputs');
}
