/**
 * A native CPU reference for the matmul rows: onnxruntime-node's CPU provider (MLAS, 2 threads)
 * on a one-node MatMul model written here as ONNX protobuf bytes. Optional: the package comes
 * with @huggingface/transformers (installed with ONNXRUNTIME_NODE_INSTALL=skip; its CPU
 * binaries are in the tarball); without it the row says n/a.
 *
 * Timing: `session.run` returns when the product is in host memory (a CPU has no readback to
 * leave out).
 */
import type { Case } from '../types';

interface OrtTensor {
  readonly data: ArrayLike<number>;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release?(): Promise<void>;
}
interface Ort {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: object): Promise<OrtSession> };
}

let loading: Promise<Ort> | undefined;
const MODULE = 'onnxruntime-node';

export function loadOrt(): Promise<Ort> {
  loading ??= (import(MODULE) as Promise<Ort & { default?: Ort }>).then((m) => (m.InferenceSession ? m : m.default!));
  return loading;
}

// --- the few protobuf fields an ONNX model needs ---
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const num = (field: number, n: number) => [...varint(field << 3), ...varint(n)];
const bytes = (field: number, b: readonly number[]) => [...varint((field << 3) | 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...new TextEncoder().encode(s)]);

/** ValueInfoProto: name, TypeProto{tensor_type{elem_type FLOAT, shape}} */
const valueInfo = (name: string, shape: readonly number[]) =>
  [...str(1, name), ...bytes(2, bytes(1, [...num(1, 1), ...bytes(2, shape.flatMap((d) => bytes(1, num(1, d))))]))];

/** ModelProto of Y = MatMul(A, B) for A [..., M, K] and B [..., K, N]. */
export function matmulModel(aShape: readonly number[], bShape: readonly number[], yShape: readonly number[]): Uint8Array {
  const node = [...str(1, 'A'), ...str(1, 'B'), ...str(2, 'Y'), ...str(4, 'MatMul')];
  const graph = [...bytes(1, node), ...str(2, 'bench'), ...bytes(11, valueInfo('A', aShape)), ...bytes(11, valueInfo('B', bShape)), ...bytes(12, valueInfo('Y', yShape))];
  const model = [...num(1, 8), ...str(2, 'omni-emotion bench'), ...bytes(7, graph), ...bytes(8, num(2, 13))];
  return Uint8Array.from(model);
}

export async function ortMatmulCase(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[]): Promise<Case> {
  const ort = await loadOrt();
  const yShape = [...aShape.slice(0, -1), bShape[bShape.length - 1]];
  const session = await ort.InferenceSession.create(matmulModel(aShape, bShape, yShape), {
    executionProviders: ['cpu'],
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // no spin-waiting between runs: ORT's idle threads otherwise keep both cores busy and slow
    // down every contestant timed after it (measured: our matmul 46 -> 28 GFLOP/s beside it)
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  const feeds = { A: new ort.Tensor('float32', a, aShape), B: new ort.Tensor('float32', b, bShape) };
  let out: OrtTensor | undefined;
  return {
    async run() {
      out = (await session.run(feeds)).Y;
    },
    async read() {
      if (!out) throw new Error('no output yet');
      return Float32Array.from(out.data);
    },
    async dispose() {
      await session.release?.();
    },
  };
}
