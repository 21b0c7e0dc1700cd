import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spec, trace } from '../compiler/trace';
import type { SpecTree } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { evaluate } from '../runtime/reference';
import { valueAndGrad } from '../dsl/grad';
import type { Tensor } from '../dsl/tensor';
import { countParams, initParams, paramEntries, paramSpecs } from '../dsl/params';
import type { ParamTree } from '../dsl/params';
import { numel } from '../compiler/ir';
import { writeSafetensorsAtomic } from '../runtime/safetensors';
import { saveWeights } from '../models/weights';
import { runArchitecture } from '../models/run';
import { QWEN2_7B_PARAMS } from '../models/llm/qwen2';
import { faceXFormerPaperConfig, faceXFormerParamCount } from '../models/face/facexformer';
import type { FaceTokensParams } from '../models/face/projector';
import { faceTokens } from '../models/face/projector';
import { expressionLogits } from '../models/face/expression-net';
import type { Fusion, OmniConfig } from '../models/omni/config';
import { FUSIONS, llavaConfig, omniConfig } from '../models/omni/config';
import { visualTokens } from '../models/vision/llava';
import type { OmniParams } from '../models/omni/model';
import {
  COMPONENTS, audioBlock, causalLmLoss, checkPlaceholders, faceApiExpressionFeatures, faceApiExpressionShapes, faceApiExpressionWeights, imagenetToRgb255, spliceBlocks, faceTokensOf, omniEmbeddings, omniForward, omniParamCounts, omniParams, splicedLength,
  encoderFeatures, tokensPerFrameOf, videoTokenCount,
} from '../models/omni/model';
import { FACE_API_FACE, PRESETS, PRESET_INPUTS, preset } from '../models/omni/presets';
import { fuseVideo, fusionParams } from '../models/omni/fusion';
import { IGNORE_INDEX, PLACEHOLDERS } from '../data/tokenizer/chat';
import { BACKEND, assertClose, rng } from './helpers/check';
import { checkGrads } from './helpers/gradcheck';

// ------------------------------------------------------------------ a micro config

const V = PLACEHOLDERS.video.id; // -200
const A = PLACEHOLDERS.audio.id; // -300
const VOCAB = 40;

const microJson = (fusion: Fusion, face: 'tiny' | 'facexformer' = 'tiny') => ({
  model_type: 'omni-emotion',
  text_config: { vocab_size: VOCAB, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, pad_token_id: 0, rope_theta: 10000 },
  // 24 px / patch 8: 3x3 patches, bilinear-pooled to 2x2 = 4 tokens a frame; 2 layers, LLaVA runs 1
  vision_config: { hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, image_size: 24, patch_size: 8 },
  // 24 mel frames -> 12 encoder frames -> 4 audio tokens
  audio_config: { num_mel_bins: 8, d_model: 8, encoder_layers: 1, encoder_attention_heads: 2, encoder_ffn_dim: 12, max_source_positions: 12 },
  face_config:
    face === 'tiny'
      ? { model_type: 'tiny_face_cnn', image_size: 16, hidden_sizes: [4, 6] } // -> 6 x 4 x 4, pooled to 2x2
      : { model_type: 'facexformer', embed_dim: 4, depths: [1, 1], num_heads: [1, 2], window_size: 2, fusion_hidden_size: 6, image_size: 16 },
  face_pool_size: 2,
  fusion,
  fusion_num_heads: 2,
  num_frames: 2,
});
const micro = (fusion: Fusion, face: 'tiny' | 'facexformer' = 'tiny') => omniConfig(microJson(fusion, face), 'micro');

const B = 2;
const T = 2;
const L = 10;
// row 0: <video> then <audio>; row 1: <audio> first, both elsewhere (the splice is per row)
const IDS = [
  [5, 6, V, 7, A, 8, 9, 10, 11, 12],
  [5, A, 6, 7, 8, V, 9, 10, 0, 0],
];
// answers: the last text tokens; the rest IGNORE_INDEX (placeholder labels are arbitrary on purpose)
const LABELS = [
  [IGNORE_INDEX, IGNORE_INDEX, 33, IGNORE_INDEX, 17, IGNORE_INDEX, 9, 10, 11, 12],
  [IGNORE_INDEX, 21, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 3, 9, 10, IGNORE_INDEX, IGNORE_INDEX],
];
const flat = (rows: number[][]) => rows.flat();

const inputSpecs = (c: OmniConfig, withLabels = false): SpecTree => ({
  input_ids: spec([B, L], 'i32'),
  pixel_values: spec([B * T, 3, 24, 24]),
  face_values: spec([B * T, 3, 16, 16]),
  input_features: spec([B, c.audio_config.num_mel_bins, 24]),
  ...(withLabels ? { labels: spec([B, L], 'i32') } : {}),
});

const tree = (c: OmniConfig) => omniParams(c) as unknown as ParamTree;

/** Random values for every input of a traced function: parameters from initParams, data uniform. */
function valuesFor(traced: ReturnType<typeof trace>, c: OmniConfig, seed = 3): Map<string, number[]> {
  const init = initParams(tree(c), seed);
  const r = rng(seed);
  const m = new Map<string, number[]>();
  for (const i of traced.inputs) {
    if (i.name === 'inputs.input_ids') m.set(i.name, flat(IDS));
    else if (i.name === 'inputs.labels') m.set(i.name, flat(LABELS));
    else if (i.name.startsWith('params.')) m.set(i.name, Array.from(init[i.name.slice(7)].data));
    else m.set(i.name, Array.from({ length: numel(i.shape) }, () => r() * 2 - 1));
  }
  return m;
}

/** The reference interpreter's outputs with their shapes. */
function run(traced: ReturnType<typeof trace>, vals: ReadonlyMap<string, number[]>): Map<string, { shape: number[]; data: Float64Array }> {
  const out = evaluate(traced.graph, vals);
  return new Map(traced.graph.outputs.map(([k, n]) => [k, { shape: [...n.type.shape], data: out.get(k)!.data as Float64Array }]));
}

const rows = (data: ArrayLike<number>, shape: readonly number[]) => {
  const [b, n, h] = shape;
  return Array.from({ length: b }, (_, i) => Array.from({ length: n }, (_, j) => Array.from(data).slice((i * n + j) * h, (i * n + j + 1) * h)));
};

// ------------------------------------------------------------------ tests

describe('omni-emotion config and presets', () => {
  it('decodes with defaults; errors name the field', () => {
    const c = omniConfig({ ...microJson('video_concat'), fusion: undefined, fusion_num_heads: undefined });
    expect([c.fusion, c.fusion_num_heads, c.video_token_index, c.audio_token_index, c.ignore_index, c.mm_vision_select_layer, c.audio_pool_stride]).toEqual(['video_concat', 2, -200, -300, -100, -2, 3]);
    const bad = (patch: object) => () => omniConfig({ ...microJson('video_concat'), ...patch }, 'c.json');
    expect(bad({ fusion: 'sum' })).toThrow(/field 'fusion'/);
    expect(bad({ fusion_num_heads: 3 })).toThrow(/field 'fusion_num_heads': 3 does not divide .* 16/);
    expect(bad({ face_pool_size: 5 })).toThrow(/field 'face_pool_size': 5 is larger than the face map's side 4/);
    expect(bad({ face_config: { model_type: 'dlib' } })).toThrow(/field 'face_config.model_type': unknown face encoder "dlib"/);
    expect(bad({ face_config: { model_type: 'facexformer', embed_dim: 4 } })).toThrow(/face_config.depths/);
    expect(bad({ text_config: { ...microJson('video_concat').text_config, hidden_size: undefined } })).toThrow(/missing field 'text_config.hidden_size'/);
    expect(bad({ audio_token_index: -200 })).toThrow(/audio_token_index/);
    expect(bad({ video_token_index: 5 })).toThrow(/video_token_index/);
    expect(bad({ mm_vision_select_layer: -3 })).toThrow(/mm_vision_select_layer/);
    for (const p of PRESETS) for (const f of FUSIONS) expect(preset(p, { fusion: f }).fusion).toBe(f);
  });

  it('parameter counts per component for every preset; the paper preset matches the real models', () => {
    const table: Record<string, Record<string, number>> = {};
    for (const p of PRESETS) for (const f of ['video_concat', 'cross_attention'] as const) {
      const c = preset(p, { fusion: f });
      const counts = omniParamCounts(c);
      table[`${p}${f === 'video_concat' ? '' : ' +cross-attn'}`] = counts;
      // the formulas agree with the parameter trees, component by component
      const t = omniParams(c) as unknown as Record<string, ParamTree>;
      for (const k of COMPONENTS) expect(counts[k], `${p} ${k}`).toBe(t[k] ? countParams(t[k]) : 0);
      expect(counts.total).toBe(countParams(t));
    }
    console.log('omni-emotion parameters per component:');
    console.table(Object.fromEntries(Object.entries(table).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([n, x]) => [n, x.toLocaleString('en-US')]))])));
    const paper = table.paper;
    expect(paper.llm).toBe(7_615_616_512);
    expect(paper.llm).toBe(QWEN2_7B_PARAMS);
    expect(paper.vision_tower).toBe(397_747_744);
    expect(paper.mm_projector).toBe(16_980_992);
    expect(paper.image_newline).toBe(3_584);
    expect(paper.audio_encoder).toBe(636_968_960);
    expect(paper.audio_projector).toBe(1280 * 3584 + 3584 + 3584 * 3584 + 3584);
    expect(paper.face_encoder).toBe(faceXFormerParamCount(faceXFormerPaperConfig));
    expect(paper.face_encoder).toBe(87_497_912);
    expect(paper.face_projector).toBe(256 * 3584 + 3584 + 3584 * 3584 + 3584);
    expect(paper.fusion).toBe(0);
    expect(table['paper +cross-attn'].fusion).toBe(4 * (3584 * 3584 + 3584) + 4 * 3584);
    expect(paper.total).toBe(8_786_025_176);
  });

  it('token counts: paper 8 x 196 + 1 visual, 8 x 49 face, 500 audio', () => {
    const c = preset('paper');
    expect(tokensPerFrameOf(c)).toEqual({ visual: 196, face: 49 });
    expect(videoTokenCount(c)).toBe(8 * 196 + 1 + 8 * 49);
    expect(videoTokenCount(c, { face: false })).toBe(8 * 196 + 1);
    expect(splicedLength(c, 100, { video: true, audioMelFrames: 3000 })).toBe(100 - 2 + 1961 + 500);
    const tiny = preset('tiny');
    expect(tokensPerFrameOf(tiny)).toEqual({ visual: 4, face: 9 });
    expect(splicedLength(tiny, 100, { video: true, audioMelFrames: PRESET_INPUTS.tiny.melFrames })).toBe(100 - 2 + 4 * 13 + 1 + 50);
  });

  it('every preset traces at its input sizes; the paper one is also optimized (not run)', () => {
    for (const name of PRESETS) {
      const c = preset(name);
      const { frameSize, faceSize, melFrames } = PRESET_INPUTS[name];
      const T = c.num_frames;
      const specs = { params: paramSpecs(tree(c)), inputs: { input_ids: spec([1, 64], 'i32'), labels: spec([1, 64], 'i32'), pixel_values: spec([T, 3, frameSize, frameSize]), face_values: spec([T, 3, faceSize, faceSize]), input_features: spec([1, 128, melFrames]) } };
      const traced = trace(({ params, inputs }: { params: OmniParams; inputs: any }) => omniForward(c, params, inputs), specs);
      const g = name === 'paper' ? optimize(traced.graph) : traced.graph;
      const shapes = Object.fromEntries(g.outputs.map(([k, n]) => [k, [...n.type.shape]]));
      expect(shapes, name).toEqual({ logits: [1, splicedLength(c, 64, { video: true, audioMelFrames: melFrames }), c.text_config.vocab_size], loss: [] });
    }
    // tiny with face-api's expression CNN as the face encoder: 112 px crops, 3x3 face tokens
    const c = preset('tiny', FACE_API_FACE);
    const traced = trace(({ params, face }: { params: OmniParams; face: Tensor }) => faceTokensOf(c, params, face, 1), { params: paramSpecs(tree(c)), face: spec([4, 3, 112, 112]) });
    expect([...traced.graph.outputs[0][1].type.shape]).toEqual([1, 4, 9, 128]);
  });
});

describe('omni-emotion forward', () => {
  it('forward shapes for each fusion variant, and with one visual stream missing', () => {
    for (const fusion of FUSIONS) for (const face of ['tiny', 'facexformer'] as const) {
      const c = micro(fusion, face);
      const traced = trace(({ params, inputs }: { params: OmniParams; inputs: any }) => {
        const e = omniEmbeddings(c, params, inputs);
        return { logits: omniForward(c, params, inputs).logits, video: e.video!, audio: e.audio! };
      }, { params: paramSpecs(tree(c)), inputs: inputSpecs(c) });
      const shapes = Object.fromEntries(traced.graph.outputs.map(([k, n]) => [k, [...n.type.shape]]));
      // 2 frames x (4 visual + 4 face) + newline = 17; audio 4; L' = 10 - 2 + 17 + 4
      expect(shapes, `${fusion}/${face}`).toEqual({ logits: [B, 29, VOCAB], video: [B, 17, 16], audio: [B, 4, 16] });
      expect(videoTokenCount(c)).toBe(17);
    }
    const c = micro('video_concat');
    const only = (keep: string[]) => {
      const specs = inputSpecs(c) as Record<string, SpecTree>;
      const traced = trace(({ params, inputs }: { params: OmniParams; inputs: any }) => omniForward(c, params, inputs).logits, { params: paramSpecs(tree(c)), inputs: Object.fromEntries(keep.map((k) => [k, specs[k]])) });
      return [...traced.graph.outputs[0][1].type.shape];
    };
    expect(only(['input_ids', 'pixel_values', 'input_features'])).toEqual([B, 10 - 2 + 9 + 4, VOCAB]);
    expect(only(['input_ids', 'face_values'])).toEqual([B, 10 - 1 + 8, VOCAB]);
    expect(only(['input_ids'])).toEqual([B, 10, VOCAB]);
    expect(() => only(['input_ids', 'pixel_values', 'input_features']).length).not.toThrow();
    expect(() => trace(({ params, inputs }: any) => omniForward(c, params, inputs).logits, { params: paramSpecs(tree(c)), inputs: { ...(inputSpecs(c) as object), pixel_values: spec([3, 3, 24, 24]) } })).toThrow(/pixel_values has 3 frames; 2 samples x num_frames 2 = 4 expected/);
  });

  it('the splice puts each block exactly at its placeholder, per row; the fusion orders match the paper', () => {
    for (const fusion of FUSIONS) {
      const c = micro(fusion);
      const traced = trace(({ params, inputs }: { params: OmniParams; inputs: any }) => {
        const e = omniEmbeddings(c, params, inputs);
        return {
          embeds: e.embeds, text: e.text, video: e.video!, audio: e.audio!, labels: e.labels!,
          // llava.ts's own path (with its newline) and the face path, computed separately
          visual: visualTokens(llavaConfig(c), params as never, inputs.pixel_values, T), face: faceTokensOf(c, params, inputs.face_values, B),
          audio2: audioBlock(c, params, inputs.input_features),
        };
      }, { params: paramSpecs(tree(c)), inputs: inputSpecs(c, true) });
      const vals = valuesFor(traced, c);
      const out = run(traced, vals);
      const get = (k: string) => out.get(k)!;
      const embeds = rows(get('embeds').data, get('embeds').shape);
      const text = rows(get('text').data, get('text').shape);
      const video = rows(get('video').data, get('video').shape);
      const audio = rows(get('audio').data, get('audio').shape);
      const labels = Array.from(get('labels').data);
      const [Lv, La] = [video[0].length, audio[0].length];
      // the blocks fed to the LLM are the separately computed ones
      expect(get('audio').data).toEqual(get('audio2').data);
      const visual = get('visual'); // [B, T*4 + 1, H]: T frames of 4 tokens, then the newline
      const face = get('face');
      const frameRows = (x: { shape: number[]; data: Float64Array }, b: number, t: number, n = 4) => rows(x.data, [B, x.shape[1], 16])[b].slice(t * n, (t + 1) * n);
      const newline = Array.from(initParams(tree(c), 3)['image_newline'].data);
      for (let b = 0; b < B; b++) expect(rows(visual.data, visual.shape)[b][2 * 4]).toEqual(newline);
      expect(face.shape).toEqual([B, T, 4, 16]);
      const faceFlat = { shape: [B, T * 4, 16], data: face.data };
      for (let b = 0; b < B; b++) {
        const expected: number[][] = [];
        const lab: number[] = [];
        IDS[b].forEach((id, i) => {
          if (id === V) { expected.push(...video[b]); lab.push(...Array(Lv).fill(IGNORE_INDEX)); }
          else if (id === A) { expected.push(...audio[b]); lab.push(...Array(La).fill(IGNORE_INDEX)); }
          else { expected.push(text[b][i]); lab.push(LABELS[b][i]); }
        });
        expect(embeds[b]).toEqual(expected);
        expect(labels.slice(b * expected.length, (b + 1) * expected.length)).toEqual(lab);
        // the <video> block's order for this fusion variant
        const V_ = [0, 1].map((t) => frameRows(visual, b, t));
        const F_ = [0, 1].map((t) => frameRows(faceFlat, b, t));
        const want = fusion === 'frame_concat' ? [...V_[0], ...F_[0], ...V_[1], ...F_[1], newline] : [...V_[0], ...V_[1], newline, ...F_[0], ...F_[1]];
        if (fusion === 'cross_attention') {
          expect(video[b].slice(0, 9)).toEqual(want.slice(0, 9));
          // the face tokens are attended (residual): changed, same count
          expect(video[b].slice(9)).not.toEqual(want.slice(9));
        } else {
          video[b].forEach((tok, i) => assertClose(tok, want[i], 1e-12, 1e-12, `${fusion} row ${b} token ${i}`));
        }
      }
    }
  });

  it('precomputed encoder features give the same logits and loss as the raw inputs', () => {
    const c = micro('frame_concat');
    const traced = trace(({ params, inputs }: { params: OmniParams; inputs: any }) => {
      const raw = omniForward(c, params, inputs);
      const f = encoderFeatures(c, params, inputs);
      const cached = omniForward(c, params, { input_ids: inputs.input_ids, labels: inputs.labels, ...f });
      return { raw: raw.logits, cached: cached.logits, rawLoss: raw.loss!, cachedLoss: cached.loss!, vision: f.vision_hidden!, face: f.face_map!, audio: f.audio_hidden! };
    }, { params: paramSpecs(tree(c)), inputs: inputSpecs(c, true) });
    const out = run(traced, valuesFor(traced, c));
    expect([out.get('vision')!.shape, out.get('face')!.shape, out.get('audio')!.shape]).toEqual([[B * T, 9, 8], [B * T, 6, 4, 4], [B, 12, 8]]);
    expect(Array.from(out.get('cached')!.data)).toEqual(Array.from(out.get('raw')!.data));
    expect(out.get('cachedLoss')!.data[0]).toBe(out.get('rawLoss')!.data[0]);
  });

  it('the face path with FaceXFormer equals models/face/projector.ts faceTokens', () => {
    const c = micro('video_concat', 'facexformer');
    const traced = trace(({ params, face }: { params: OmniParams; face: Tensor }) => {
      const faceCfg = { face: c.face_config as never, hidden_size: 16, face_pool_size: 2 };
      return { ours: faceTokensOf(c, params, face, B), theirs: faceTokens(faceCfg, { face_encoder: params.face_encoder, face_projector: params.face_projector } as FaceTokensParams, face, T) };
    }, { params: paramSpecs(tree(c)), face: spec([B * T, 3, 16, 16]) });
    const out = run(traced, valuesFor(traced, c));
    expect(out.get('ours')!.shape).toEqual([B, T, 4, 16]);
    expect(Array.from(out.get('ours')!.data)).toEqual(Array.from(out.get('theirs')!.data));
  });

  it('the face_api_expression encoder is face-api\'s expression net up to its pooling; its bundled weights load', () => {
    const shapes = faceApiExpressionShapes();
    const traced = trace(({ w, fc, x }: { w: Record<string, Tensor>; fc: Record<string, Tensor>; x: Tensor }) => {
      const feats = faceApiExpressionFeatures(w, x);
      return { feats, logits: expressionLogits({ ...w, ...fc }, x) };
    }, { w: Object.fromEntries(shapes.map(([n, sh]) => [n, spec(sh)])), fc: { 'fc/weights': spec([256, 7]), 'fc/bias': spec([7]) }, x: spec([1, 3, 112, 112]) });
    const r = rng(11);
    const vals = new Map(traced.inputs.map((i) => [i.name, Array.from({ length: numel(i.shape) }, () => (i.name === 'x' ? r() * 255 : (r() - 0.5) * 0.4))]));
    // optimised: CSE shares the two nets' identical layers, so the reference runs them once
    const out = run({ ...traced, graph: optimize(traced.graph) }, vals);
    const feats = out.get('feats')!;
    expect(feats.shape).toEqual([1, 256, 7, 7]);
    // mean over the 7x7 map, then fc: face-api's logits
    const W = vals.get('fc.fc/weights')!, b = vals.get('fc.fc/bias')!;
    const want = Array.from({ length: 7 }, (_, k) => b[k] + Array.from({ length: 256 }, (_, ch) => feats.data.slice(ch * 49, ch * 49 + 49).reduce((a, v) => a + v, 0) / 49 * W[ch * 7 + k]).reduce((a, v) => a + v, 0));
    assertClose(out.get('logits')!.data, want, 1e-9, 1e-9, 'logits');
    const c = omniConfig({ ...microJson('video_concat'), face_config: { model_type: 'face_api_expression' }, face_pool_size: 3 });
    expect(omniParamCounts(c).face_encoder).toBe(shapes.reduce((a, [, sh]) => a + numel(sh), 0));
    const w = faceApiExpressionWeights();
    const names = paramEntries(tree(c)).filter(([p]) => p.startsWith('face_encoder.'));
    expect(Object.keys(w).sort()).toEqual(names.map(([p]) => p).sort());
    for (const [p, sp] of names) expect(w[p].shape).toEqual([...sp.shape]);
    // the omni face path takes ImageNet-normalised crops and turns them back into 0..255
    const back = trace(({ x }: { x: Tensor }) => imagenetToRgb255(x), { x: spec([1, 3, 1, 2]) });
    const px = [0, 255, 10, 20, 128, 64];
    const norm = px.map((v, i) => (v / 255 - [0.485, 0.456, 0.406][i >> 1]) / [0.229, 0.224, 0.225][i >> 1]);
    assertClose(run(back, new Map([['x', norm]])).get('')!.data, px, 0, 1e-9, 'rgb');
  });

  it('loss: causal-LM cross-entropy over the answer labels only', () => {
    const c = micro('video_concat');
    const traced = trace(({ params, inputs }: { params: OmniParams; inputs: any }) => {
      const r = omniForward(c, params, inputs);
      return { logits: r.logits, loss: r.loss! };
    }, { params: paramSpecs(tree(c)), inputs: inputSpecs(c, true) });
    const vals = valuesFor(traced, c);
    const lossOf = (labels: number[][]) => {
      const out = run(traced, new Map(vals).set('inputs.labels', flat(labels)));
      return { loss: out.get('loss')!.data[0], logits: out.get('logits')! };
    };
    const base = lossOf(LABELS);
    // by hand: spliced labels (blocks ignored), shifted by one, mean over the rest
    const [, Lp] = base.logits.shape;
    const spliced = IDS.map((row, b) => row.flatMap((id, i) => (id === V ? Array(17).fill(IGNORE_INDEX) : id === A ? Array(4).fill(IGNORE_INDEX) : [LABELS[b][i]])));
    let sum = 0;
    let count = 0;
    for (let b = 0; b < B; b++) for (let i = 0; i + 1 < Lp; i++) {
      const y = spliced[b][i + 1];
      if (y === IGNORE_INDEX) continue;
      const z = Array.from(base.logits.data.slice((b * Lp + i) * VOCAB, (b * Lp + i + 1) * VOCAB));
      const m = Math.max(...z);
      sum += Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0)) + m - z[y];
      count++;
    }
    expect(count).toBe(6); // the answer tokens: 4 in row 0, 2 in row 1 (the labels at placeholder positions are dropped)
    expect(base.loss).toBeCloseTo(sum / count, 10);
    // labels at placeholder positions, at position 0 (never a target) and the ignore index change nothing
    const moved = LABELS.map((r) => [...r]);
    moved[0][0] = 7; moved[0][2] = 1; moved[0][4] = 2; moved[1][1] = 3; moved[1][5] = 4; moved[1][0] = 5;
    expect(lossOf(moved).loss).toBe(base.loss);
    // an answer label matters; setting it to the ignore index removes it from the mean
    const changed = LABELS.map((r) => [...r]);
    changed[0][9] = 13;
    expect(lossOf(changed).loss).not.toBe(base.loss);
    expect(lossOf(LABELS.map((r) => r.map(() => IGNORE_INDEX))).loss).toBe(0);
  });

  it('gradients reach the projectors, the newline and the cross-attention (finite differences, reference)', async () => {
    const c = micro('cross_attention');
    const trainable = (p: string) => /^params\.(mm_projector|image_newline|audio_projector|face_projector|fusion)\b/.test(p);
    const specs = { params: paramSpecs(tree(c)), inputs: inputSpecs(c, true) };
    const loss = ({ params, inputs }: { params: OmniParams; inputs: any }) => omniForward(c, params, inputs).loss!;
    const traced = trace(loss, specs);
    // finite differences on one weight of each part (every trainable leaf is checked non-zero below)
    const probed = ['mm_projector.0.weight', 'image_newline', 'audio_projector.0.weight', 'face_projector.2.weight', 'fusion.cross_attn.q_proj.weight', 'fusion.cross_attn.norm_kv.weight', 'fusion.cross_attn.out_proj.bias'].map((p) => `params.${p}`);
    const skip = traced.inputs.map((i) => i.name).filter((n) => !probed.includes(n));
    const vals = valuesFor(traced, c);
    const gen = Object.fromEntries(traced.inputs.map((i) => [i.name, () => vals.get(i.name)!]));
    await checkGrads(loss, specs, { skip, gen, samples: 3, eps: 1e-5, rtol: 1e-4, atol: 1e-7, device: false });
    // and none of them is zero
    const g = evaluate(trace(valueAndGrad(loss, { wrt: trainable }), specs).graph, vals);
    const names = [...g.keys()].filter((k) => k.startsWith('grads.'));
    expect(names.length).toBe(4 + 1 + 4 + 4 + 12); // mm_projector, image_newline, audio_projector, face_projector, fusion.cross_attn
    for (const k of names) expect(Math.max(...Array.from(g.get(k)!.data, Math.abs)), k).toBeGreaterThan(0);
  });

  it('checkPlaceholders names the row', () => {
    const c = micro('video_concat');
    expect(() => checkPlaceholders(c, IDS, { video: true, audio: true })).not.toThrow();
    expect(() => checkPlaceholders(c, [[1, V, V, A]], { video: true, audio: true })).toThrow(/row 0 holds 2 <video>/);
    expect(() => checkPlaceholders(c, [[1, V, 2]], { video: true, audio: true })).toThrow(/row 0 holds 0 <audio>/);
    expect(() => checkPlaceholders(c, [[1, V, -7]], { video: true, audio: false })).toThrow(/negative id -7/);
  });
});

describe('omni-emotion run', () => {
  // The whole model's gradient graph is ~340 distinct shaders (~100 s to compile cold on llvmpipe),
  // so the device runs the forward pass; --grad runs on the reference backend, and the parts new
  // here (splice, cross-attention, loss) get their device gradient check on their own below.
  it('`run omni-emotion` with random weights: forward on the device matches the reference; --grad writes every gradient', async () => {
    const c = micro('cross_attention');
    const dir = mkdtempSync(join(tmpdir(), 'omni-run-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(microJson('cross_attention')));
    const t = tree(c);
    const weights = initParams(t, 3);
    saveWeights(join(dir, 'weights.safetensors'), weights);
    const r = rng(5);
    const data = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1);
    const shapes = { pixel_values: [B * T, 3, 24, 24], face_values: [B * T, 3, 16, 16], input_features: [B, 8, 24] };
    const inputs = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, data(s)]));
    const Lp = 29;
    const files = {
      input_ids: { dtype: 'I64' as const, shape: [B, L], data: BigInt64Array.from(flat(IDS).map(BigInt)) as never },
      ...Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, { dtype: 'F32' as const, shape: s, data: inputs[k] }])),
    };
    writeSafetensorsAtomic(join(dir, 'inputs.safetensors'), files);
    writeSafetensorsAtomic(join(dir, 'inputs-grad.safetensors'), { ...files, cotangent: { dtype: 'F32', shape: [B, Lp, VOCAB], data: data([B, Lp, VOCAB]) } });
    const args = { arch: 'omni-emotion', config: join(dir, 'config.json'), weights: join(dir, 'weights.safetensors'), inputs: join(dir, 'inputs.safetensors') };
    let t0 = performance.now();
    const fwd = await runArchitecture({ ...args, out: join(dir, 'out.safetensors'), backend: BACKEND });
    console.log(`run omni-emotion (micro, ${BACKEND}): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(Object.keys(fwd)).toEqual(['logits']);
    expect([...fwd.logits.shape]).toEqual([B, Lp, VOCAB]);
    // the reference interpreter on the same function and values
    const traced = trace(({ params, inputs: x }: { params: OmniParams; inputs: any }) => omniForward(c, params, x).logits, {
      params: paramSpecs(t),
      inputs: { input_ids: spec([B, L], 'i32'), ...Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, spec(s)])) },
    });
    const vals = new Map<string, number[]>();
    for (const [p] of paramEntries(t)) vals.set(`params.${p}`, Array.from(weights[p].data));
    vals.set('inputs.input_ids', flat(IDS));
    for (const k of Object.keys(shapes)) vals.set(`inputs.${k}`, Array.from(inputs[k]));
    assertClose(fwd.logits.data, run(traced, vals).get('')!.data, 1e-3, 1e-4, 'logits');
    // --grad: every parameter and float input gets its gradient
    t0 = performance.now();
    const got = await runArchitecture({ ...args, inputs: join(dir, 'inputs-grad.safetensors'), out: join(dir, 'grad.safetensors'), grad: true, backend: 'cpu' });
    console.log(`run omni-emotion --grad (micro, cpu): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assertClose(got.logits.data, fwd.logits.data, 1e-3, 1e-4, 'logits (cpu vs device)');
    const names = Object.keys(got).filter((k) => k.startsWith('grad.')).sort();
    expect(names).toEqual([...paramEntries(t).map(([p]) => `grad.${p}`), 'grad.face_values', 'grad.input_features', 'grad.pixel_values'].sort());
    for (const k of names) {
      expect(got[k].data.every(Number.isFinite), k).toBe(true);
      if (/projector|fusion|image_newline|face_values/.test(k)) expect(got[k].data.some((v) => v !== 0), k).toBe(true);
    }
  });

  it('splice + cross-attention fusion + causal-LM loss: gradients on the device and by finite differences', async () => {
    const H = 8, Nv = 3, Nf = 2;
    const f = ({ ids, labels, text, visual, face, newline, audio, fusion, head }: Record<string, any>) => {
      const video = fuseVideo('cross_attention', { visual, face, newline }, { params: fusion, heads: 2 });
      const s = spliceBlocks(ids, text, [{ id: V, tokens: video }, { id: A, tokens: audio }], labels);
      return causalLmLoss(s.embeds.matmul(head), s.labels!);
    };
    const fp = fusionParams('cross_attention', H)!;
    const specs = {
      ids: spec([B, L], 'i32'), labels: spec([B, L], 'i32'), text: spec([B, L, H]),
      visual: spec([B, T, Nv, H]), face: spec([B, T, Nf, H]), newline: spec([H]), audio: spec([B, 4, H]),
      fusion: paramSpecs(fp), head: spec([H, VOCAB]),
    };
    const labels = LABELS.map((r) => r.map((y) => (y === IGNORE_INDEX ? y : y % VOCAB)));
    await checkGrads(f, specs, { gen: { ids: () => flat(IDS), labels: () => flat(labels) }, samples: 4, eps: 1e-5, rtol: 1e-4, atol: 1e-7, deviceTol: 2e-4 });
  });
});
