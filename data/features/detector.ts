/**
 * The default face detector of the feature pipeline: face-api's tiny face detector ported to our
 * compiler (models/face/tiny-face-detector.ts) with the weights the package ships, loaded once
 * per backend. `FaceDetector` (preprocess.ts) is the interface: any other detector plugs in.
 */
import type { BackendName } from '../../runtime/gpu';
import { loadTinyFaceDetector, type TinyFaceDetector } from '../../models/face/tiny-face-detector';
import type { Box, Detection, FaceDetector } from './preprocess';

const loaded = new Map<string, TinyFaceDetector>();

export function tinyFaceDetector(backend?: BackendName): FaceDetector {
  const key = backend ?? '';
  return {
    name: 'tiny-face-detector',
    async detect(rgb, width, height, opts): Promise<Detection[]> {
      let d = loaded.get(key);
      if (!d) loaded.set(key, (d = loadTinyFaceDetector({ backend })));
      const faces = await d.detectFaces(rgb, width, height, { inputSize: opts.inputSize, scoreThreshold: opts.scoreThreshold });
      return faces.map((f) => ({ box: [...f.box] as Box, score: f.score }));
    },
  };
}
