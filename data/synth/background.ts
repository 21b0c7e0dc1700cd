/**
 * A busy background: a slowly turning, flickering colour gradient with shapes drifting across
 * (wrapping at the edges), so the face is not the only thing that changes between frames.
 */
import { Canvas, fillEllipse, type RGB } from './raster';
import type { Rng } from './rng';

export interface Shape {
  kind: 'disc' | 'box';
  x: number;
  y: number;
  /** pixels per second */
  vx: number;
  vy: number;
  size: number;
  color: RGB;
  opacity: number;
}

export interface BackgroundSpec {
  from: RGB;
  to: RGB;
  /** gradient direction (radians) and its turning speed (radians per second) */
  angle: number;
  spin: number;
  /** brightness flicker: amplitude (0..1) and frequency (Hz) */
  flicker: number;
  flickerHz: number;
  shapes: Shape[];
}

const color = (rng: Rng, lo = 20, hi = 235): RGB => [rng.range(lo, hi), rng.range(lo, hi), rng.range(lo, hi)];

export function makeBackground(rng: Rng, width: number, height: number): BackgroundSpec {
  const scale = Math.min(width, height) / 224;
  const shapes: Shape[] = Array.from({ length: 5 + rng.int(4) }, () => ({
    kind: rng.next() < 0.5 ? 'disc' : 'box',
    x: rng.range(0, width),
    y: rng.range(0, height),
    vx: rng.range(-60, 60) * scale,
    vy: rng.range(-40, 40) * scale,
    size: rng.range(10, 40) * scale,
    color: color(rng),
    opacity: rng.range(0.5, 1),
  }));
  return { from: color(rng), to: color(rng), angle: rng.range(0, 2 * Math.PI), spin: rng.range(-0.6, 0.6), flicker: rng.range(0, 0.08), flickerHz: rng.range(0.5, 3), shapes };
}

const wrap = (v: number, n: number, margin: number) => ((((v + margin) % (n + 2 * margin)) + (n + 2 * margin)) % (n + 2 * margin)) - margin;

export function drawBackground(c: Canvas, b: BackgroundSpec, t: number): void {
  const { width: w, height: h, data } = c;
  const a = b.angle + b.spin * t;
  const ux = Math.cos(a) / w, uy = Math.sin(a) / h;
  const gain = 1 + b.flicker * Math.sin(2 * Math.PI * b.flickerHz * t);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = Math.min(1, Math.max(0, 0.5 + (x - w / 2) * ux + (y - h / 2) * uy));
      const i = (y * w + x) * 3;
      for (let k = 0; k < 3; k++) data[i + k] = (b.from[k] + (b.to[k] - b.from[k]) * s) * gain;
    }
  }
  for (const s of b.shapes) {
    const x = wrap(s.x + s.vx * t, w, s.size), y = wrap(s.y + s.vy * t, h, s.size);
    if (s.kind === 'disc') fillEllipse(c, x, y, s.size / 2, s.size / 2, s.color, s.opacity);
    else c.fill(x - s.size / 2, y - s.size / 2, x + s.size / 2, y + s.size / 2, s.color, () => 1, s.opacity);
  }
}
