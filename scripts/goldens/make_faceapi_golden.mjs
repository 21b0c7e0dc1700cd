#!/usr/bin/env node
/**
 * Goldens for models/face/{expression-net,tiny-face-detector}.ts: runs the ORIGINAL
 * @vladmandic/face-api 1.7.15 (on tfjs' wasm backend by default, or the pure-JS cpu backend) on
 * the demo photos in data/fixtures/face-api/images and writes test/goldens/face-api/*.json.
 *
 * face-api and tfjs are NOT project dependencies: install them into a folder outside the repo:
 *
 *   npm install --prefix /tmp/faceapi-golden @vladmandic/face-api@1.7.15 @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
 *   node scripts/goldens/make_faceapi_golden.mjs [--prefix /tmp/faceapi-golden] [--backend wasm|cpu] [--out test/goldens/face-api]
 *
 * The photos are decoded with sharp (the project's decoder, libjpeg-turbo) into an int32
 * [H, W, 3] tensor, as face-api's node demos do, so both sides see the same pixels. The weights
 * are loaded from data/fixtures/face-api/model (copies of the package's own files).
 *
 * Per photo (<name>.json): the image size; the TinyFaceDetector detections at inputSize 416 and
 * scoreThreshold 0.5 (face-api's defaults; also 320 for one photo), each with its box in
 * pixels [x, y, w, h], its relative box and score; and, for every detection, the crop face-api
 * takes for `.withFaceExpressions()` (extractFaceTensors: box clipped at the borders, floored)
 * with the 7 expression probabilities it gives. expression-fixed.json: the probabilities for
 * fixed inputs (a 112x112 tensor, and a 90x130 one that goes through pad-to-square + resize).
 * raw-<name>.json: the detector's raw output grid [13, 13, 25] for one photo (base64 float32).
 */
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PREFIX = resolve(opt('prefix', process.env.FACEAPI_PREFIX ?? '/tmp/faceapi-golden'));
const BACKEND = opt('backend', 'wasm');
const OUT = resolve(ROOT, opt('out', 'test/goldens/face-api'));
const FIX = join(ROOT, 'data', 'fixtures', 'face-api');

const req = createRequire(join(PREFIX, 'node_modules', '_'));
const tf = req('@tensorflow/tfjs');
const wasm = req('@tensorflow/tfjs-backend-wasm');
const faceapi = req('@vladmandic/face-api/dist/face-api.node-wasm.js');

/** The fixed inputs: deterministic pseudo-random bytes (mulberry32), smoothed a little so they look image-like. */
function fixedImage(h, w, seed) {
  let a = seed >>> 0;
  const r = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        const base = 128 + 90 * Math.sin((x + 7 * c) / 9) * Math.cos((y - 5 * c) / 13);
        out[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + 60 * (r() - 0.5))));
      }
  return out;
}

const b64 = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString('base64');
const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const probs = (e) => LABELS.map((l) => e[l]);

async function main() {
  if (BACKEND === 'wasm') {
    // second argument false: load the .wasm files from disk, not with fetch
    wasm.setWasmPaths(dirname(req.resolve('@tensorflow/tfjs-backend-wasm')) + '/', false);
  }
  await tf.setBackend(BACKEND);
  await tf.ready();
  const modelDir = join(FIX, 'model');
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
  mkdirSync(OUT, { recursive: true });
  const meta = {
    generator: 'scripts/goldens/make_faceapi_golden.mjs',
    faceapi: faceapi.version,
    tfjs: tf.version_core,
    backend: tf.getBackend(),
    sharp: sharp.versions,
    weights: 'data/fixtures/face-api/model',
  };
  console.log(`face-api ${faceapi.version}, tfjs ${tf.version_core}, backend ${tf.getBackend()}`);

  // ---- expression net on fixed inputs
  const fixed = [];
  for (const [h, w, seed] of [[112, 112, 1], [90, 130, 2]]) {
    const px = fixedImage(h, w, seed);
    const t = tf.tensor3d(Int32Array.from(px), [h, w, 3], 'int32');
    const e = await faceapi.nets.faceExpressionNet.predictExpressions(t);
    t.dispose();
    fixed.push({ height: h, width: w, seed, probabilities: probs(e), pixels: b64(px) });
    console.log(`fixed ${h}x${w}: ${probs(e).map((v) => v.toFixed(4)).join(' ')}`);
  }
  writeFileSync(join(OUT, 'expression-fixed.json'), JSON.stringify({ ...meta, labels: LABELS, inputs: 'pixels: base64 uint8 RGB [h, w, 3] (fixedImage(h, w, seed) in this script), given to face-api as an int32 tensor', cases: fixed }, null, 1) + '\n');

  // ---- detector + expressions on the photos
  const images = readdirSync(join(FIX, 'images')).filter((f) => f.endsWith('.jpg')).sort();
  for (const file of images) {
    const name = basename(file, '.jpg');
    const { data, info } = await sharp(join(FIX, 'images', file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const img = tf.tensor3d(Int32Array.from(data), [info.height, info.width, 3], 'int32');
    const runs = [];
    for (const inputSize of name === images.map((f) => basename(f, '.jpg'))[0] ? [416, 320] : [416]) {
      const t0 = performance.now();
      const options = new faceapi.TinyFaceDetectorOptions({ inputSize, scoreThreshold: 0.5 });
      const res = await faceapi.detectAllFaces(img, options).withFaceExpressions();
      const ms = performance.now() - t0;
      const faces = res.map((r) => {
        const d = r.detection;
        const crop = d.box.clipAtImageBorders(info.width, info.height);
        return {
          score: d.score,
          box: [d.box.x, d.box.y, d.box.width, d.box.height],
          relativeBox: [d.relativeBox.x, d.relativeBox.y, d.relativeBox.width, d.relativeBox.height],
          crop: [crop.x, crop.y, crop.width, crop.height],
          expressions: probs(r.expressions),
        };
      });
      console.log(`${name} @${inputSize}: ${faces.length} faces in ${ms.toFixed(0)} ms: ${faces.map((f) => `${f.score.toFixed(3)} [${f.box.map((v) => v.toFixed(0)).join(',')}] ${LABELS[f.expressions.indexOf(Math.max(...f.expressions))]}`).join('; ')}`);
      runs.push({ inputSize, scoreThreshold: 0.5, faces });
    }
    writeFileSync(join(OUT, `${name}.json`), JSON.stringify({ ...meta, image: `data/fixtures/face-api/images/${file}`, width: info.width, height: info.height, labels: LABELS, runs }, null, 1) + '\n');
    if (name === basename(images[0], '.jpg')) {
      const raw = await faceapi.nets.tinyFaceDetector.forward(img, 416);
      const arr = await raw.data();
      writeFileSync(join(OUT, `raw-${name}.json`), JSON.stringify({ ...meta, image: `data/fixtures/face-api/images/${file}`, inputSize: 416, shape: raw.shape, layout: 'NHWC float32, little-endian, base64', data: b64(new Float32Array(arr)) }) + '\n');
      raw.dispose();
    }
    img.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
