/**
 * The architectures `omni-emotion run <arch>` knows. Each registers how to read its Hugging
 * Face config, its parameter tree (our paths = HF names without the model prefix), the names
 * and shapes of its inputs, and a forward function; `run` does the rest (weights, inputs,
 * compile, gradients, outputs).
 */
import type { Type } from 'io-ts';
import type { ParamTree } from '../dsl/params';
import type { Tensor } from '../dsl/tensor';
import type { DType } from '../compiler/ir';
import type { LoadOptions } from './weights';

export interface InputDecl {
  readonly name: string;
  /** accepted dtypes as stored in the inputs file (converted to `dtype`) */
  readonly dtype: DType;
  /** checks a given shape against the config; returns an error message or undefined */
  readonly check?: (shape: readonly number[]) => string | undefined;
}

export interface Architecture<C = any> {
  readonly name: string;
  /** the HF config.json codec (lenient: unknown fields are allowed) */
  readonly config: Type<C, unknown, unknown>;
  readonly params: (config: C) => ParamTree;
  readonly inputs: (config: C) => readonly InputDecl[];
  /** the output's name in the outputs file: last_hidden_state or logits */
  readonly output: string;
  readonly forward: (config: C, params: any, inputs: Record<string, Tensor>) => Tensor;
  readonly weights: LoadOptions & { readonly savePrefix?: string };
}

const table = new Map<string, Architecture>();

export function registerArchitecture<C>(a: Architecture<C>): Architecture<C> {
  table.set(a.name, a as Architecture);
  return a;
}

export function architecture(name: string): Architecture | undefined {
  return table.get(name);
}

export function architectureNames(): string[] {
  return [...table.keys()];
}
