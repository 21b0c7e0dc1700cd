/**
 * The loss curves of a training run as a PNG, without a browser: a vega-lite line chart
 * (one line per stage, x = the run's global step, y = loss) compiled to vega, rendered to SVG
 * headless (renderer 'none'), rasterised by resvg (prebuilt binary from npm; it uses the system
 * fonts: DejaVu Sans is in the base image). Written atomically (temporary file, then rename), so
 * a viewer never sees half a PNG.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export interface LossPoint {
  readonly stage: string;
  /** step within the stage (1-based) */
  readonly step: number;
  /** step over the whole run (stage offsets added) */
  readonly global: number;
  readonly loss: number;
}

/** The (step, loss) rows of a loss CSV written by runtime/train/loop.ts (header `step,loss,...`). */
export function readLossCsv(file: string): { step: number; loss: number }[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n').slice(1);
  const out: { step: number; loss: number }[] = [];
  for (const l of lines) {
    const [s, v] = l.split(',');
    const step = Number(s);
    const loss = Number(v);
    if (l.trim() && Number.isFinite(step) && Number.isFinite(loss)) out.push({ step, loss });
  }
  return out;
}

/** The vega-lite spec of the chart. */
export function lossChartSpec(points: readonly LossPoint[], title: string): Record<string, unknown> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 640,
    height: 320,
    background: 'white',
    data: { values: points.map((p) => ({ ...p })) },
    mark: { type: 'line', point: points.length <= 60 },
    encoding: {
      x: { field: 'global', type: 'quantitative', title: 'step (whole run)' },
      y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: false } },
      color: { field: 'stage', type: 'nominal', title: 'stage', sort: null },
    },
  };
}

/** PNG bytes of the loss chart. */
export async function renderLossPng(points: readonly LossPoint[], title = 'training loss'): Promise<Uint8Array> {
  const [vega, vegaLite, { Resvg }] = await Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]);
  const compiled = vegaLite.compile(lossChartSpec(points, title) as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
    return new Uint8Array(png);
  } finally {
    view.finalize();
  }
}

/** Writes the loss chart to `file` atomically. */
export async function writeLossPng(file: string, points: readonly LossPoint[], title?: string): Promise<void> {
  const png = await renderLossPng(points, title);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, png);
  renameSync(tmp, file);
}
