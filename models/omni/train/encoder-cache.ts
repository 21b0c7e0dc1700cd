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
import { paramEntries, paramSpecs } from '../../../dsl/params';
import type { ParamTree } from '../../../dsl/params';
import type { OmniConfig } from '../config';
import { encoderFeatures, omniParams } from '../model';
import type { EncoderFeatures } from '../model';

/** Which encoder output stands for which raw input. */
export const ENCODER_OUTPUT: Record<FeatureField, keyof EncoderFeatures> = { pixel_values: 'vision_hidden', face_values: 'face_map', input_features: 'audio_hidden' };

/** Parameter paths of the encoders (what the encoding forward reads). */
const ENCODER_COMPONENTS = ['vision_tower', 'face_encoder', 'audio_encoder'];

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
   * Encodes the items `ids` of `cache` (the fields given) with the encoder values in `values`
   * (missing paths are an error: the caller passes the run's initial values).
   */
  static async build(o: {
    model: OmniConfig;
    values: Readonly<Record<string, HostTensor>>;
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
    const params: Record<string, HostTensor> = {};
    for (const [path] of paramEntries(encoderTree)) {
      const v = o.values[path];
      if (!v) throw new Error(`encoder cache: no value for ${path}`);
      params[path] = v;
    }
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
