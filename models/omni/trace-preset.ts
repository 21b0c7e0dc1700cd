/** Traces and optimises a preset's forward pass (no device needed): how big its graph is. */
import { spec, trace } from '../../compiler/trace';
import { optimize } from '../../compiler/passes';
import { graphNodes } from '../../compiler/ir';
import { paramSpecs } from '../../dsl/params';
import type { OmniConfig } from './config';
import { omniForward, omniParams } from './model';

export function traceOmniForward(c: OmniConfig, sizes: { frameSize: number; faceSize: number; melFrames: number }, textLength = 64): { nodes: number; optimisedNodes: number; seconds: number } {
  const t0 = performance.now();
  const T = c.num_frames;
  const ids = spec([1, textLength], 'i32');
  const specs = {
    params: paramSpecs(omniParams(c)),
    inputs: { input_ids: ids, pixel_values: spec([T, 3, sizes.frameSize, sizes.frameSize]), face_values: spec([T, 3, sizes.faceSize, sizes.faceSize]), input_features: spec([1, 128, sizes.melFrames]) },
  };
  const g = trace(({ params, inputs }: { params: any; inputs: any }) => omniForward(c, params, inputs).logits, specs).graph;
  const o = optimize(g);
  return { nodes: graphNodes(g).length, optimisedNodes: graphNodes(o).length, seconds: (performance.now() - t0) / 1000 };
}
