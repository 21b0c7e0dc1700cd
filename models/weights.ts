/**
 * Loading Hugging Face checkpoints onto our parameter trees. Our parameter paths are the HF
 * names with the model's own prefix removed; a checkpoint may carry any of the prefixes an
 * architecture lists (`model.`, `encoder.`, ...). Before refusing a checkpoint every missing,
 * unexpected and mis-shaped tensor is listed, with both shapes.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ParamTree } from '../dsl/params';
import { paramEntries } from '../dsl/params';
import { fmtShape } from '../compiler/ir';
import type { HostTensor } from '../runtime/host';
import { toHost } from '../runtime/host';
import type { TensorEntry, TensorToWrite } from '../runtime/safetensors';
import { openSafetensors, openShardedSafetensors, writeSafetensorsAtomic } from '../runtime/safetensors';
import type { Patterns } from '../dsl/select';
import { matcher } from '../dsl/select';

export class WeightsError extends Error {
  override name = 'WeightsError';
}

export interface Checkpoint {
  readonly path: string;
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  read(name: string): Float32Array | Int32Array | Uint8Array | Uint32Array;
  close(): void;
}

/** A .safetensors file, a sharded `model.safetensors.index.json`, or a folder holding either. */
export function openCheckpoint(path: string): Checkpoint {
  let p = path;
  if (existsSync(p) && statSync(p).isDirectory()) {
    const index = join(p, 'model.safetensors.index.json');
    const single = join(p, 'model.safetensors');
    if (existsSync(index)) p = index;
    else if (existsSync(single)) p = single;
    else throw new WeightsError(`${path}: a folder without model.safetensors or model.safetensors.index.json`);
  }
  if (p.endsWith('.json')) {
    const s = openShardedSafetensors(p);
    return { path: p, tensors: s.tensors, read: (n) => s.read(n), close: () => s.close() };
  }
  const f = openSafetensors(p);
  return { path: p, tensors: f.tensors, read: (n) => f.read(n), close: () => f.close() };
}

export interface LoadOptions {
  /** prefixes a checkpoint may put before our names, tried in order ('' is always tried first) */
  readonly prefixes?: readonly string[];
  /** checkpoint tensors to accept and ignore (buffers such as relative_position_index, unused heads) */
  readonly ignore?: Patterns;
  /** parameters that may be absent (they keep their initial values) */
  readonly optional?: Patterns;
}

/** Reads every parameter of `tree` from a checkpoint, by name. */
export function loadWeights(tree: ParamTree, path: string, opts: LoadOptions = {}): Record<string, HostTensor> {
  const ckpt = openCheckpoint(path);
  try {
    const names = [...ckpt.tensors.keys()];
    const prefixes = ['', ...(opts.prefixes ?? [])];
    // the prefix that makes the most of our names appear in the checkpoint
    const entries = paramEntries(tree);
    const score = (pre: string) => entries.filter(([p]) => ckpt.tensors.has(pre + p)).length;
    const prefix = prefixes.reduce((best, pre) => (score(pre) > score(best) ? pre : best), '');
    const ignore = opts.ignore ? matcher(opts.ignore) : () => false;
    const optional = opts.optional ? matcher(opts.optional) : () => false;
    const missing: string[] = [];
    const misshaped: string[] = [];
    const out: Record<string, HostTensor> = {};
    const used = new Set<string>();
    for (const [p, spec] of entries) {
      const name = prefix + p;
      const e = ckpt.tensors.get(name);
      if (!e) {
        if (!optional(p)) missing.push(`${name} ${fmtShape(spec.shape)}`);
        continue;
      }
      used.add(name);
      if (e.shape.join() !== spec.shape.join()) {
        misshaped.push(`${name}: checkpoint ${fmtShape(e.shape)}, model ${fmtShape(spec.shape)}`);
        continue;
      }
      const data = ckpt.read(name);
      const bad = firstNonFinite(data);
      if (bad >= 0) throw new WeightsError(`${ckpt.path}: tensor '${name}' holds a non-finite value (${data[bad]}) at element ${bad}`);
      out[p] = toHost(data, spec.shape, spec.dtype);
    }
    const unexpected = names.filter((n) => !used.has(n) && !ignore(n.startsWith(prefix) ? n.slice(prefix.length) : n) && !ignore(n));
    if (missing.length || misshaped.length || unexpected.length) {
      const parts = [
        missing.length ? `missing ${missing.length}: ${missing.join(', ')}` : '',
        misshaped.length ? `wrong shape ${misshaped.length}: ${misshaped.join('; ')}` : '',
        unexpected.length ? `unexpected ${unexpected.length}: ${unexpected.join(', ')}` : '',
      ].filter(Boolean);
      throw new WeightsError(`${ckpt.path} does not fit this model${prefix ? ` (names prefixed '${prefix}')` : ''}: ${parts.join(' | ')}`);
    }
    return out;
  } finally {
    ckpt.close();
  }
}

function firstNonFinite(d: ArrayLike<number>): number {
  if (!(d instanceof Float32Array)) return -1;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return i;
  return -1;
}

/** Saves parameters under their HF names (with `prefix`), atomically. */
export function saveWeights(path: string, params: Readonly<Record<string, HostTensor>>, prefix = ''): void {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [p, t] of Object.entries(params)) {
    tensors[prefix + p] = { dtype: t.dtype === 'f16' ? 'F16' : t.dtype === 'i32' ? 'I32' : 'F32', shape: [...t.shape], data: t.data };
  }
  writeSafetensorsAtomic(path, tensors, { format: 'pt' });
}
