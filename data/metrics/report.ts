/**
 * Result formatting: Markdown tables and JSON, for the evaluation CLI and its ablation tables
 * (`--ablate modality`: V, V+A, V+F, V+A+F; `--ablate fusion`: frame / video / cross-attention).
 * Rates from classification.ts / emer-ov.ts are fractions; `summaryRow` scales them x100 as papers
 * report them (EMER scores stay on their 1..10 scale).
 */
import type { ClassificationResult } from './classification';
import type { OvResult } from './emer-ov';
import type { EmerResult } from './emer';

export type Align = 'left' | 'right' | 'center';

export interface Column<R = Record<string, unknown>> {
  key: string;
  /** Header text (default: key). */
  header?: string;
  /** Default: right for numbers, left otherwise (decided from the first non-empty value). */
  align?: Align;
  /** Decimals for numbers (default 2). */
  digits?: number;
  /** Custom cell text; overrides `digits`. */
  format?: (value: unknown, row: R) => string;
}

/** Missing values (undefined, null, NaN) are shown as this. */
export const MISSING = '-';

function cellText(value: unknown, digits: number): string {
  if (value === undefined || value === null || (typeof value === 'number' && Number.isNaN(value))) return MISSING;
  if (typeof value === 'number') return value.toFixed(digits);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

/**
 * A GitHub-flavoured Markdown table. `columns` are keys or Column specs; cells are escaped
 * (`|` -> `\|`, newlines -> `<br>`). Ends without a trailing newline.
 */
export function markdownTable<R extends Record<string, unknown>>(rows: readonly R[], columns: readonly (string | Column<R>)[]): string {
  const cols: Column<R>[] = columns.map((c) => (typeof c === 'string' ? { key: c } : c));
  if (cols.length === 0) throw new Error('markdownTable: no columns');
  const header = cols.map((c) => escapeCell(c.header ?? c.key));
  const body = rows.map((r) => cols.map((c) => escapeCell(c.format ? c.format(r[c.key], r) : cellText(r[c.key], c.digits ?? 2))));
  const aligns = cols.map((c): Align => {
    if (c.align) return c.align;
    const first = rows.map((r) => r[c.key]).find((v) => v !== undefined && v !== null);
    return typeof first === 'number' ? 'right' : 'left';
  });
  const rule = aligns.map((a) => (a === 'right' ? '---:' : a === 'center' ? ':---:' : '---'));
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(rule), ...body.map(line)].join('\n');
}

/** Stable, pretty JSON; non-finite numbers become null (JSON has no NaN/Infinity). */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), indent);
}

export const MODALITY_SETTINGS = ['V', 'V+A', 'V+F', 'V+A+F'] as const;
export type ModalitySetting = (typeof MODALITY_SETTINGS)[number];
export const FUSION_SETTINGS = ['frame', 'video', 'cross-attn'] as const;
export type FusionSetting = (typeof FUSION_SETTINGS)[number];

/** The benchmark results of one setting (any subset). */
export interface SettingResults {
  emerOv?: OvResult;
  emer?: EmerResult;
  dfew?: ClassificationResult;
  mafw?: ClassificationResult;
}

export interface SummaryRow extends Record<string, unknown> {
  setting: string;
  'EMER-OV Acc'?: number;
  'EMER-OV Recall'?: number;
  'EMER-OV Avg'?: number;
  'EMER Clue'?: number;
  'EMER Label'?: number;
  'DFEW UAR'?: number;
  'DFEW WAR'?: number;
  'MAFW UAR'?: number;
  'MAFW WAR'?: number;
}

/** One flat row per setting: EMER-OV and UAR/WAR x100, EMER on 1..10. Absent benchmarks are left out. */
export function summaryRow(setting: string, r: SettingResults): SummaryRow {
  const row: SummaryRow = { setting };
  if (r.emerOv) {
    row['EMER-OV Acc'] = r.emerOv.accuracyPct;
    row['EMER-OV Recall'] = r.emerOv.recallPct;
    row['EMER-OV Avg'] = r.emerOv.avgPct;
  }
  if (r.emer) {
    row['EMER Clue'] = r.emer.clueOverlap;
    row['EMER Label'] = r.emer.labelOverlap;
  }
  if (r.dfew) {
    row['DFEW UAR'] = r.dfew.uar * 100;
    row['DFEW WAR'] = r.dfew.war * 100;
  }
  if (r.mafw) {
    row['MAFW UAR'] = r.mafw.uar * 100;
    row['MAFW WAR'] = r.mafw.war * 100;
  }
  return row;
}

export const SUMMARY_KEYS = ['EMER-OV Acc', 'EMER-OV Recall', 'EMER-OV Avg', 'EMER Clue', 'EMER Label', 'DFEW UAR', 'DFEW WAR', 'MAFW UAR', 'MAFW WAR'] as const;

/**
 * An ablation table: one row per setting in the given order, only the metric columns some setting
 * has. `title` is the first column's header (e.g. "Modality", "Fusion").
 */
export function ablationTable(title: string, results: ReadonlyArray<readonly [string, SettingResults]>): { rows: SummaryRow[]; markdown: string } {
  const rows = results.map(([s, r]) => summaryRow(s, r));
  const keys = SUMMARY_KEYS.filter((k) => rows.some((r) => r[k] !== undefined));
  const markdown = markdownTable(rows, [{ key: 'setting', header: title }, ...keys.map((k) => ({ key: k }))]);
  return { rows, markdown };
}

/** Per-class recall (x100) and support of a classification result, one row per class. */
export function perClassTable(r: ClassificationResult): string {
  const rows = r.classes.map((c) => ({ class: c, support: r.support[c] ?? 0, 'recall %': r.perClassRecall[c] === null ? undefined : r.perClassRecall[c]! * 100 }));
  return markdownTable(rows, [{ key: 'class' }, { key: 'support', digits: 0 }, { key: 'recall %' }]);
}

/** The confusion matrix as a Markdown table (rows = truth, columns = prediction, last = unknown). */
export function confusionTable(r: ClassificationResult): string {
  const rows = r.classes.map((c, i) => {
    const row: Record<string, unknown> = { 'true \\ pred': c };
    r.classes.forEach((p, j) => (row[p] = r.confusion[i]![j]));
    row['(unknown)'] = r.confusion[i]![r.classes.length];
    return row;
  });
  return markdownTable(rows, [{ key: 'true \\ pred' }, ...r.classes.map((c) => ({ key: c, digits: 0 })), { key: '(unknown)', digits: 0 }]);
}
