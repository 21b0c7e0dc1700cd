/**
 * Anti-aliased drawing into a float RGB canvas. Each shape gives a pixel a coverage in [0, 1]
 * from its signed distance (0.5 - d), so a feature moved by a fraction of a pixel still changes
 * the image: SynthEmo's expressions differ by only a few pixels.
 */
export type RGB = readonly [number, number, number];

export class Canvas {
  readonly data: Float32Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Float32Array(width * height * 3);
  }

  blend(x: number, y: number, c: RGB, alpha: number): void {
    if (alpha <= 0) return;
    const i = (y * this.width + x) * 3;
    const d = this.data;
    if (alpha >= 1) {
      d[i] = c[0];
      d[i + 1] = c[1];
      d[i + 2] = c[2];
    } else {
      d[i] += (c[0] - d[i]) * alpha;
      d[i + 1] += (c[1] - d[i + 1]) * alpha;
      d[i + 2] += (c[2] - d[i + 2]) * alpha;
    }
  }

  /** Calls `cover(x + 0.5, y + 0.5)` for each pixel of the box (clipped to the canvas) and
   * blends `c` with the coverage it returns, times `opacity`. */
  fill(x0: number, y0: number, x1: number, y1: number, c: RGB, cover: (px: number, py: number) => number, opacity = 1): void {
    const xa = Math.max(0, Math.floor(x0)), xb = Math.min(this.width - 1, Math.ceil(x1));
    const ya = Math.max(0, Math.floor(y0)), yb = Math.min(this.height - 1, Math.ceil(y1));
    for (let y = ya; y <= yb; y++) for (let x = xa; x <= xb; x++) this.blend(x, y, c, cover(x + 0.5, y + 0.5) * opacity);
  }
}

export const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Coverage of an ellipse: its normalised radius minus one, scaled to pixels, is close to the
 * signed distance for the mildly elongated ellipses drawn here. */
export function ellipseCover(cx: number, cy: number, rx: number, ry: number): (px: number, py: number) => number {
  const s = Math.min(rx, ry);
  return (px, py) => {
    const u = (px - cx) / rx, v = (py - cy) / ry;
    return clamp01(0.5 - (Math.sqrt(u * u + v * v) - 1) * s);
  };
}

export function fillEllipse(c: Canvas, cx: number, cy: number, rx: number, ry: number, color: RGB, opacity = 1): void {
  c.fill(cx - rx - 1, cy - ry - 1, cx + rx + 1, cy + ry + 1, color, ellipseCover(cx, cy, rx, ry), opacity);
}

/** A thick segment with round ends. */
export function strokeSegment(c: Canvas, ax: number, ay: number, bx: number, by: number, thick: number, color: RGB): void {
  const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy || 1;
  const h = thick / 2;
  c.fill(Math.min(ax, bx) - h - 1, Math.min(ay, by) - h - 1, Math.max(ax, bx) + h + 1, Math.max(ay, by) + h + 1, color, (px, py) => {
    const t = clamp01(((px - ax) * dx + (py - ay) * dy) / len2);
    const ex = px - (ax + t * dx), ey = py - (ay + t * dy);
    return clamp01(h + 0.5 - Math.sqrt(ex * ex + ey * ey));
  });
}

/** A thick parabola through (cx - hw, cy - bend), (cx, cy), (cx + hw, cy - bend): a mouth whose
 * corners rise by `bend` pixels (fall when negative). */
export function strokeArc(c: Canvas, cx: number, cy: number, hw: number, bend: number, thick: number, color: RGB): void {
  const h = thick / 2;
  const k = bend / (hw * hw);
  const f = (x: number) => cy - k * (x - cx) * (x - cx);
  c.fill(cx - hw - h - 1, cy - Math.max(0, bend) - h - 1, cx + hw + h + 1, cy + Math.max(0, -bend) + h + 1, color, (px, py) => {
    const x = Math.max(cx - hw, Math.min(cx + hw, px));
    const slope = -2 * k * (x - cx);
    // vertical distance over the slope's stretch ~ distance to the curve; past the ends, to the end point
    const d = x === px ? Math.abs(py - f(x)) / Math.sqrt(1 + slope * slope) : Math.hypot(px - x, py - f(x));
    return clamp01(h + 0.5 - d);
  });
}
