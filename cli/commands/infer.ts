/**
 * `omni-emotion infer`: predicts emotions for video/audio inputs with a trained model.
 * A placeholder until it is implemented; only this file changes then.
 */
import type { Command } from 'commander';
import { placeholder, type SetExit } from './verb';

export function registerInfer(program: Command, _setExit: SetExit): void {
  placeholder(program, 'infer', 'predict emotions for video/audio inputs');
}
