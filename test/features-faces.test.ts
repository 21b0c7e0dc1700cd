/**
 * `omni-emotion faces`: boxes per frame from the tiny face detector and the 7 expression
 * probabilities per face, on one of face-api's demo photos and on a SynthEmo clip.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND } from './helpers/check';
import { main } from '../cli/main';
import { generateSynthEmo, type SynthResult } from '../data/synth/index';
import { FACE_EXPRESSION_LABELS } from '../models/face/expression-net';

const ROOT = join(__dirname, '..');
let dir = '';
let synth: SynthResult;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omni-faces-'));
  synth = await generateSynthEmo({ out: dir, n: 1, seed: 2 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  try {
    const code = await main(args);
    return { code, out };
  } finally {
    spy.mockRestore();
  }
}

interface FacesJson {
  width: number;
  height: number;
  frames: { index: number; time: number; faces: { box: number[]; score: number; expressions?: Record<string, number> }[] }[];
}

describe('omni-emotion faces', () => {
  it('finds the faces of a photo with their expressions', async () => {
    const { code, out } = await run(['faces', join(ROOT, 'data/fixtures/face-api/images/sample1.jpg'), '--json', '--backend', BACKEND]);
    expect(code).toBe(0);
    const j = JSON.parse(out) as FacesJson;
    expect(j.frames).toHaveLength(1);
    expect(j.frames[0].faces).toHaveLength(3);
    for (const f of j.frames[0].faces) {
      expect(f.score).toBeGreaterThan(0.5);
      expect(Object.keys(f.expressions!)).toEqual([...FACE_EXPRESSION_LABELS]);
      expect(Object.values(f.expressions!).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    }
    // the laughing face of sample1 (face-api's own demo says happy)
    expect(j.frames[0].faces.some((f) => f.expressions!.happy > 0.9)).toBe(true);
  });

  it('samples frames of a video and prints one line per face', async () => {
    const clip = join(dir, synth.entries[0].video!);
    const { code, out } = await run(['faces', clip, '--frames', '4', '--input-size', '224', '--score-threshold', '0.3', '--backend', BACKEND]);
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    const heads = lines.filter((l) => l.startsWith('frame'));
    expect(heads.map((l) => l.replace(/: \d+ faces?$/, ''))).toEqual(['frame 0 (0.00s)', 'frame 9 (0.90s)', 'frame 19 (1.90s)', 'frame 29 (2.90s)']);
    const faces = lines.filter((l) => l.startsWith('  '));
    // SynthEmo draws one face: found in most frames (the tiny detector scores it 0.3-0.95)
    expect(faces.length).toBeGreaterThanOrEqual(2);
    for (const f of faces) expect(f).toMatch(/^ {2}\[\d+, \d+, \d+, \d+\] score 0\.\d\d {2}\w+ \d\.\d\d \(/);
    const boxes = await run(['faces', clip, '--frames', '1', '--no-expressions', '--json', '--input-size', '224', '--score-threshold', '0.3', '--backend', BACKEND]);
    for (const f of (JSON.parse(boxes.out) as FacesJson).frames[0].faces) expect(f.expressions).toBeUndefined();
    expect(await main(['faces', clip, '--input-size', '100'])).toBe(2);
    expect(await main(['faces', join(dir, 'none.png')])).toBe(1);
  });
});
