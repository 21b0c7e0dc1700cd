/**
 * `omni-emotion eval`: a checkpoint describes every item of a manifest split (describe.ts, one
 * item at a time: features extracted once per item and reused by every setting), then the task's
 * metrics (PAPER.md 4, data/metrics):
 *
 *   synthemo  the description -> a SynthEmo class (the first extracted label whose emotion group,
 *             data/metrics tableGrouper, holds one of a class's words; exact words first), then
 *             UAR/WAR over the 9 classes; plus EMER-OV over the open-vocabulary labels
 *   emer-ov   labels extracted from the answer vs labels.open_vocab (set accuracy / recall / avg)
 *   emer      the answer vs the manifest's reference answer (lexical clue / label overlap, 1..10)
 *   dfew/mafw the answer, trimmed, must equal a class name (UAR / WAR over DFEW's 7 / MAFW's 11)
 *
 * The instruction is each item's human turn (placeholders adjusted to the setting's modalities),
 * the SynthEmo instruction when the item has none. Ablations: `modality` evaluates the settings
 * V, V+A, V+F, V+A+F with one checkpoint; `fusion` one row per checkpoint, named by its config's
 * fusion variant.
 */
import { resolve } from 'node:path';
import { UserError } from '../../../cli/errors';
import { readManifest } from '../../../data/manifest/index';
import type { ManifestItem } from '../../../data/manifest/index';
import type { Features } from '../../../data/features/index';
import { optionsKey } from '../../../data/features/index';
import {
  DFEW_ANSWER_CLASSES, MAFW_ANSWER_CLASSES, SUMMARY_KEYS, classificationMetrics, emerMetrics, emerOvMetrics, markdownTable, summaryRow, tableGrouper,
} from '../../../data/metrics/index';
import type { ClassificationResult, EmerResult, OvResult, SettingResults } from '../../../data/metrics/index';
import { CLASSES, PROMPT } from '../../../data/synth/index';
import type { BackendName } from '../../../runtime/gpu';
import { ALL_MODALITIES, MODALITY_ABLATION, clipFeatures, describe, loadOmniCheckpoint } from './describe';
import type { Modalities, OmniCheckpoint } from './describe';

export const TASKS = ['synthemo', 'emer-ov', 'emer', 'dfew', 'mafw'] as const;
export type Task = (typeof TASKS)[number];

/** V, V+A, V+F or V+A+F. */
export const modalityName = (m: Modalities): string => ['V', ...(m.audio ? ['A'] : []), ...(m.face ? ['F'] : [])].join('+');

export interface EvalArgs {
  readonly task: string;
  readonly data: string;
  /** one checkpoint folder, or several for the fusion ablation */
  readonly checkpoints: readonly string[];
  /** train | val | test | all (default test) */
  readonly split?: string;
  readonly ablate?: 'modality' | 'fusion';
  /** without ablate: the streams given to the model (default all; a model trained without audio or face is evaluated without them) */
  readonly modalities?: Modalities;
  readonly maxNewTokens?: number;
  /** evaluate only the first N items of the split */
  readonly limit?: number;
  readonly backend?: BackendName;
  readonly log?: (line: string) => void;
}

export interface EvalItem {
  readonly id: string;
  readonly text: string;
  readonly labels: string[];
  /** the predicted class (classification tasks) */
  readonly predicted?: string;
  readonly truth?: string | string[];
  readonly ms: number;
}

/** The metrics of one setting: fractions in [0, 1] for rates, 1..10 for EMER. */
export interface SettingMetrics {
  readonly n: number;
  /** synthemo / dfew / mafw */
  readonly uar?: number;
  readonly war?: number;
  readonly classification?: ClassificationResult;
  /** synthemo / emer-ov */
  readonly emerOv?: Omit<OvResult, 'samples'>;
  /** emer */
  readonly emer?: Omit<EmerResult, 'samples'>;
}

export interface SettingReport {
  readonly setting: string;
  readonly checkpoint: string;
  readonly metrics: SettingMetrics;
  readonly items: EvalItem[];
  readonly seconds: number;
}

export interface EvalReport {
  readonly task: Task;
  readonly data: string;
  readonly split: string;
  readonly n: number;
  readonly ablate?: 'modality' | 'fusion';
  readonly settings: SettingReport[];
  /** the first setting's metrics (the only one without --ablate) */
  readonly metrics: SettingMetrics;
  readonly rows: Record<string, unknown>[];
  readonly markdown: string;
  readonly seconds: number;
}

// ------------------------------------------------------------------ description -> class

const group = (w: string): string => tableGrouper([w.toLowerCase()]).get(w.toLowerCase()) ?? w.toLowerCase();
const CLASS_WORDS = CLASSES.map((c) => ({ name: c.name, words: new Set(c.synonyms.map((s) => s.toLowerCase())), groups: new Set(c.synonyms.map(group)) }));

/** The SynthEmo class a description names: the first label that is one of a class's words, else the first whose emotion group is one of a class's groups; '' when none. */
export function synthEmoClassOf(labels: readonly string[]): string {
  for (const l of labels) {
    const hit = CLASS_WORDS.find((c) => c.words.has(l.toLowerCase()));
    if (hit) return hit.name;
  }
  for (const l of labels) {
    const g = group(l);
    const hit = CLASS_WORDS.find((c) => c.groups.has(g));
    if (hit) return hit.name;
  }
  return '';
}

// ------------------------------------------------------------------ helpers

const humanTurn = (it: ManifestItem): string => it.entry.conversations.find((t) => t.from === 'human')?.value ?? PROMPT;
const answerOf = (it: ManifestItem): string => it.entry.conversations.find((t) => t.from === 'gpt')?.value ?? '';

const time = (s: number) => (!Number.isFinite(s) ? '?' : s < 90 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`);

function parseTask(t: string): Task {
  if (!(TASKS as readonly string[]).includes(t)) throw new UserError(`unknown task '${t}': expected one of ${TASKS.join(', ')}`);
  return t as Task;
}

function checkItem(task: Task, it: ManifestItem): void {
  const l = it.entry.labels;
  const where = `${it.entry.id} (line ${it.line})`;
  if (it.video === undefined && it.audio === undefined) throw new UserError(`${where}: no video or audio`);
  if ((task === 'synthemo' || task === 'dfew' || task === 'mafw') && !l?.emotion) throw new UserError(`${where}: task ${task} needs labels.emotion`);
  if (task === 'synthemo' && !CLASSES.some((c) => c.name === l?.emotion)) throw new UserError(`${where}: labels.emotion '${l?.emotion}' is not a SynthEmo class`);
  const closed = task === 'dfew' ? DFEW_ANSWER_CLASSES : task === 'mafw' ? MAFW_ANSWER_CLASSES : undefined;
  if (closed && !closed.includes(l!.emotion!.trim())) throw new UserError(`${where}: labels.emotion '${l?.emotion}' is not a ${task.toUpperCase()} class (${closed.join(', ')})`);
  if (task === 'emer-ov' && !l?.open_vocab) throw new UserError(`${where}: task emer-ov needs labels.open_vocab`);
  if (task === 'emer' && !answerOf(it)) throw new UserError(`${where}: task emer needs a reference answer (a gpt turn)`);
}

const dropSamples = <T extends { samples: unknown }>(r: T): Omit<T, 'samples'> => {
  const { samples: _s, ...rest } = r;
  return rest;
};

/** The task's metrics over one setting's items. */
export function taskMetrics(task: Task, items: readonly ManifestItem[], out: readonly EvalItem[]): { metrics: SettingMetrics; results: SettingResults } {
  const n = out.length;
  if (task === 'synthemo' || task === 'dfew' || task === 'mafw') {
    const classes = task === 'synthemo' ? CLASSES.map((c) => c.name) : task === 'dfew' ? DFEW_ANSWER_CLASSES : MAFW_ANSWER_CLASSES;
    const cls = classificationMetrics(items.map((it) => it.entry.labels!.emotion!), out.map((o) => o.predicted ?? ''), { classes });
    const results: SettingResults = task === 'dfew' ? { dfew: cls } : task === 'mafw' ? { mafw: cls } : {};
    if (task !== 'synthemo') return { metrics: { n, uar: cls.uar, war: cls.war, classification: cls }, results };
    const ov = emerOvMetrics(items.map((it, i) => ({ id: it.entry.id, gt: it.entry.labels?.open_vocab ?? [it.entry.labels!.emotion!], pred: out[i].labels })));
    return { metrics: { n, uar: cls.uar, war: cls.war, classification: cls, emerOv: dropSamples(ov) }, results: { emerOv: ov } };
  }
  if (task === 'emer-ov') {
    const ov = emerOvMetrics(items.map((it, i) => ({ id: it.entry.id, gt: it.entry.labels!.open_vocab!, pred: out[i].labels })));
    return { metrics: { n, emerOv: dropSamples(ov) }, results: { emerOv: ov } };
  }
  const emer = emerMetrics(items.map((it, i) => ({ id: it.entry.id, gt: answerOf(it), pred: out[i].text })));
  return { metrics: { n, emer: dropSamples(emer) }, results: { emer } };
}

/** One Markdown row per setting: SynthEmo UAR/WAR (x100) and data/metrics summaryRow's columns. */
export function resultsTable(task: Task, title: string, settings: readonly { setting: string; metrics: SettingMetrics; results: SettingResults }[]): { rows: Record<string, unknown>[]; markdown: string } {
  const rows = settings.map(({ setting, metrics, results }) => {
    const row: Record<string, unknown> = { setting, n: metrics.n };
    if (task === 'synthemo') {
      row['SynthEmo UAR'] = metrics.uar! * 100;
      row['SynthEmo WAR'] = metrics.war! * 100;
    }
    const s = summaryRow(setting, results);
    for (const k of SUMMARY_KEYS) if (s[k] !== undefined) row[k] = s[k];
    return row;
  });
  const keys = ['SynthEmo UAR', 'SynthEmo WAR', ...SUMMARY_KEYS].filter((k) => rows.some((r) => r[k] !== undefined));
  const markdown = markdownTable(rows, [{ key: 'setting', header: title }, { key: 'n', digits: 0 }, ...keys.map((k) => ({ key: k }))]);
  return { rows, markdown };
}

// ------------------------------------------------------------------ the run

interface Setting {
  readonly name: string;
  readonly ck: OmniCheckpoint;
  readonly modalities: Modalities;
}

export async function runEval(args: EvalArgs): Promise<EvalReport> {
  const log = args.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const task = parseTask(args.task);
  const split = args.split ?? 'test';
  if (!['train', 'val', 'test', 'all'].includes(split)) throw new UserError(`--split ${split}: expected train, val, test or all`);
  if (args.checkpoints.length === 0) throw new UserError('eval: --checkpoint DIR is required');
  if (args.ablate === 'fusion' && args.checkpoints.length < 2) throw new UserError('eval --ablate fusion: give one checkpoint per fusion variant (--checkpoint DIR1,DIR2,DIR3)');
  if (args.ablate !== 'fusion' && args.checkpoints.length > 1) throw new UserError('eval: several checkpoints are only for --ablate fusion');
  if (args.ablate && args.modalities) throw new UserError('eval: --modalities names one setting; leave out --ablate');
  const t0 = performance.now();
  const manifest = await readManifest(args.data);
  let items = manifest.items.filter((it) => split === 'all' || it.entry.split === split);
  if (args.limit !== undefined) items = items.slice(0, args.limit);
  if (items.length === 0) throw new UserError(`${args.data}: no items in split '${split}'`);
  for (const it of items) checkItem(task, it);

  const cks = args.checkpoints.map((d) => loadOmniCheckpoint(d, { backend: args.backend }));
  const settings: Setting[] =
    args.ablate === 'modality'
      ? MODALITY_ABLATION.map(([name, modalities]) => ({ name, ck: cks[0], modalities }))
      : args.ablate === 'fusion'
        ? cks.map((ck) => ({ name: cks.filter((o) => o.config.fusion === ck.config.fusion).length > 1 ? `${ck.config.fusion} (${ck.dir})` : ck.config.fusion, ck, modalities: ALL_MODALITIES }))
        : [{ name: modalityName(args.modalities ?? ALL_MODALITIES), ck: cks[0], modalities: args.modalities ?? ALL_MODALITIES }];
  log(`eval ${task}: ${items.length} item(s) of split ${split}, ${settings.length} setting(s) (${settings.map((s) => s.name).join(', ')})`);

  const outs: EvalItem[][] = settings.map(() => []);
  const seconds = settings.map(() => 0);
  const total = items.length * settings.length;
  let done = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    const media = it.video !== undefined ? { video: it.video, ...(it.audio !== undefined && it.audio !== it.video ? { audio: it.audio } : {}) } : { audio: it.audio };
    const feats = new Map<string, Features>(); // per feature options (fusion checkpoints may differ)
    for (let s = 0; s < settings.length; s++) {
      const { ck, modalities, name } = settings[s];
      const ts = performance.now();
      const key = optionsKey(ck.features, ck.detectFaces ? 'detector' : 'none');
      let f = feats.get(key);
      if (!f) feats.set(key, (f = await clipFeatures(ck, media)));
      const d = await describe(ck, media, { features: f, modalities, prompt: humanTurn(it), maxNewTokens: args.maxNewTokens });
      const truth = task === 'emer-ov' ? it.entry.labels?.open_vocab : task === 'emer' ? answerOf(it) : it.entry.labels?.emotion;
      const predicted = task === 'synthemo' ? synthEmoClassOf(d.labels) : task === 'dfew' || task === 'mafw' ? d.text.trim() : undefined;
      const ms = performance.now() - ts;
      outs[s].push({ id: it.entry.id, text: d.text, labels: d.labels, ...(predicted !== undefined ? { predicted } : {}), ...(truth !== undefined ? { truth } : {}), ms });
      seconds[s] += ms / 1000;
      done++;
      const elapsed = (performance.now() - t0) / 1000;
      log(`eval [${name}] item ${i + 1}/${items.length} ${it.entry.id}: ${(ms / 1000).toFixed(1)} s, ${d.timings.tokens} tokens  (${done}/${total}, ETA ${time((elapsed / done) * (total - done))})`);
    }
  }

  const evaluated = settings.map((s, k) => ({ setting: s.name, ck: s.ck, items: outs[k], seconds: seconds[k], ...taskMetrics(task, items, outs[k]) }));
  const title = args.ablate === 'modality' ? 'Modality' : args.ablate === 'fusion' ? 'Fusion' : 'Setting';
  const { rows, markdown } = resultsTable(task, title, evaluated);
  const reports: SettingReport[] = evaluated.map((e) => ({ setting: e.setting, checkpoint: e.ck.dir, metrics: e.metrics, items: e.items, seconds: e.seconds }));
  return {
    task,
    data: resolve(args.data),
    split,
    n: items.length,
    ...(args.ablate ? { ablate: args.ablate } : {}),
    settings: reports,
    metrics: reports[0].metrics,
    rows,
    markdown,
    seconds: (performance.now() - t0) / 1000,
  };
}
