/**
 * The core demo (`npm run demo:core`, `omni-emotion demo --core`): the compiler and runtime under
 * Omni-Emotion, end to end on the WebGPU adapter.
 *   1. A transformer block written in the DSL, compiled to WGSL, checked against the reference.
 *   2. A tiny Qwen2 (the same code that loads real Qwen2 checkpoints) trained from scratch with
 *      the compiled training step (AdamW, cosine schedule, clipping) to memorise sentences about
 *      emotions, with progress, a CSV log and a checkpoint.
 *   3. Generation with the KV cache on the device: prompted with the first words, the model
 *      completes each sentence.
 * Outputs go to out/core-demo/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spec } from '../compiler/trace';
import type { Tensor } from '../dsl/tensor';
import { crossEntropy } from '../compiler/composites';
import { decodeOrThrow } from '../dsl/config';
import { Qwen2Config, qwen2Params, qwen2Forward } from '../models/llm/qwen2';
import { generate } from '../models/llm/generate';
import { ByteTokenizer } from '../data/tokenizer/bytes';
import { Trainer } from '../runtime/train/trainer';
import { trainLoop } from '../runtime/train/loop';
import { runQuickstart } from './quickstart';
import { runIfMain } from './run-main';

const SENTENCES = [
  'a trembling voice and lowered brows: she is afraid.',
  'raised mouth corners and a bright voice: he is happy.',
  'slow, quiet speech and drooping eyes: they are sad.',
  'a loud, sharp voice and a tight jaw: he is angry!',
];
const SEQ = 56;

export async function runCoreDemo() {
  const out = join('out', 'core-demo');
  mkdirSync(out, { recursive: true });
  console.log('== 1. a transformer block, compiled and checked against the reference interpreter');
  await runQuickstart();

  console.log('\n== 2. a tiny Qwen2 trained from scratch on the adapter');
  const tok = new ByteTokenizer();
  const config = decodeOrThrow(
    Qwen2Config,
    { vocab_size: 261, hidden_size: 96, intermediate_size: 192, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true, max_position_embeddings: 128, eos_token_id: tok.special.eos },
    'demo qwen2 config',
  );
  const rows = SENTENCES.map((s) => {
    const ids = [tok.special.bos as number, ...tok.encode(s), tok.special.eos as number];
    return [...ids, ...Array(SEQ + 1 - ids.length).fill(tok.special.pad)].slice(0, SEQ + 1);
  });
  const loss = ({ params, batch }: { params: any; batch: { ids: Tensor } }) => {
    const logits = qwen2Forward(config, params, { inputIds: batch.ids.slice([null, [0, SEQ]]) });
    const targets = batch.ids.slice([null, [1, SEQ + 1]]);
    // padding is not a target
    return crossEntropy(logits, targets.sub(targets.eq(tok.special.pad as number).cast('i32').mul(tok.special.pad as number + 100)));
  };
  const steps = 300;
  const trainer = await Trainer.create({
    params: qwen2Params(config),
    loss,
    batch: { ids: spec([rows.length, SEQ + 1], 'i32') },
    optimizer: { kind: 'adamw', weightDecay: 0.01 },
    lr: 3e-3,
    schedule: { kind: 'cosine', warmupSteps: 20, totalSteps: steps, minLrRatio: 0.1 },
    clipNorm: 1,
    seed: 7,
  });
  const { total } = trainer.parameterCount();
  const mem = trainer.memory();
  console.log(`${total} parameters; the step compiles to ${trainer.exe.stats.kernels} kernels; planned device memory ${(mem.peakBytes / 2 ** 20).toFixed(1)} MiB (intermediates ${(mem.intermediateBytes / 2 ** 20).toFixed(1)} MiB vs ${(mem.naiveIntermediateBytes / 2 ** 20).toFixed(1)} MiB naive)`);
  const batch = { ids: rows.flat() };
  const summary = await trainLoop(trainer, {
    steps,
    data: () => batch,
    samplesPerStep: rows.length,
    logEvery: 50,
    csv: join(out, 'loss.csv'),
    checkpoint: { path: join(out, 'checkpoint.safetensors'), config },
    log: (l) => console.log(l),
  });
  console.log(`trained ${summary.steps} steps in ${summary.seconds.toFixed(1)} s, final loss ${summary.lastLoss.toFixed(4)}`);

  console.log('\n== 3. generation with the KV cache on the device');
  const params = await trainer.readParams();
  let correct = 0;
  for (const s of SENTENCES) {
    const cut = s.indexOf(' ', 12);
    const prompt = [tok.special.bos as number, ...tok.encode(s.slice(0, cut))];
    const res = await generate({ config, params, tokenizer: tok }, prompt, { maxNewTokens: SEQ, stopTokens: [tok.special.eos as number] });
    const text = s.slice(0, cut) + res.text![0];
    if (text === s) correct++;
    console.log(`  "${s.slice(0, cut)}" -> "${res.text![0]}"  ${text === s ? 'ok' : 'differs'}`);
  }
  console.log(`\n${correct}/${SENTENCES.length} sentences recalled exactly. Loss curve: ${join(out, 'loss.csv')}, checkpoint: ${join(out, 'checkpoint.safetensors')}`);
  trainer.dispose();
  if (correct < SENTENCES.length - 1) throw new Error('the tiny model did not learn its sentences');
}

// run directly (`npm run demo:core`); `omni-emotion demo --core` imports runCoreDemo
runIfMain(import.meta.url, 'demo', () => runCoreDemo());
