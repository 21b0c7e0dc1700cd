/**
 * The autotuner (runtime/autotune.ts, runtime/tune-table.ts): it times every valid variant of a
 * matmul on this adapter, records the fastest in the adapter's file, measures nothing twice, and
 * every later plan takes the recorded choice (each of which computes the product). A damaged file
 * is an error naming the file and the field; OMNI_AUTOTUNE=0 ignores the file.
 */
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { spec, trace } from '../compiler/trace';
import { optimize } from '../compiler/passes';
import { Tensor, matmul } from '../dsl/tensor';
import { autotune, tuningSpaces } from '../runtime/autotune';
import { compileTraced } from '../runtime/compile';
import { getGpu } from '../runtime/gpu';
import { TuneFileError, forgetTables, loadTable, tuneFile } from '../runtime/tune-table';
import { BACKEND, checkAgainstReference } from './helpers/check';

// over a million multiply-adds and 40 rows: the texture kernel with tiles of 4 texels of A per
// lane by default (32 rows at 8 lanes, 64 at 16: llvmpipe at 512-bit vectors)
const f = ({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b);
const specs = () => ({ a: spec([3, 40, 128]), b: spec([3, 128, 70]) });
const KEY = 'matmul 3x40x70x128 f32,f32,f32';
const lanes = async () => (await getGpu()).traits.subgroupSize;
/** the variants' names at this adapter's lanes: the wide tile (4 texels per lane) and the skinny one (1) */
const names = async () => {
  const l = await lanes();
  return { wide: `texture${4 * l}`, bufA: `texture${4 * l}-bufA`, bufB: `texture${4 * l}-bufB`, skinny: `texture${l}` };
};

const reset = async () => {
  fs.rmSync(tuneFile((await getGpu()).adapterInfo), { force: true });
  forgetTables();
};

describe('autotuner', () => {
  afterEach(async () => {
    delete process.env.OMNI_AUTOTUNE;
    await reset();
  });

  it('times each variant once, records the fastest in the adapter file, and plans take the recorded choice', async () => {
    await reset();
    const gpu = await getGpu();
    const graph = optimize(trace(f, specs()).graph);
    const [only] = tuningSpaces(gpu, graph);
    const n = await names();
    expect(only.space).toMatchObject({ key: KEY, candidates: [n.wide, n.bufA, n.skinny, 'portable'], fallback: n.wide });
    const lines: string[] = [];
    expect(await autotune(gpu, graph, { runs: 3, log: (l) => lines.push(l) })).toEqual([KEY]);
    expect(lines[0]).toMatch(new RegExp(`^autotune 1/1 matmul 3x40x70x128 .*${n.wide} [\\d.]+ ms, ${n.bufA} [\\d.]+ ms, ${n.skinny} [\\d.]+ ms, portable [\\d.]+ ms -> [\\w-]+`));
    const file = JSON.parse(fs.readFileSync(tuneFile(gpu.adapterInfo), 'utf8'));
    const entry = file.entries[KEY];
    expect(Object.keys(entry.ms)).toEqual([n.wide, n.bufA, n.skinny, 'portable']);
    // the fastest, or the fallback when within 5% of it
    const fastest = Math.min(...(Object.values(entry.ms) as number[]));
    expect(entry.ms[entry.choice] === fastest || (entry.choice === n.wide && entry.ms[n.wide] <= fastest * 1.05)).toBe(true);
    // measured once: a second pass has nothing to do, also after the file is read afresh
    forgetTables();
    expect(await autotune(gpu, graph)).toEqual([]);
    expect(loadTable(gpu.adapterInfo).get(KEY)?.choice).toBe(entry.choice);
  });

  it('each recorded choice is the kernel planned, and each computes the product', async () => {
    const gpu = await getGpu();
    const t = trace(f, specs());
    const n = await names();
    for (const [choice, mm] of [
      ['portable', false],
      [n.skinny, true],
      [n.bufA, true],
      [n.wide, true],
    ] as const) {
      fs.mkdirSync(tuneFile(gpu.adapterInfo).replace(/[^/]+$/, ''), { recursive: true });
      fs.writeFileSync(tuneFile(gpu.adapterInfo), JSON.stringify({ adapter: 'x', entries: { [KEY]: { choice, ms: {}, measured: 'now' } } }));
      forgetTables();
      const exe = await compileTraced(optimize(t.graph), t.inputs, BACKEND);
      expect(exe.kernels.some((k) => k.label.endsWith(':mm')), choice).toBe(mm);
      const mmWgsl = exe.kernels.find((k) => k.label.endsWith(':mm'))?.wgsl ?? '';
      // one texel of A per lane: as many rows as lanes, two vec4 accumulators each
      if (choice === n.skinny) expect(mmWgsl).toContain(`array<vec4<f32>, ${2 * (await lanes())}>`);
      expect(mmWgsl.includes('srcA'), choice).toBe(choice === n.bufA);
      await checkAgainstReference(f, specs(), { rtol: 1e-4, atol: 1e-4 });
    }
    // switched off: the fallback whatever the file says (the file says portable)
    fs.writeFileSync(tuneFile(gpu.adapterInfo), JSON.stringify({ adapter: 'x', entries: { [KEY]: { choice: 'portable', ms: {}, measured: 'now' } } }));
    forgetTables();
    process.env.OMNI_AUTOTUNE = '0';
    const exe = await compileTraced(optimize(t.graph), t.inputs, BACKEND);
    expect(exe.kernels.some((k) => k.label.endsWith(':mm'))).toBe(true);
  });

  it('B read straight from its buffer (B transposed, K a multiple of 4): vec4 loads, columns past N clamped, batches', async () => {
    const gpu = await getGpu();
    const g = ({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b.transpose());
    const gSpecs = () => ({ a: spec([3, 40, 128]), b: spec([3, 70, 128]) });
    const t = trace(g, gSpecs());
    const [only] = tuningSpaces(gpu, optimize(t.graph));
    const n = await names();
    expect(only.space.candidates).toContain(n.bufB);
    fs.mkdirSync(tuneFile(gpu.adapterInfo).replace(/[^/]+$/, ''), { recursive: true });
    fs.writeFileSync(tuneFile(gpu.adapterInfo), JSON.stringify({ adapter: 'x', entries: { [only.space.key]: { choice: n.bufB, ms: {}, measured: 'now' } } }));
    forgetTables();
    const exe = await compileTraced(optimize(t.graph), t.inputs, BACKEND);
    expect(exe.kernels.map((k) => k.label.split(':')[1])).toEqual(['packA', 'mm']);
    expect(exe.kernels.find((k) => k.label.endsWith(':mm'))!.wgsl).toContain('srcB');
    await checkAgainstReference(g, gSpecs(), { rtol: 1e-4, atol: 1e-4 });
  });

  it('without a measurement, a short product whose B would need packing reads B^T from its buffer; taller ones and copyable B pack', async () => {
    const gpu = await getGpu();
    const n = await names();
    const fallback = (m: number, k: number) => {
      const t = trace(({ a, b }: { a: Tensor; b: Tensor }) => matmul(a, b.transpose()), { a: spec([m, k]), b: spec([512, k]) });
      return tuningSpaces(gpu, optimize(t.graph))[0].space.fallback;
    };
    // K = 784: rows of 3136 bytes, not a multiple of 256 (not the aligned rows that pack cheaply)
    expect([fallback(64, 784), fallback(128, 784), fallback(256, 784)]).toEqual([n.bufB, n.bufB, n.wide]);
    expect(fallback(64, 1024)).toBe(n.wide);
  });

  it('a damaged file is an error that names the file and the field', async () => {
    const gpu = await getGpu();
    const file = tuneFile(gpu.adapterInfo);
    fs.writeFileSync(file, JSON.stringify({ adapter: 'x', entries: { [KEY]: { choice: 3, ms: {}, measured: 'now' } } }));
    forgetTables();
    expect(() => loadTable(gpu.adapterInfo)).toThrow(TuneFileError);
    expect(() => loadTable(gpu.adapterInfo)).toThrow(`${file}: field 'entries.${KEY}.choice' is 3, expected string`);
    fs.writeFileSync(file, '{"adapter": ');
    forgetTables();
    expect(() => loadTable(gpu.adapterInfo)).toThrow(/not readable JSON/);
  });
});
