import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { Command } from 'commander';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ConfigError } from '../dsl/config';
import { runCli } from '../cli/errors';
import { main } from '../cli/main';
import { registerTokenize } from '../cli/commands/tokenize';
import { BpeTokenizer } from '../data/tokenizer/bpe';
import { loadTokenizerFile } from '../data/tokenizer/load';
import { loadQwen2Tokenizer, QWEN2_TOKENIZER_PATH } from '../data/tokenizer/qwen2';

const tok = loadQwen2Tokenizer();
const qwenJson = () => JSON.parse(gunzipSync(readFileSync(QWEN2_TOKENIZER_PATH)).toString('utf8'));

describe('Qwen2 byte-level BPE', () => {
  it('gives the known ids', () => {
    expect(tok.encode('Hello, world!')).toEqual([9707, 11, 1879, 0]);
    expect(tok.encode(' ')).toEqual([220]);
    expect(tok.encode('\n')).toEqual([198]);
    expect(tok.encode('')).toEqual([]);
    expect(tok.decode([9707, 11, 1879, 0])).toBe('Hello, world!');
  });

  it('keeps only the added tokens Qwen2 has unless asked not to', () => {
    expect(tok.vocabSize).toBe(151646);
    expect(tok.special).toEqual({ pad: 151643, bos: undefined, eos: 151645, imStart: 151644, imEnd: 151645 });
    expect(tok.encode('<think>')).not.toEqual([151667]);
    expect(tok.decode(tok.encode('<think>'))).toBe('<think>');
    const all = loadQwen2Tokenizer({ strict: false });
    expect(all.vocabSize).toBe(151669);
    expect(all.encode('<think>')).toEqual([151667]);
  });

  it('splits on special tokens first, longest match, and can encode them as text', () => {
    const ids = tok.encode('<|im_start|>user\nhi<|im_end|><|endoftext|>');
    expect(ids).toEqual([151644, 872, 198, 6023, 151645, 151643]);
    expect(tok.encode('<|im_end|>', { splitSpecialTokens: true })).not.toContain(151645);
    expect(tok.decode(tok.encode('<|im_end|>', { splitSpecialTokens: true }))).toBe('<|im_end|>');
    // Qwen2's post-processor adds nothing.
    expect(tok.encode('hi', { addSpecialTokens: true })).toEqual(tok.encode('hi'));
  });

  it('decodes special tokens unless skipped, and leaves out ids with no token', () => {
    expect(tok.decode(ids('<|im_start|>assistant\nHappy.<|im_end|>'))).toBe('<|im_start|>assistant\nHappy.<|im_end|>');
    expect(tok.decode(ids('<|im_start|>assistant\nHappy.<|im_end|>'), { skipSpecialTokens: true })).toBe('assistant\nHappy.');
    expect(tok.decode([9707, -200, 152000, 151700, 0])).toBe('Hello!');
  });

  it('maps between tokens and ids', () => {
    expect(tok.tokenToId('Ġworld')).toBe(1879);
    expect(tok.idToToken(1879)).toBe('Ġworld');
    expect(tok.tokenToId('<|im_end|>')).toBe(151645);
    expect(tok.idToToken(151645)).toBe('<|im_end|>');
    expect(tok.tokenToId('<think>')).toBeUndefined();
    expect(tok.idToToken(151667)).toBeUndefined();
    expect(tok.idToToken(-1)).toBeUndefined();
  });

  it('normalises to NFC before splitting', () => {
    expect(tok.encode('cafe\u0301')).toEqual(tok.encode('café'));
  });

  it('round-trips any text, up to NFC', () => {
    const text = fc.string({ unit: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 4 }), fc.constantFrom(' ', '  ', '\n', '\r\n', '\t', "'s", '🙂', '你好')), maxLength: 40 });
    fc.assert(fc.property(text, (s) => tok.decode(tok.encode(s)) === s.normalize('NFC')), { numRuns: 2000, seed: 11 });
  });

  it('encodes 14k characters well under 100 ms on a cold word cache', () => {
    const fresh = BpeTokenizer.fromJson(qwenJson(), 'qwen2', { maxAddedTokenId: 151645 });
    const text = longText(14_000);
    const start = performance.now();
    const out = fresh.encode(text);
    const ms = performance.now() - start;
    expect(fresh.decode(out)).toBe(text);
    expect(ms).toBeLessThan(100);
  });
});

function ids(text: string): number[] {
  return tok.encode(text);
}

/** Prose, code, CJK, emoji, digits and whitespace runs, repeated to `n` characters. */
function longText(n: number): string {
  const base =
    "The interviewee's voice trembles; she says: \"I'm fine, really — I'LL manage.\" 2024-05-01 12:30\n" +
    '她笑了，但眼神很悲伤。😢🙂👍🏽 Ünïcödé naïve café\t\ttabs   spaces\r\n\n' +
    'function f(x) { return x ** 2; } // 3.14159 ١٢٣ Ⅻ\n    indented    \n';
  let s = '';
  for (let i = 0; s.length < n; i++) s += base + i.toString(36) + ' ';
  // Whole characters only: half an emoji cannot round-trip.
  return Array.from(s.slice(0, n)).filter((c) => !/\p{Surrogate}/u.test(c)).join('');
}

describe('tokenizer.json validation', () => {
  function failure(mutate: (j: Record<string, any>) => void): ConfigError {
    const json = { ...minimalJson() };
    mutate(json);
    try {
      BpeTokenizer.fromJson(json, 'tok.json');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return e as ConfigError;
    }
    throw new Error('expected a ConfigError');
  }

  it('loads the minimal file used below', () => {
    expect(BpeTokenizer.fromJson(minimalJson(), 'tok.json').encode('ab a')).toEqual([4, 3]);
  });

  it('names the field that is wrong', () => {
    expect(failure((j) => (j.model = { ...j.model, type: 'WordPiece' })).message).toBe(`tok.json: field 'model.type' expected "BPE", got "WordPiece"`);
    expect(failure((j) => (j.model = { ...j.model, vocab: { a: -1 } })).path).toBe('model.vocab.a');
    expect(failure((j) => (j.model = { ...j.model, merges: ['a b c'] })).message).toMatch(/^tok\.json: field 'model\.merges\[0\]' expected a merge "left right"/);
    expect(failure((j) => (j.model = { ...j.model, merges: [['a', 'x']] })).message).toBe(
      `tok.json: field 'model.merges[0]' uses "x", which is not in model.vocab`,
    );
    expect(failure((j) => (j.model = { ...j.model, byte_fallback: true })).path).toBe('model.byte_fallback');
    expect(failure((j) => (j.normalizer = { type: 'Lowercase' })).path).toBe('normalizer.type');
    expect(failure((j) => (j.decoder = { type: 'Metaspace' })).path).toBe('decoder.type');
    expect(failure((j) => (j.added_tokens = [{ id: 'x', content: '<s>', special: true }])).path).toBe('added_tokens[0].id');
  });

  it('names the pre-tokenizer step that cannot run', () => {
    const split = (pattern: unknown, behavior = 'Isolated') => ({ type: 'Split', pattern, behavior, invert: false });
    const steps = (...s: unknown[]) => ({ type: 'Sequence', pretokenizers: s });
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, use_regex: false };
    expect(failure((j) => (j.pre_tokenizer = steps(split({ Regex: '(?<=a' }), byteLevel))).message).toMatch(
      /^tok\.json: field 'pre_tokenizer\.pretokenizers\[0\]\.pattern\.Regex' is a regex we cannot run/,
    );
    expect(failure((j) => (j.pre_tokenizer = steps(split({ Regex: 'a' }, 'Removed'), byteLevel))).path).toBe('pre_tokenizer.pretokenizers[0].behavior');
    expect(failure((j) => (j.pre_tokenizer = steps(split({ Regex: 'a' })))).message).toBe(
      `tok.json: field 'pre_tokenizer' has no ByteLevel step (only byte-level BPE is supported)`,
    );
  });

  it('names the file when it cannot be read or parsed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    expect(() => loadTokenizerFile(join(dir, 'none.json'))).toThrow(`${join(dir, 'none.json')}: cannot read the tokenizer file: no such file`);
    writeFileSync(join(dir, 'bad.json'), '{"model": ');
    expect(() => loadTokenizerFile(join(dir, 'bad.json'))).toThrow(new RegExp(`^${join(dir, 'bad.json')}: invalid JSON`));
    writeFileSync(join(dir, 'bad.json.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    expect(() => loadTokenizerFile(join(dir, 'bad.json.gz'))).toThrow(/bad\.json\.gz: is not a valid gzip file/);
    writeFileSync(join(dir, 'ok.json'), JSON.stringify(minimalJson()));
    expect(loadTokenizerFile(join(dir, 'ok.json')).encode('ab')).toEqual([4]);
  });
});

/** Bytes 'a' 'b' 'Ġ' plus the merge a+b; enough to exercise loading. */
function minimalJson(): Record<string, any> {
  return {
    model: { type: 'BPE', vocab: { a: 0, b: 1, 'Ġ': 2, 'Ġa': 3, ab: 4 }, merges: ['a b', ['Ġ', 'a']] },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    decoder: { type: 'ByteLevel' },
    normalizer: { type: 'NFC' },
    added_tokens: [],
  };
}

describe('omni-emotion tokenize', () => {
  async function run(args: string[], viaMain = false): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    const writeErr = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    try {
      if (viaMain) return { code: await main(['tokenize', ...args]), out, err };
      let code = 0;
      const program = new Command('omni-emotion').exitOverride();
      registerTokenize(program, (c) => (code = c));
      const exit = await runCli(async () => {
        await program.parseAsync(['tokenize', ...args], { from: 'user' });
        return code;
      });
      return { code: exit, out, err };
    } finally {
      write.mockRestore();
      writeErr.mockRestore();
    }
  }

  it('prints the ids of the bundled Qwen2 tokenizer', async () => {
    const r = await run(['Hello, world!'], true);
    expect(r).toEqual({ code: 0, out: '9707 11 1879 0\n', err: '' });
  });

  it('prints JSON for a chat turn, placeholders as sentinels', async () => {
    const r = await run(['--chat', '--json', '<video>\n<audio>\nHow does she feel?']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.placeholders).toEqual([{ kind: 'video', index: 14 }, { kind: 'audio', index: 16 }]);
    expect(j.ids.slice(12, 17)).toEqual([872, 198, -200, 198, -300]);
    expect(j.tokens.slice(12, 17)).toEqual(['user', 'Ċ', '<video>', 'Ċ', '<audio>']);
    expect(j.ids.slice(-3)).toEqual([151644, 77091, 198]);
  });

  it('uses a tokenizer file or the byte tokenizer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(minimalJson()));
    expect((await run(['--tokenizer', join(dir, 'tokenizer.json'), 'ab a'])).out).toBe('4 3\n');
    expect((await run(['--bytes', 'hé'])).out).toBe('104 195 169\n');
  });

  it('reports a missing or invalid file in one line naming it', async () => {
    const missing = await run(['--tokenizer', '/nonexistent/tokenizer.json', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.err).toBe('omni-emotion: /nonexistent/tokenizer.json: cannot read the tokenizer file: no such file\n');
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...minimalJson(), decoder: { type: 'WordPiece' } }));
    const invalid = await run(['--tokenizer', join(dir, 'tokenizer.json'), 'x']);
    expect(invalid.code).toBe(2);
    expect(invalid.err).toBe(`omni-emotion: ${join(dir, 'tokenizer.json')}: field 'decoder.type' expected "ByteLevel", got "WordPiece"\n`);
  });
});
