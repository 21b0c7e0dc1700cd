/** The public DSL: typed tensors, ops, composites, specs and compile. */
export * from './tensor';
export * from './ops';
export { iota } from './tensor';
export * from '../compiler/composites';
export { spec } from '../compiler/trace';
export type { TensorSpec, SpecTree, TensorsOf } from '../compiler/trace';
export { compile } from '../runtime/compile';
export type { CompileOptions } from '../runtime/compile';
export type { Executable } from '../runtime/executable';
export type { HostTensor } from '../runtime/host';
export type { Dim, Shape } from './shape-types';
