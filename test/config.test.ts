import { afterAll, describe, expect, it } from 'vitest';
import * as t from 'io-ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  decodeOrThrow,
  exactStrict,
  NonNegativeInt,
  PositiveInt,
  PositiveNumber,
  Probability,
  readJsonConfig,
  withDefaults,
} from '../dsl/config';

const Vision = t.type({ num_hidden_layers: PositiveInt, depths: t.array(PositiveInt), act: t.union([t.literal('gelu'), t.literal('silu')]) });
const Config = t.type({ vision_config: Vision, dropout: Probability, seed: NonNegativeInt, eps: PositiveNumber });
const good = { vision_config: { num_hidden_layers: 2, depths: [2, 2], act: 'gelu' }, dropout: 0.1, seed: 0, eps: 1e-5 };

function failure<A>(codec: t.Type<A, unknown, unknown>, value: unknown, label = 'config.json'): ConfigError {
  try {
    decodeOrThrow(codec, value, label);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('decodeOrThrow', () => {
  it('returns the decoded value when it is valid', () => {
    expect(decodeOrThrow(Config, good, 'config.json')).toEqual(good);
  });

  it('names a missing field and what it should be', () => {
    const e = failure(Config, { ...good, seed: undefined });
    expect(e.message).toBe("config.json: missing field 'seed' (expected a non-negative integer)");
    expect(e.path).toBe('seed');
  });

  it('names a field of the wrong type with the value found', () => {
    const e = failure(Config, { ...good, dropout: 'high' });
    expect(e.message).toBe(`config.json: field 'dropout' expected a probability in [0, 1], got "high"`);
    expect(e).toMatchObject({ path: 'dropout', expected: 'a probability in [0, 1]', actual: 'high' });
  });

  it('gives nested fields a dotted path', () => {
    const e = failure(Config, { ...good, vision_config: { ...good.vision_config, num_hidden_layers: '27' } });
    expect(e.message).toBe(`config.json: field 'vision_config.num_hidden_layers' expected a positive integer, got "27"`);
  });

  it('gives array items an indexed path', () => {
    const e = failure(Config, { ...good, vision_config: { ...good.vision_config, depths: [2, 0, 2.5] } });
    expect(e.issues.map((i) => i.path)).toEqual(['vision_config.depths[1]', 'vision_config.depths[2]']);
    expect(e.message).toContain("field 'vision_config.depths[2]' expected a positive integer, got 2.5");
  });

  it('lists every failure in one message, joined by "; "', () => {
    const e = failure(Config, { vision_config: { num_hidden_layers: 0, depths: [], act: 'relu' }, dropout: 2, seed: -1, eps: 0 });
    expect(e.message.split('; ')).toEqual([
      "config.json: field 'vision_config.num_hidden_layers' expected a positive integer, got 0",
      `field 'vision_config.act' expected "gelu" or "silu", got "relu"`,
      "field 'dropout' expected a probability in [0, 1], got 2",
      "field 'seed' expected a non-negative integer, got -1",
      "field 'eps' expected a positive number, got 0",
    ]);
  });

  it('reports a root of the wrong type', () => {
    expect(failure(Config, [1]).message).toBe('config.json: expected an object, got [1]');
  });

  it('keeps unknown fields of leniently decoded (Hugging Face) configs', () => {
    expect(decodeOrThrow(Config, { ...good, torch_dtype: 'bfloat16' }, 'config.json')).toMatchObject({ torch_dtype: 'bfloat16' });
  });
});

describe('exactStrict', () => {
  const Strict = exactStrict(t.type({ lr: PositiveNumber, model: exactStrict(t.type({ layers: PositiveInt })) }));

  it('reports unknown keys by path, at every strict level', () => {
    const e = failure(Strict, { lr: 1, lrr: 2, model: { layers: 1, layer: 3 } }, 'train.json');
    expect(e.message).toBe("train.json: unknown field 'model.layer'; unknown field 'lrr'");
    expect(e.issues.map((i) => i.expected)).toEqual(['no such field', 'no such field']);
  });

  it('reports unknown keys together with other failures', () => {
    const e = failure(Strict, { lr: -1, extra: 0, model: { layers: 1 } });
    expect(e.message).toBe("config.json: field 'lr' expected a positive number, got -1; unknown field 'extra'");
  });

  it('accepts a valid object and drops nothing it knows', () => {
    expect(decodeOrThrow(Strict, { lr: 0.5, model: { layers: 3 } }, 'x')).toEqual({ lr: 0.5, model: { layers: 3 } });
    expect(Strict.is({ lr: 0.5, model: { layers: 3 } })).toBe(true);
    expect(Strict.is({ lr: 0.5, model: { layers: 3 }, other: 1 })).toBe(false);
  });

  it('works through intersections of required and optional fields', () => {
    const Mixed = exactStrict(t.intersection([t.type({ a: PositiveInt }), t.partial({ b: t.string })]));
    expect(decodeOrThrow(Mixed, { a: 1, b: 'x' }, 'x')).toEqual({ a: 1, b: 'x' });
    expect(failure(Mixed, { a: 1, c: 2 }).message).toBe("config.json: unknown field 'c'");
    expect(failure(Mixed, { b: 2 }).message).toBe("config.json: missing field 'a' (expected a positive integer); field 'b' expected a string, got 2");
  });
});

describe('withDefaults', () => {
  const Train = withDefaults(exactStrict(t.type({ steps: PositiveInt, dropout: Probability, tags: t.array(t.string) })), { dropout: 0.1, tags: [] });

  it('fills missing fields and keeps given ones', () => {
    expect(decodeOrThrow(Train, { steps: 5 }, 'train.json')).toEqual({ steps: 5, dropout: 0.1, tags: [] });
    expect(decodeOrThrow(Train, { steps: 5, dropout: 0 }, 'train.json')).toMatchObject({ dropout: 0 });
  });

  it('hands out copies of the defaults', () => {
    const a = decodeOrThrow(Train, { steps: 1 }, 'x');
    a.tags.push('changed');
    expect(decodeOrThrow(Train, { steps: 1 }, 'x').tags).toEqual([]);
  });

  it('still reports fields without a default, and unknown ones', () => {
    expect(failure(Train, { dropuot: 0.2 }).message).toBe(
      "config.json: missing field 'steps' (expected a positive integer); unknown field 'dropuot'",
    );
  });
});

describe('readJsonConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  async function readFailure(path: string): Promise<ConfigError> {
    const e = await readJsonConfig(Config, path).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }

  it('decodes a valid file', async () => {
    expect(await readJsonConfig(Config, file('good.json', JSON.stringify(good)))).toEqual(good);
  });

  it('names the file and the position of invalid JSON', async () => {
    const path = file('trailing-comma.json', '{\n  "seed": 1,\n}\n');
    const e = await readFailure(path);
    expect(e.file).toBe(path);
    expect(e.message.startsWith(`${path}: invalid JSON: `)).toBe(true);
    expect(e.message).toMatch(/line 3/);
  });

  it('keeps an invalid-JSON message on one line, and names an empty file', async () => {
    const broken = file('broken.json', '{\n  "seed": 1,\n  "eps": }\n');
    const e = await readFailure(broken);
    expect(e.message).toMatch(new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON: [^\n]+$`));
    expect((await readFailure(file('empty.json', '\n'))).message).toMatch(/empty\.json: the file is empty/);
  });

  it('names a file that does not exist', async () => {
    const path = join(dir, 'absent.json');
    const e = await readFailure(path);
    expect(e.message).toBe(`${path}: cannot read the config file: no such file`);
    expect(e.file).toBe(path);
  });

  it('names the file when a field fails', async () => {
    const path = file('bad.json', JSON.stringify({ ...good, seed: 1.5 }));
    const e = await readFailure(path);
    expect(e.message).toBe(`${path}: field 'seed' expected a non-negative integer, got 1.5`);
    expect(e.file).toBe(path);
  });
});
