/**
 * A drawn face whose expression carries valence, and only valence, by a few pixels (at 224 px):
 * mouth corners up to 9 px up (positive) or down (negative), the inner ends of the brows up to
 * 6 px up or down, and the eyes about 35% narrower (smiling) or wider. The sizes are set so the
 * cue survives the tiny preset's 48 px face crop (about 2 px of mouth bend at the first value tried,
 * 4 px, which a linear probe of the tiny encoders' features could not tell from chance). Identity (size, skin,
 * hair, feature placement) varies per sample and is independent of the class.
 */
import { Canvas, fillEllipse, strokeArc, strokeSegment, clamp01, ellipseCover, type RGB } from './raster';
import type { Rng } from './rng';

export interface FaceSpec {
  /** head centre, radii (pixels) */
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  skin: RGB;
  hair: RGB;
  shirt: RGB;
  /** fraction of the head height covered by hair, from the top */
  hairline: number;
  /** eye centres at cx +- eyeDx, cy + eyeDy; eye half-width and half-height */
  eyeDx: number;
  eyeDy: number;
  eyeW: number;
  eyeH: number;
  /** brow height above the eye centre, half-length */
  browUp: number;
  browHalf: number;
  /** mouth centre below cy, half-width */
  mouthDy: number;
  mouthHalf: number;
  /** in [-1, 1]: the only thing that differs between classes */
  valence: number;
  /** slow head sway: amplitude (px) and frequency (Hz) per axis, plus per-frame jitter (px) */
  swayX: number;
  swayY: number;
  swayHz: number;
  swayPhase: number;
  jitter: number;
}

/** Pixel offsets of each expression feature at valence v (exported for tests and docs). */
export function expression(v: number): { mouthBend: number; browInner: number; eyeOpen: number } {
  return { mouthBend: 9 * v, browInner: 6 * v, eyeOpen: 1 - 0.35 * v };
}

const SKINS: RGB[] = [[241, 194, 167], [224, 172, 105], [198, 134, 66], [141, 85, 36], [255, 219, 172], [170, 120, 90]];
const HAIRS: RGB[] = [[30, 20, 15], [90, 60, 30], [200, 160, 90], [120, 40, 20], [60, 60, 60], [15, 15, 15]];

export function makeFace(rng: Rng, width: number, height: number, valence: number): FaceSpec {
  const s = Math.min(width, height) / 224;
  const rx = rng.range(44, 54) * s;
  const ry = rx * rng.range(1.2, 1.35);
  return {
    cx: width / 2 + rng.range(-14, 14) * s,
    cy: height / 2 - 4 * s + rng.range(-10, 10) * s,
    rx, ry,
    skin: rng.pick(SKINS),
    hair: rng.pick(HAIRS),
    shirt: [rng.range(20, 230), rng.range(20, 230), rng.range(20, 230)],
    hairline: rng.range(0.22, 0.34),
    eyeDx: rx * rng.range(0.36, 0.44),
    eyeDy: -ry * rng.range(0.08, 0.16),
    eyeW: rx * rng.range(0.15, 0.19),
    eyeH: rx * rng.range(0.09, 0.11),
    browUp: ry * rng.range(0.16, 0.2),
    browHalf: rx * rng.range(0.17, 0.22),
    mouthDy: ry * rng.range(0.42, 0.5),
    mouthHalf: rx * rng.range(0.3, 0.38),
    valence,
    swayX: rng.range(1, 4) * s,
    swayY: rng.range(0.5, 2) * s,
    swayHz: rng.range(0.3, 0.9),
    swayPhase: rng.range(0, 2 * Math.PI),
    jitter: rng.range(0.3, 0.8) * s,
  };
}

const darker = (c: RGB, k: number): RGB => [c[0] * k, c[1] * k, c[2] * k];

/** Draws the face shifted by (dx, dy) pixels. */
export function drawFace(c: Canvas, f: FaceSpec, dx: number, dy: number): void {
  const cx = f.cx + dx, cy = f.cy + dy;
  const e = expression(f.valence);
  // shoulders (they move half as much as the head)
  fillEllipse(c, f.cx + dx / 2, f.cy + f.ry * 1.95 + dy / 2, f.rx * 1.9, f.ry * 0.75, f.shirt);
  fillEllipse(c, cx, cy + f.ry * 0.95, f.rx * 0.38, f.ry * 0.3, darker(f.skin, 0.9)); // neck
  fillEllipse(c, cx, cy, f.rx, f.ry, f.skin);
  // hair: a slightly larger ellipse, kept above the hairline with a soft edge
  const hairY = cy - f.ry + 2 * f.ry * f.hairline;
  const head = ellipseCover(cx, cy - 2, f.rx + 3, f.ry + 3);
  c.fill(cx - f.rx - 4, cy - f.ry - 6, cx + f.rx + 4, hairY + 1, f.hair, (px, py) => head(px, py) * clamp01(hairY - py + 0.5));
  for (const side of [-1, 1]) {
    const ex = cx + side * f.eyeDx, ey = cy + f.eyeDy;
    const open = f.eyeH * e.eyeOpen;
    fillEllipse(c, ex, ey, f.eyeW, open, [245, 245, 240]);
    // the iris is clipped to the eye white, so a narrower eye shows less of it
    const white = ellipseCover(ex, ey, f.eyeW, open);
    const iris = ellipseCover(ex, ey, f.eyeH * 0.95, f.eyeH * 0.95);
    c.fill(ex - f.eyeH - 1, ey - f.eyeH - 1, ex + f.eyeH + 1, ey + f.eyeH + 1, [35, 25, 20], (px, py) => white(px, py) * iris(px, py));
    // brow: the inner end moves with valence, the outer end stays
    const by = ey - f.browUp;
    const inner = ex - side * f.browHalf * 0.9, outer = ex + side * f.browHalf * 1.1;
    strokeSegment(c, inner, by - e.browInner, outer, by, 2.4, darker(f.hair, 0.8));
  }
  strokeSegment(c, cx, cy + f.eyeDy + f.eyeH, cx + 2, cy + f.mouthDy * 0.55, 2, darker(f.skin, 0.8)); // nose
  strokeArc(c, cx, cy + f.mouthDy, f.mouthHalf, e.mouthBend, 2.6, [140, 45, 50]);
}

/** The head's offset at time t: a slow sway plus per-frame jitter from `rng`. */
export function headOffset(f: FaceSpec, t: number, rng: Rng): [number, number] {
  const w = 2 * Math.PI * f.swayHz * t + f.swayPhase;
  return [f.swayX * Math.sin(w) + f.jitter * rng.normal(), f.swayY * Math.sin(1.7 * w) + f.jitter * rng.normal()];
}
