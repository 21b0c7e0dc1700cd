/**
 * One video frame of a SynthEmo clip: background, face, then sensor-like noise over the whole
 * image. Pure in (scene, frame index): the same inputs give the same bytes, which is what lets
 * a test compare two valences under the same motion, background and noise.
 */
import { drawBackground, type BackgroundSpec } from './background';
import { drawFace, headOffset, type FaceSpec } from './face';
import { Canvas } from './raster';
import { Rng } from './rng';

export interface Scene {
  width: number;
  height: number;
  fps: number;
  face: FaceSpec;
  background: BackgroundSpec;
  /** amplitude of the per-pixel noise (0..255 scale) */
  noise: number;
  /** seeds the per-frame jitter and noise */
  seed: number;
}

/** Renders frame `i` as packed RGB (height x width x 3). */
export function renderFrame(scene: Scene, i: number, out = new Uint8Array(scene.width * scene.height * 3)): Uint8Array {
  const t = i / scene.fps;
  const c = new Canvas(scene.width, scene.height);
  drawBackground(c, scene.background, t);
  const [dx, dy] = headOffset(scene.face, t, Rng.derive(scene.seed, i, 1));
  drawFace(c, scene.face, dx, dy);
  // xorshift32 noise: one cheap draw per channel value
  let x = Rng.derive(scene.seed, i, 2).u32() | 1;
  const amp = scene.noise * 2;
  const d = c.data;
  for (let k = 0; k < d.length; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = d[k] + ((x >>> 0) / 4294967296 - 0.5) * amp;
    out[k] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return out;
}

/** The box (x0, y0, x1, y1) that holds the head in every frame: for tests and face crops. */
export function faceBox(scene: Scene): [number, number, number, number] {
  const f = scene.face;
  const m = f.swayX + 4 * f.jitter + 4;
  return [Math.floor(f.cx - f.rx - m), Math.floor(f.cy - f.ry - 6 - m), Math.ceil(f.cx + f.rx + m), Math.ceil(f.cy + f.ry + m)];
}
