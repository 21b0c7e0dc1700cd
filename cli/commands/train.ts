/**
 * `omni-emotion train`: trains or fine-tunes a model, checkpoints in safetensors.
 * A placeholder until it is implemented; only this file changes then.
 */
import type { Command } from 'commander';
import { placeholder, type SetExit } from './verb';

export function registerTrain(program: Command, _setExit: SetExit): void {
  placeholder(program, 'train', 'train or fine-tune a model');
}
