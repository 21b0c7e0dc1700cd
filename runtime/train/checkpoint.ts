/**
 * Training checkpoints: parameters, optimizer state and the step/loss-scale state in one
 * safetensors file (JSON metadata beside the tensors), written atomically (temporary file,
 * fsync, rename), so an interrupted save never replaces a good checkpoint with a partial one.
 * The RNG state is the seed and the step: keys are derived from both.
 */
import type { StDType, TensorToWrite } from '../safetensors';
import { openSafetensors, writeSafetensorsAtomic } from '../safetensors';
import type { HostTensor } from '../host';
import type { Trainer, TrainerState } from './trainer';

export const CHECKPOINT_FORMAT = 'omni-emotion-checkpoint/1';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

const stDType = (t: HostTensor): StDType => (t.dtype === 'f16' ? 'F16' : t.dtype === 'i32' ? 'I32' : t.dtype === 'u32' ? 'U32' : t.dtype === 'bool' ? 'BOOL' : 'F32');

export async function saveCheckpoint(trainer: Trainer, path: string, config: unknown = {}): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [p, t] of Object.entries(await trainer.readParams())) tensors[`param.${p}`] = { dtype: stDType(t), shape: [...t.shape], data: t.data };
  for (const [k, t] of Object.entries(await trainer.readOptState())) tensors[`opt.${k}`] = { dtype: 'F32', shape: [...t.shape], data: t.data };
  const metadata = {
    format: CHECKPOINT_FORMAT,
    state: JSON.stringify(trainer.state),
    seed: String(trainer.options.seed ?? 0),
    optimizer: JSON.stringify(trainer.options.optimizer),
    config: JSON.stringify(config),
  };
  writeSafetensorsAtomic(path, tensors, metadata);
}

/** Restores a checkpoint into a trainer built with the same parameter tree and optimizer. */
export async function loadCheckpoint(trainer: Trainer, path: string): Promise<{ config: unknown }> {
  const file = openSafetensors(path);
  try {
    if (file.metadata.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${path}: not an omni-emotion checkpoint (metadata 'format' is ${JSON.stringify(file.metadata.format)})`);
    const expected = new Map<string, { shape: readonly number[]; target: { write(d: HostTensor | ArrayLike<number>): void } }>();
    for (const [p, t] of trainer.params) expected.set(`param.${p}`, { shape: t.shape, target: t });
    for (const [k, t] of trainer.opt) expected.set(`opt.${k}`, { shape: t.shape, target: t });
    const problems: string[] = [];
    for (const [name, e] of expected) {
      const entry = file.tensors.get(name);
      if (!entry) problems.push(`missing '${name}' [${e.shape}]`);
      else if (entry.shape.join() !== e.shape.join()) problems.push(`'${name}' is [${entry.shape}] in the file, the model needs [${e.shape}]`);
    }
    for (const name of file.tensors.keys()) if (!expected.has(name)) problems.push(`unexpected '${name}'`);
    if (problems.length) throw new CheckpointError(`${path}: does not fit this model: ${problems.join('; ')}`);
    for (const [name, e] of expected) e.target.write(file.read(name));
    const state = JSON.parse(file.metadata.state ?? '{}') as TrainerState;
    Object.assign(trainer.state, state);
    return { config: JSON.parse(file.metadata.config ?? '{}') };
  } finally {
    file.close();
  }
}
