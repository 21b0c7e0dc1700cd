/**
 * `omni-emotion bench`: times kernels and models on the current device.
 * A placeholder until it is implemented; only this file changes then.
 */
import type { Command } from 'commander';
import { placeholder, type SetExit } from './verb';

export function registerBench(program: Command, _setExit: SetExit): void {
  placeholder(program, 'bench', 'time kernels and models on this device');
}
