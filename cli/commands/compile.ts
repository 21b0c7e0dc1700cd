/**
 * `omni-emotion compile`: compiles a model to an Executable and emits a stand-alone TypeScript inference module.
 * A placeholder until it is implemented; only this file changes then.
 */
import type { Command } from 'commander';
import { placeholder, type SetExit } from './verb';

export function registerCompile(program: Command, _setExit: SetExit): void {
  placeholder(program, 'compile', 'compile a model and emit a stand-alone inference module');
}
