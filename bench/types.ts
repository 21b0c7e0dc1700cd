/** What a bench row is made of: one case per contestant, built lazily so a failure stays local. */

/** The contestants besides ours. */
export const PEERS = ['tfjs', 'jax-webgpu', 'jax-wasm', 'ort-cpu'] as const;
export type PeerName = (typeof PEERS)[number];

export const PEER_LABEL: Record<PeerName, string> = {
  tfjs: 'TF.js webgpu',
  'jax-webgpu': 'jax-js webgpu',
  'jax-wasm': 'jax-js wasm',
  'ort-cpu': 'onnxruntime cpu',
};

/** One contestant set up for one row. */
export interface Case {
  /** untimed work before each timed call (fresh inputs for the compile row) */
  prepare?(): Promise<void> | void;
  /** the timed call: the op, its submit and a wait until its device is idle (no readback) */
  run(): Promise<void>;
  /** the last call's output as f32, laid out as ours (untimed) */
  read(): Promise<Float32Array>;
  dispose(): void | Promise<void>;
  /** what this contestant ran differently (layout, composition, sync), shown in the table */
  note?: string;
}

export type CaseFactory = () => Promise<Case>;

export interface Row {
  readonly name: string;
  /** floating-point operations of one call, for GFLOP/s */
  readonly flops?: number;
  /** warm-up calls before timing (default: the bench's) */
  readonly warmup?: number;
  readonly ours: CaseFactory;
  /** a factory, or the reason the peer cannot run this row */
  readonly peers: Partial<Record<PeerName, CaseFactory | string>>;
  /** each call moves the state the output is read from (a training step): before reading, every contestant is brought to the same number of calls, untimed */
  readonly stateful?: boolean;
  /** the largest max-rel-diff counted as equal (default 1e-3) */
  readonly tol?: number;
  /** needs Mesa's on-disk shader cache off (set for the whole process, before the first device) */
  readonly coldShaderCache?: boolean;
}

/** One line of the report (and of the JSON file). */
export interface Result {
  name: string;
  ours_ms: number | null;
  ours_gflops: number | null;
  peer: string | null;
  peer_ms: number | null;
  peer_gflops: number | null;
  /** peer_ms / ours_ms: above 1 means we are faster */
  speedup: number | null;
  max_rel_diff: number | null;
  equal: boolean | null;
  runs: number;
  warmup: number;
  note?: string;
  /** why ours did not run */
  ours_error?: string;
  /** why the peer did not run */
  error?: string;
}
