/**
 * The paper's findings in miniature (`npm run findings`), on the demo's SynthEmo corpus:
 *
 *   - modalities: the video_concat model evaluated on the test clips with V, V+A, V+F and V+A+F
 *     (the missing blocks left out of the prompt at test time; PAPER.md's claim: V < V+A < V+A+F);
 *   - fusion: the tiny preset trained with each fusion variant (frame_concat, video_concat,
 *     cross_attention) by the demo's recipe, each evaluated with every modality.
 *
 * Writes DIR/findings.md and DIR/findings.json (default DIR out/findings; the corpus is the
 * demo's, out/synthemo-demo/synthemo, made when missing). About three demo trainings long.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSynthEmo, MANIFEST_NAME } from '../data/synth/index';
import { runTraining } from '../models/omni/train/driver';
import { STAGES } from '../models/omni/train/config';
import { runEval } from '../models/omni/infer/eval';
import { FUSIONS } from '../models/omni/config';
import { DEMO_CLIPS, DEMO_RUN_CONFIG } from './synthemo-demo';
import { runIfMain } from './run-main';

export async function runFindings(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const outIdx = argv.indexOf('--out');
  const out = resolve(outIdx >= 0 ? argv[outIdx + 1] : join('out', 'findings'));
  const dataIdx = argv.indexOf('--data');
  const t0 = performance.now();
  mkdirSync(out, { recursive: true });
  let manifest = dataIdx >= 0 ? resolve(argv[dataIdx + 1]) : resolve('out', 'synthemo-demo', 'synthemo', MANIFEST_NAME);
  if (!existsSync(manifest)) {
    console.log(`== SynthEmo: ${DEMO_CLIPS} clips -> ${join(out, 'synthemo')}`);
    manifest = (await generateSynthEmo({ out: join(out, 'synthemo'), n: DEMO_CLIPS, seed: 0 })).manifest;
  }
  const runs: string[] = [];
  for (const fusion of FUSIONS) {
    const dir = join(out, fusion);
    console.log(`\n== training the tiny preset with fusion ${fusion} -> ${dir}`);
    for (const stage of STAGES) rmSync(join(dir, stage), { recursive: true, force: true });
    await runTraining({ preset: 'tiny', data: manifest, stage: 'all', out: dir, runConfig: { ...DEMO_RUN_CONFIG, fusion }, log: (l) => console.log(l) });
    runs.push(dir);
  }
  const sections: string[] = [];
  const json: Record<string, unknown> = {};
  for (const [i, fusion] of FUSIONS.entries()) {
    console.log(`\n== modality ablation, fusion ${fusion}`);
    const r = await runEval({ task: 'synthemo', data: manifest, checkpoints: [runs[i]], split: 'test', ablate: 'modality', log: (l) => console.log(l) });
    sections.push(`### Modalities, fusion ${fusion} (test split, n = ${r.n})\n\n${r.markdown}`);
    json[fusion] = r.rows;
  }
  const md = `# Omni-Emotion findings in miniature (SynthEmo, tiny preset)\n\n${sections.join('\n\n')}\n`;
  writeFileSync(join(out, 'findings.md'), md);
  writeFileSync(join(out, 'findings.json'), `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\n${md}`);
  console.log(`done in ${((performance.now() - t0) / 60000).toFixed(1)} min: ${join(out, 'findings.md')}, ${join(out, 'findings.json')}`);
}

runIfMain(import.meta.url, 'findings', () => runFindings());
