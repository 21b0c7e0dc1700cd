/**
 * The paper's findings in miniature (`npm run findings`), on the demo's SynthEmo corpus and by
 * the demo's recipe (tiny preset, face-api face encoder, three stages):
 *
 *   - modalities: one model trained per setting, V (the general visual stream alone), V+A and
 *     V+A+F, each evaluated on the test clips with the streams it was trained with (PAPER.md's
 *     claim: V < V+A < V+A+F); and the V+A+F model with streams left out at test time only;
 *   - fusion: the V+A+F model trained with each fusion variant (frame_concat, video_concat,
 *     cross_attention).
 *
 * Writes DIR/findings.md and DIR/findings.json (default DIR out/findings; the corpus is the
 * demo's, out/synthemo-demo/synthemo, made when missing). Five demo trainings long (~40 min).
 * `--out DIR`, `--data MANIFEST`.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSynthEmo, MANIFEST_NAME } from '../data/synth/index';
import { runTraining } from '../models/omni/train/driver';
import { STAGES } from '../models/omni/train/config';
import type { RunConfigInput } from '../models/omni/train/config';
import { runEval, type EvalReport } from '../models/omni/infer/eval';
import { MODALITY_ABLATION } from '../models/omni/infer/describe';
import { FUSIONS } from '../models/omni/config';
import { DEMO_CLIPS, DEMO_RUN_CONFIG } from './synthemo-demo';
import { runIfMain } from './run-main';

interface Options {
  out: string;
  data?: string;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { out: join('out', 'findings') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if ((a === '--out' || a === '--data') && (v === undefined || v.startsWith('--'))) throw new Error(`${a} needs a value`);
    if (a === '--out') o.out = argv[++i];
    else if (a === '--data') o.data = argv[++i];
    else throw new Error(`unknown option '${a}' (expected --out DIR, --data MANIFEST)`);
  }
  return o;
}

/** The trained settings of the modality comparison: the fusion runs supply V+A+F. */
const TRAINED_MODALITIES = [
  ['V', { face: false, audio: false }],
  ['V+A', { face: false, audio: true }],
] as const;

const pct = (x: number | undefined) => (x === undefined ? '-' : (100 * x).toFixed(1));

export async function runFindings(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const o = parseArgs(argv);
  const out = resolve(o.out);
  const t0 = performance.now();
  mkdirSync(out, { recursive: true });
  let manifest = o.data !== undefined ? resolve(o.data) : resolve('out', 'synthemo-demo', 'synthemo', MANIFEST_NAME);
  if (!existsSync(manifest)) {
    if (o.data !== undefined) throw new Error(`--data ${o.data}: no such file`);
    console.log(`== SynthEmo: ${DEMO_CLIPS} clips -> ${join(out, 'synthemo')}`);
    manifest = (await generateSynthEmo({ out: join(out, 'synthemo'), n: DEMO_CLIPS, seed: 0 })).manifest;
  }
  const train = async (name: string, rc: RunConfigInput): Promise<string> => {
    const dir = join(out, name);
    console.log(`\n== training the tiny preset: ${name} -> ${dir}`);
    for (const stage of STAGES) rmSync(join(dir, stage), { recursive: true, force: true });
    await runTraining({ preset: 'tiny', data: manifest, stage: 'all', out: dir, runConfig: rc, featureCache: join(out, 'cache'), log: (l) => console.log(l) });
    return dir;
  };
  const evaluate = (checkpoints: string[], extra: { ablate?: 'modality' | 'fusion'; modalities?: (typeof MODALITY_ABLATION)[number][1] } = {}): Promise<EvalReport> =>
    runEval({ task: 'synthemo', data: manifest, checkpoints, split: 'test', ...extra, log: (l) => console.log(l) });

  const fusionRuns: string[] = [];
  for (const fusion of FUSIONS) fusionRuns.push(await train(`fusion-${fusion}`, { ...DEMO_RUN_CONFIG, fusion }));
  const modalityRuns: string[] = [];
  for (const [name, modalities] of TRAINED_MODALITIES) modalityRuns.push(await train(`modalities-${name}`, { ...DEMO_RUN_CONFIG, fusion: 'video_concat', modalities }));

  console.log('\n== evaluation on the test clips');
  const trained: { setting: string; uar?: number; war?: number; n: number }[] = [];
  for (const [i, [name]] of TRAINED_MODALITIES.entries()) {
    const r = await evaluate([modalityRuns[i]], { modalities: MODALITY_ABLATION.find(([n]) => n === name)![1] });
    trained.push({ setting: name, uar: r.metrics.uar, war: r.metrics.war, n: r.n });
  }
  const fusion = await evaluate(fusionRuns, { ablate: 'fusion' });
  const full = fusion.settings.find((s) => s.setting === 'video_concat')!;
  trained.push({ setting: 'V+A+F', uar: full.metrics.uar, war: full.metrics.war, n: fusion.n });
  const dropped = await evaluate([fusionRuns[FUSIONS.indexOf('video_concat')]], { ablate: 'modality' });

  const modalityTable = [
    '| Trained and evaluated with | n | SynthEmo UAR | SynthEmo WAR |',
    '| --- | ---: | ---: | ---: |',
    ...trained.map((t) => `| ${t.setting} | ${t.n} | ${pct(t.uar)} | ${pct(t.war)} |`),
  ].join('\n');
  const md = [
    '# Omni-Emotion findings in miniature (SynthEmo, tiny preset)',
    '',
    `Command: \`npm run findings\`; corpus ${manifest}; chance 11.1 (9 classes).`,
    '',
    '## Modalities: one model per setting (video_concat fusion)',
    '',
    modalityTable,
    '',
    '## Fusion variants (V+A+F)',
    '',
    fusion.markdown,
    '',
    '## Modalities left out at test time only (the V+A+F video_concat model)',
    '',
    dropped.markdown,
    '',
  ].join('\n');
  writeFileSync(join(out, 'findings.md'), md);
  writeFileSync(join(out, 'findings.json'), `${JSON.stringify({ manifest, modalities: trained, fusion: fusion.rows, testTimeAblation: dropped.rows }, null, 2)}\n`);
  console.log(`\n${md}`);
  console.log(`done in ${((performance.now() - t0) / 60000).toFixed(1)} min: ${join(out, 'findings.md')}, ${join(out, 'findings.json')}`);
}

runIfMain(import.meta.url, 'findings', () => runFindings());
