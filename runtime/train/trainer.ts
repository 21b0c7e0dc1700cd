/**
 * The trainer: parameters and optimizer state live on the device; each step is one compiled
 * executable (forward, backward, clipping, finite check, update) whose new state is written
 * back into the same device tensors. Host side: the schedule, the loss scale and the step count.
 */
import type { DType } from '../../compiler/ir';
import { numel } from '../../compiler/ir';
import { spec } from '../../compiler/trace';
import type { SpecTree } from '../../compiler/trace';
import type { ParamTree } from '../../dsl/params';
import { initParams, paramEntries, paramSpecs } from '../../dsl/params';
import type { OptimizerConfig } from '../../dsl/optim';
import { stateSlots } from '../../dsl/optim';
import type { ScheduleConfig } from '../../dsl/schedules';
import { lrFactor } from '../../dsl/schedules';
import type { Patterns } from '../../dsl/select';
import { matcher, trainableSelector } from '../../dsl/select';
import { keyFromSeed, randomBits } from '../../kernels/rng';
import { compile } from '../compile';
import type { Executable } from '../executable';
import type { DeviceTensor } from '../device-tensor';
import { deviceBytes } from '../device-tensor';
import type { HostTensor } from '../host';
import type { BackendName } from '../gpu';
import { DeviceError, defaultBackend, getGpu } from '../gpu';
import { buildStep } from './step';
import type { LossFn } from './step';

export interface ParamGroup {
  readonly patterns: Patterns;
  /** multiplies the base learning rate */
  readonly lrScale?: number;
  readonly weightDecay?: number;
}

export interface TrainerOptions {
  readonly params: ParamTree;
  readonly loss: LossFn;
  /** the specs of one micro-batch */
  readonly batch: SpecTree;
  readonly optimizer: OptimizerConfig;
  readonly lr: number;
  readonly schedule?: ScheduleConfig;
  /** groups are matched in order; parameters matching none use the optimizer's own weight decay */
  readonly groups?: readonly ParamGroup[];
  /** trainable parameters (default: all) and frozen ones (win over `train`) */
  readonly train?: Patterns;
  readonly freeze?: Patterns;
  readonly clipNorm?: number;
  readonly accumulate?: number;
  /** f16 compute with f32 master weights and dynamic loss scaling ('auto': when the adapter has shader-f16) */
  readonly mixedPrecision?: boolean | 'auto';
  readonly lossScale?: { readonly init?: number; readonly growthInterval?: number };
  readonly seed?: number;
  readonly backend?: BackendName;
  /** initial values by parameter path (e.g. loaded weights); others come from the initialisers */
  readonly initial?: Readonly<Record<string, HostTensor | ArrayLike<number>>>;
}

export interface StepResult {
  readonly step: number;
  readonly loss: number;
  readonly gradNorm: number;
  readonly lr: number;
  /** the update was skipped because the loss or a gradient was not finite */
  readonly skipped: boolean;
  readonly lossScale: number;
}

export interface TrainerState {
  step: number;
  lossScale: number;
  goodSteps: number;
  skipped: number;
}

/** Parameters never trained: LoRA's fixed scalars. */
const ALWAYS_FROZEN = matcher(['**.lora_scale', '**.lora_dropout']);

export class Trainer {
  readonly state: TrainerState;
  private constructor(
    readonly options: TrainerOptions,
    readonly exe: Executable,
    readonly paramPaths: readonly string[],
    readonly trainable: readonly string[],
    readonly params: Map<string, DeviceTensor>,
    readonly opt: Map<string, DeviceTensor>,
    readonly mixed: boolean,
    readonly groupCount: number,
  ) {
    this.state = { step: 0, lossScale: mixed ? options.lossScale?.init ?? 1024 : 1, goodSteps: 0, skipped: 0 };
  }

  static async create(o: TrainerOptions): Promise<Trainer> {
    const backend = o.backend ?? defaultBackend();
    const mixed = o.mixedPrecision === 'auto' ? backend !== 'cpu' && (await getGpu(backend as never)).hasF16 : !!o.mixedPrecision;
    const entries = paramEntries(o.params);
    const select = trainableSelector(o.train, o.freeze);
    const trainable = entries.filter(([p, s]) => select(p) && !ALWAYS_FROZEN(p) && (s.dtype === 'f32' || s.dtype === 'f16')).map(([p]) => p);
    if (trainable.length === 0) throw new Error('no trainable parameters: check the train/freeze patterns');
    const specOf = new Map(entries);
    const groups = o.groups ?? [];
    const groupMatch = groups.map((g) => matcher(g.patterns));
    const groupOf = trainable.map((p) => {
      const i = groupMatch.findIndex((m) => m(p));
      return i < 0 ? groups.length : i;
    });
    const baseWd = o.optimizer.weightDecay ?? 0;
    const weightDecay = [...groups.map((g) => g.weightDecay ?? baseWd), baseWd];
    const accumulate = o.accumulate ?? 1;
    const step = buildStep(o.loss, { trainable, groupOf, weightDecay, optimizer: o.optimizer, clipNorm: o.clipNorm ?? 0, mixed, accumulate });
    const scalar = spec([]);
    const trainableSpecs = (dtype: DType) => {
      const tree: Record<string, unknown> = {};
      for (const p of trainable) setLeaf(tree, p, spec(specOf.get(p)!.shape, dtype));
      return tree;
    };
    const specs = {
      params: paramSpecs(o.params),
      opt: Object.fromEntries(stateSlots(o.optimizer).map((s) => [s, trainableSpecs('f32')])),
      hyper: { lr: spec([groups.length + 1]), bc1: scalar, bc2: scalar, scale: scalar, first: scalar },
      batches: Array.from({ length: accumulate }, () => o.batch),
      keys: Array.from({ length: accumulate }, () => spec([2], 'u32')),
    } as SpecTree;
    const external = (name: string) => name.startsWith('params.') || name.startsWith('opt.');
    // frozen weights keep their buffers and contents from step to step: their packing into
    // kernel layouts runs once (again only after a write into them, e.g. a checkpoint loaded)
    const trainableInputs = new Set(trainable.map((p) => `params.${p}`));
    const constant = (name: string) => name.startsWith('params.') && !trainableInputs.has(name);
    const exe = await compile(step as never, specs, { backend, external, constant });
    const init = initParams(o.params, o.seed ?? 0);
    const params = new Map<string, DeviceTensor>();
    for (const [p, s] of entries) {
      const given = o.initial?.[p];
      params.set(p, exe.deviceTensor(s.shape, s.dtype, given ?? init[p]));
    }
    const opt = new Map<string, DeviceTensor>();
    for (const slot of stateSlots(o.optimizer)) for (const p of trainable) {
      const s = specOf.get(p)!;
      opt.set(`${slot}.${p}`, exe.deviceTensor(s.shape, 'f32'));
    }
    return new Trainer(o, exe, entries.map(([p]) => p), trainable, params, opt, mixed, groups.length + 1);
  }

  /** The learning rate of the default group at a step. */
  lrAt(step: number): number {
    return this.options.lr * (this.options.schedule ? lrFactor(this.options.schedule, step) : 1);
  }

  /** The executable's inputs for the next step. */
  private stepInputs(batches: unknown) {
    const A = this.options.accumulate ?? 1;
    const list = Array.isArray(batches) && A > 1 ? batches : [batches];
    if (list.length !== A) throw new Error(`step: expected ${A} micro-batches, got ${list.length}`);
    const s = this.state.step;
    const o = this.options;
    const lr = this.lrAt(s);
    const groups = o.groups ?? [];
    const b1 = o.optimizer.kind === 'sgd' ? 0 : o.optimizer.beta1 ?? 0.9;
    const b2 = o.optimizer.kind === 'sgd' ? 0 : o.optimizer.beta2 ?? 0.999;
    const t = s + 1;
    const [k0, k1] = keyFromSeed(o.seed ?? 0);
    const keys = list.map((_, m) => {
      const c = 2 * (s * A + m);
      return [randomBits(k0, k1, c), randomBits(k0, k1, c + 1)];
    });
    const inputs = {
      params: Object.fromEntries(this.params),
      opt: Object.fromEntries(this.opt),
      hyper: {
        lr: [...groups.map((g) => lr * (g.lrScale ?? 1)), lr],
        bc1: [1 - Math.pow(b1, t)],
        bc2: [1 - Math.pow(b2, t)],
        scale: [this.state.lossScale],
        first: [s === 0 ? 1 : 0],
      },
      batches: list,
      keys,
    };
    return { inputs, lr, s };
  }

  /** Kernel timings of one step on these batches (nothing is updated). */
  async profile(batches: unknown): Promise<{ label: string; ms: number }[]> {
    if (!this.exe.profile) throw new Error('profiling needs a GPU backend');
    return this.exe.profile(this.stepInputs(batches).inputs as never);
  }

  /** One update; `batches` holds one batch per micro-batch (or a single batch). */
  async step(batches: unknown): Promise<StepResult> {
    const { inputs, lr, s } = this.stepInputs(batches);
    const into: Record<string, DeviceTensor> = {};
    for (const p of this.trainable) into[`params.${p}`] = this.params.get(p)!;
    for (const [k, v] of this.opt) into[`opt.${k}`] = v;
    let out: Awaited<ReturnType<Executable['run']>>;
    try {
      out = await this.exe.run(inputs as never, { into, outputs: ['loss', 'gnorm', 'finite'] });
    } catch (e) {
      if (e instanceof DeviceError) {
        const mem = this.memory();
        throw new DeviceError(
          `training step ${s + 1}: ${e.message} (a step plans ${(mem.peakBytes / 2 ** 20).toFixed(1)} MiB on the device; ` +
            `try a smaller batch, gradient accumulation or activation checkpointing; the last checkpoint on disk is untouched)`,
        );
      }
      throw e;
    }
    const skipped = out.finite.data[0] !== 1;
    this.state.step++;
    if (skipped) this.state.skipped++;
    if (this.mixed) this.adjustLossScale(skipped);
    return { step: this.state.step, loss: out.loss.data[0], gradNorm: out.gnorm.data[0], lr, skipped, lossScale: this.state.lossScale };
  }

  private adjustLossScale(skipped: boolean) {
    const st = this.state;
    if (skipped) {
      st.lossScale = Math.max(1, st.lossScale / 2);
      st.goodSteps = 0;
    } else if (++st.goodSteps >= (this.options.lossScale?.growthInterval ?? 200)) {
      st.lossScale = Math.min(2 ** 24, st.lossScale * 2);
      st.goodSteps = 0;
    }
  }

  /** Current values of every parameter (host copies). */
  async readParams(): Promise<Record<string, HostTensor>> {
    const out: Record<string, HostTensor> = {};
    for (const [p, t] of this.params) out[p] = await t.read();
    return out;
  }

  async readOptState(): Promise<Record<string, HostTensor>> {
    const out: Record<string, HostTensor> = {};
    for (const [k, t] of this.opt) out[k] = await t.read();
    return out;
  }

  /** Device memory of a step: planned intermediates plus the resident state, and the naive sum. */
  memory(): { intermediateBytes: number; naiveIntermediateBytes: number; stateBytes: number; peakBytes: number } {
    let stateBytes = 0;
    for (const t of [...this.params.values(), ...this.opt.values()]) stateBytes += deviceBytes(t.shape, t.dtype);
    const { plannedBytes, naiveBytes } = this.exe.stats;
    return { intermediateBytes: plannedBytes, naiveIntermediateBytes: naiveBytes, stateBytes, peakBytes: plannedBytes + stateBytes };
  }

  parameterCount(): { total: number; trainable: number } {
    const total = [...this.params.values()].reduce((a, t) => a + numel(t.shape), 0);
    const trainable = this.trainable.reduce((a, p) => a + numel(this.params.get(p)!.shape), 0);
    return { total, trainable };
  }

  dispose() {
    for (const t of [...this.params.values(), ...this.opt.values()]) t.dispose();
  }
}

function setLeaf(tree: Record<string, unknown>, path: string, value: unknown) {
  const parts = path.split('.');
  let node = tree;
  for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
  node[parts[parts.length - 1]] = value;
}
