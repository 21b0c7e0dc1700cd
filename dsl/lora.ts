/**
 * LoRA (Hu et al.): a trainable low-rank update B A beside chosen frozen linear weights,
 * y = x W^T + b + dropout(x) A^T B^T * alpha / r. A starts Kaiming-uniform and B at zero, so
 * training starts from the base model; `mergeLora` folds B A into W for inference.
 */
import type { ParamSpec, ParamTree } from './params';
import { init, isParam, param } from './params';
import type { Patterns } from './select';
import { matcher } from './select';
import type { HostTensor } from '../runtime/host';
import { toHost } from '../runtime/host';

export interface LoraConfig {
  /** linear layers to adapt, by path (the object holding `weight`) */
  readonly targets: Patterns;
  readonly rank: number;
  readonly alpha: number;
  readonly dropout?: number;
}

/** The parameter tree with LoRA leaves added to every targeted linear layer. */
export function withLora<T extends ParamTree>(tree: T, cfg: LoraConfig): T {
  const target = matcher(cfg.targets);
  let count = 0;
  const go = (node: unknown, path: string): unknown => {
    if (isParam(node)) return node;
    if (Array.isArray(node)) return node.map((v, i) => go(v, path ? `${path}.${i}` : `${i}`));
    const obj = node as Record<string, unknown>;
    const out: Record<string, unknown> = Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, go(v, path ? `${path}.${k}` : k)]));
    const w = obj.weight as ParamSpec | undefined;
    if (w && isParam(w) && w.shape.length === 2 && path && target(path)) {
      const [outF, inF] = w.shape;
      out.lora_A = param([cfg.rank, inF], init.kaimingUniform(Math.sqrt(5)));
      out.lora_B = param([outF, cfg.rank], init.zeros());
      out.lora_scale = param([], init.constant(cfg.alpha / cfg.rank));
      out.lora_dropout = param([], init.constant(cfg.dropout ?? 0));
      count++;
    }
    return out;
  };
  const result = go(tree, '') as T;
  if (count === 0) throw new Error(`LoRA: no linear layer matches ${JSON.stringify(cfg.targets)}`);
  return result;
}

/** Folds every LoRA update into its base weight (W += scale * B A) and drops the LoRA leaves. */
export function mergeLora(values: Readonly<Record<string, HostTensor>>): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(values)) if (!/\.lora_(A|B|scale|dropout)$/.test(k)) out[k] = v;
  for (const k of Object.keys(values)) {
    const m = /^(.*)\.lora_A$/.exec(k);
    if (!m) continue;
    const base = m[1];
    const [A, B, s] = [values[k], values[`${base}.lora_B`], values[`${base}.lora_scale`].data[0]];
    const W = values[`${base}.weight`];
    const [outF, inF] = W.shape;
    const r = A.shape[0];
    const merged = Float64Array.from(W.data);
    for (let i = 0; i < outF; i++)
      for (let j = 0; j < inF; j++) {
        let acc = 0;
        for (let q = 0; q < r; q++) acc += B.data[i * r + q] * A.data[q * inF + j];
        merged[i * inF + j] += s * acc;
      }
    out[`${base}.weight`] = toHost(merged, W.shape, W.dtype);
  }
  return out;
}
