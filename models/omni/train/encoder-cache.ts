/**
 * The frozen encoders' outputs, computed once per training item. Every stage of the recipe keeps
 * the encoders frozen (STAGE_TRAINABLE), so running SigLIP, the face encoder and Whisper inside
 * each step would recompute the same features every epoch; instead each item is encoded once
 * here (a compiled forward over a few items at a time), and the steps take `vision_hidden` / `face_map` /
 * `audio_hidden` in place of the raw inputs (omniForward treats both the same way).
 */
import { spec } from '../../../compiler/trace';
import type { SpecTree } from '../../../compiler/trace';
import { compile } from '../../../runtime/compile';
import type { BackendName } from '../../../runtime/gpu';
import type { HostTensor } from '../../../runtime/host';
import type { FeatureCache, FeatureField } from '../../../data/features/index';
import { initParams, paramSpecs } from '../../../dsl/params';
import type { ParamTree } from '../../../dsl/params';
import type { OmniConfig } from '../config';
import { encoderFeatures, omniParams } from '../model';
import type { EncoderFeatures } from '../model';

/** Which encoder output stands for which raw input. */
export const ENCODER_OUTPUT: Record<FeatureField, keyof EncoderFeatures> = { pixel_values: 'vision_hidden', face_values: 'face_map', input_features: 'audio_hidden' };

/** Parameter paths of the encoders (what the encoding forward reads). */
const ENCODER_COMPONENTS = ['vision_tower', 'face_encoder', 'audio_encoder'];

export interface ChannelStats {
  readonly mean: Float64Array;
  readonly std: Float64Array;
}

/** The first linear layer that reads each encoder's output (pooling before it is channel-wise). */
export const FIRST_LAYER: Record<FeatureField, string> = { pixel_values: 'mm_projector.0', face_values: 'face_projector.0', input_features: 'audio_projector.0' };

/** Channels of an item's output and the stride between neighbouring channels (face maps: [T, C, h, w]). */
function channelLayout(f: FeatureField, shape: readonly number[]): { channels: number; stride: number } {
  if (f === 'face_values') return { channels: shape[1], stride: shape[2] * shape[3] };
  return { channels: shape[shape.length - 1], stride: 1 };
}

/**
 * Parameters trained on standardised features -> the same model on raw features: a layer
 * y = W x' + b with x' = (x - m) / s is y = (W / s) x + (b - (W / s) m).
 */
export function foldStandardization(values: Readonly<Record<string, HostTensor>>, stats: Partial<Record<FeatureField, ChannelStats>>): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = { ...values };
  for (const [f, st] of Object.entries(stats) as [FeatureField, ChannelStats][]) {
    const w = values[`${FIRST_LAYER[f]}.weight`];
    const b = values[`${FIRST_LAYER[f]}.bias`];
    if (!w || !b) continue;
    const [rows, cols] = w.shape;
    if (cols !== st.mean.length) throw new Error(`fold: ${FIRST_LAYER[f]}.weight is [${w.shape.join(', ')}], the statistics have ${st.mean.length} channels`);
    const W = new Float32Array(rows * cols);
    const B = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let shift = 0;
      for (let c = 0; c < cols; c++) {
        const v = Number(w.data[r * cols + c]) / st.std[c];
        W[r * cols + c] = v;
        shift += v * st.mean[c];
      }
      B[r] = Number(b.data[r]) - shift;
    }
    out[`${FIRST_LAYER[f]}.weight`] = { ...w, dtype: 'f32', data: W };
    out[`${FIRST_LAYER[f]}.bias`] = { ...b, dtype: 'f32', data: B };
  }
  return out;
}

export class EncodedItems {
  private constructor(
    /** per-item shape of each output, batch axis first (frames for video, 1 for audio) */
    readonly shapes: Partial<Record<FeatureField, number[]>>,
    private readonly items: Map<string, Partial<Record<FeatureField, Float32Array>>>,
  ) {}

  get size(): number {
    return this.items.size;
  }

  /**
   * Encodes the items `ids` of `cache` (the fields given) with the encoders' values: those in
   * `initial` (the run's starting values: pretrained or carried), the others from the initialisers
   * with `seed`, the values the trainer starts from too (initParams depends on the path, not on
   * the rest of the tree).
   */
  static async build(o: {
    model: OmniConfig;
    seed: number;
    initial?: Readonly<Record<string, HostTensor>>;
    cache: FeatureCache;
    ids: readonly string[];
    fields: readonly FeatureField[];
    /** the raw input shapes of one item (featureShapes: video [T, 3, S, S], audio [mels, M]) */
    inputShapes: Partial<Record<FeatureField, number[]>>;
    backend?: BackendName;
    /** items per encoder call (default 8) */
    chunk?: number;
    progress?: (done: number, total: number) => void;
  }): Promise<EncodedItems> {
    const tree = omniParams(o.model) as unknown as ParamTree;
    const encoderTree = Object.fromEntries(ENCODER_COMPONENTS.map((k) => [k, (tree as Record<string, ParamTree>)[k]]));
    const params: Record<string, HostTensor> = initParams(encoderTree, o.seed);
    for (const path of Object.keys(params)) params[path] = o.initial?.[path] ?? params[path];
    // items go through in chunks of K (the last chunk padded with its first item's inputs)
    const K = Math.max(1, Math.min(o.chunk ?? 8, o.ids.length));
    const perItem = (f: FeatureField) => (f === 'input_features' ? [1, ...o.inputShapes[f]!] : o.inputShapes[f]!);
    const inputSpec = (f: FeatureField) => {
      const [n, ...rest] = perItem(f);
      return spec([K * n, ...rest]);
    };
    const specs: SpecTree = { params: paramSpecs(encoderTree), ...Object.fromEntries(o.fields.map((f) => [f, inputSpec(f)])) } as SpecTree;
    const exe = await compile(
      ({ params: p, ...inputs }: { params: never } & Record<string, never>) => {
        const out = encoderFeatures(o.model, p, inputs);
        return Object.fromEntries(o.fields.map((f) => [f, out[ENCODER_OUTPUT[f]]!]));
      },
      specs,
      { backend: o.backend },
    );
    const items = new Map<string, Partial<Record<FeatureField, Float32Array>>>();
    const shapes: Partial<Record<FeatureField, number[]>> = {};
    for (let at = 0; at < o.ids.length; at += K) {
      const chunk = o.ids.slice(at, at + K);
      const samples = await Promise.all(
        chunk.map(async (id) => {
          const s = await o.cache.get(id);
          if (!s) throw new Error(`encoder cache: ${id} is not in the feature cache`);
          for (const f of o.fields) if (!s[f]) throw new Error(`encoder cache: ${id} has no ${f}`);
          return s;
        }),
      );
      const inputs: Record<string, unknown> = { params };
      for (const f of o.fields) {
        const per = samples[0][f]!.length;
        const data = new Float32Array(K * per);
        for (let r = 0; r < K; r++) data.set((samples[r] ?? samples[0])[f]!, r * per);
        inputs[f] = data;
      }
      const out = await exe.run(inputs);
      for (const f of o.fields) {
        const [n, ...rest] = out[f].shape;
        shapes[f] = [n / K, ...rest];
      }
      chunk.forEach((id, r) => {
        const row: Partial<Record<FeatureField, Float32Array>> = {};
        for (const f of o.fields) {
          const per = out[f].data.length / K;
          row[f] = (out[f].data as Float32Array).slice(r * per, (r + 1) * per);
        }
        items.set(id, row);
      });
      o.progress?.(at + chunk.length, o.ids.length);
    }
    return new EncodedItems(shapes, items);
  }

  /**
   * Standardises every channel of the stored outputs over all items (and frames, positions, time):
   * x' = (x - mean) / std, in place, and returns the statistics. The model is unchanged: the first
   * linear layer after each encoder absorbs the affine map (foldStandardization). Why: the tiny
   * random encoders' outputs differ between clips by a small fraction of their size (audio:
   * between-clip std / RMS 0.18), which a projector trained from scratch is slow to amplify.
   */
  standardize(): Partial<Record<FeatureField, ChannelStats>> {
    const out: Partial<Record<FeatureField, ChannelStats>> = {};
    for (const f of Object.keys(this.shapes) as FeatureField[]) {
      const shape = this.shapes[f]!;
      const { channels, stride } = channelLayout(f, shape);
      const sum = new Float64Array(channels);
      const sq = new Float64Array(channels);
      let count = 0;
      for (const row of this.items.values()) {
        const v = row[f]!;
        for (let i = 0; i < v.length; i++) {
          const c = Math.floor(i / stride) % channels;
          sum[c] += v[i];
          sq[c] += v[i] * v[i];
        }
        count += v.length / channels;
      }
      const mean = sum.map((x) => x / count);
      const std = sq.map((x, c) => Math.sqrt(Math.max(x / count - mean[c] * mean[c], 0)) + 1e-5);
      for (const row of this.items.values()) {
        const v = row[f]!;
        for (let i = 0; i < v.length; i++) {
          const c = Math.floor(i / stride) % channels;
          v[i] = (v[i] - mean[c]) / std[c];
        }
      }
      out[f] = { mean, std };
    }
    return out;
  }

  /** The rows of `ids`, one after the other: [B*T, ...] for video, [B, ...] for audio. */
  batch(ids: readonly string[], field: FeatureField): Float32Array {
    const per = this.shapes[field]!.reduce((a, b) => a * b, 1);
    const out = new Float32Array(ids.length * per);
    ids.forEach((id, r) => {
      const v = this.items.get(id)?.[field];
      if (!v) throw new Error(`encoder cache: ${id} has no encoded ${field}`);
      out.set(v, r * per);
    });
    return out;
  }

  /** The batch shape of a field's encoded rows for `B` items. */
  batchShape(field: FeatureField, B: number): number[] {
    const [n, ...rest] = this.shapes[field]!;
    return [B * n, ...rest];
  }
}
