import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError } from '../dsl/config';
import { ByteTokenizer } from '../data/tokenizer/bytes';
import {
  encodeChat,
  encodeLlavaSample,
  IGNORE_INDEX,
  PLACEHOLDERS,
  renderChat,
  userContent,
  type ChatEncoding,
  type ChatMessage,
} from '../data/tokenizer/chat';
import { loadQwen2Tokenizer } from '../data/tokenizer/qwen2';
import type { Tokenizer } from '../data/tokenizer/types';

const qwen = loadQwen2Tokenizer();
const bytes = new ByteTokenizer();
const I = IGNORE_INDEX;

const sample: ChatMessage[] = [
  { role: 'user', content: userContent('Which emotion does the person show?') },
  { role: 'assistant', content: 'She looks happy.' },
];

/** The ids of the rendered template encoded in one go, placeholders cut out as LLaVA does. */
function reference(tok: Tokenizer, text: string): number[] {
  return text.split(/(<video>|<audio>)/).flatMap((part) => {
    if (part === '<video>') return [PLACEHOLDERS.video.id];
    if (part === '<audio>') return [PLACEHOLDERS.audio.id];
    return tok.encode(part);
  });
}

/** The ids whose label is not ignored. */
const trained = (e: ChatEncoding) => e.labels.filter((l) => l !== I);

describe('ChatML template (Qwen2 / LLaVA-OneVision)', () => {
  it('renders the template', () => {
    expect(renderChat(sample)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<video>\n<audio>\nWhich emotion does the person show?<|im_end|>\n' +
        '<|im_start|>assistant\nShe looks happy.<|im_end|>',
    );
    expect(renderChat([{ role: 'user', content: 'hi' }], { systemMessage: 'Be brief.' })).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('gives the known Qwen2 ids, placeholder sentinels and answer labels', () => {
    const e = encodeChat(qwen, sample);
    const header = [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198];
    const prompt = [-200, 198, -300, 198, 23085, 19772, 1558, 279, 1697, 1473, 30, 151645, 198, 151644, 77091, 198];
    const answer = [7941, 5868, 6247, 13, 151645];
    expect(e.ids).toEqual([...header, ...prompt, ...answer]);
    expect(e.labels).toEqual([...header.map(() => I), ...prompt.map(() => I), ...answer]);
    expect(e.placeholders).toEqual([{ kind: 'video', index: 14 }, { kind: 'audio', index: 16 }]);
    expect(e.ids).toEqual(reference(qwen, renderChat(sample)));
  });

  it('ends with the generation prompt when the user spoke last', () => {
    const e = encodeChat(qwen, [sample[0]]);
    expect(e.ids.slice(-5)).toEqual([151645, 198, 151644, 77091, 198]);
    expect(trained(e)).toEqual([]);
    expect(e.ids).toEqual(reference(qwen, renderChat([sample[0]])));
    expect(encodeChat(qwen, sample, { addGenerationPrompt: true }).ids.slice(-3)).toEqual([151644, 77091, 198]);
  });

  it('labels every answer of a multi-turn LLaVA conversation and nothing else', () => {
    const conversations = [
      { from: 'human', value: '<video>\n<audio>\nDescribe the facial expression.' },
      { from: 'gpt', value: 'Her brows are raised and her mouth is open.' },
      { from: 'human', value: 'And the emotion?' },
      { from: 'gpt', value: 'Surprise.' },
    ];
    const e = encodeLlavaSample(qwen, { id: 'sample-1', video: 'a.mp4', conversations }, 'train.json');
    const text = renderChat([
      { role: 'user', content: conversations[0].value },
      { role: 'assistant', content: conversations[1].value },
      { role: 'user', content: conversations[2].value },
      { role: 'assistant', content: conversations[3].value },
    ]);
    expect(e.ids).toEqual(reference(qwen, text));
    expect(e.labels).toHaveLength(e.ids.length);
    const im_end = qwen.special.imEnd as number;
    expect(trained(e)).toEqual([...qwen.encode(conversations[1].value), im_end, ...qwen.encode(conversations[3].value), im_end]);
    // Labels sit exactly on the ids they copy.
    e.labels.forEach((l, i) => l !== I && expect(l).toBe(e.ids[i]));
    expect(e.placeholders.map((p) => p.kind)).toEqual(['video', 'audio']);
    for (const p of e.placeholders) expect(e.ids[p.index]).toBe(PLACEHOLDERS[p.kind].id);
  });

  it('takes a system turn from the data instead of the default', () => {
    const e = encodeLlavaSample(qwen, { conversations: [{ from: 'system', value: 'Be brief.' }, { from: 'human', value: 'hi' }] }, 'x.json');
    expect(e.ids).toEqual(qwen.encode('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n'));
  });

  it('labels the answer tokens even when the newline merges into the answer', () => {
    const e = encodeChat(qwen, [{ role: 'user', content: 'q' }, { role: 'assistant', content: '\n\nA list:' }]);
    expect(e.ids).toEqual(reference(qwen, renderChat([{ role: 'user', content: 'q' }, { role: 'assistant', content: '\n\nA list:' }])));
    expect(qwen.decode(trained(e))).toBe('\n\n\nA list:<|im_end|>');
  });

  it('names the field of an invalid LLaVA sample', () => {
    const bad = () => encodeLlavaSample(qwen, { conversations: [{ from: 'human', value: 'x' }, { from: 'bot', value: 'y' }] }, 'train.json');
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(`train.json: field 'conversations[1].from' expected "human" or "gpt" or "system", got "bot"`);
  });
});

describe('byte tokenizer (tiny preset)', () => {
  it('encodes UTF-8 bytes and its five special tokens', () => {
    expect(bytes.vocabSize).toBe(261);
    expect(bytes.encode('hé')).toEqual([104, 195, 169]);
    expect(bytes.encode('<|im_start|>a<|im_end|>')).toEqual([259, 97, 260]);
    expect(bytes.encode('a', { addSpecialTokens: true })).toEqual([257, 97]);
    expect(bytes.encode('<|eos|>', { splitSpecialTokens: true })).toEqual([...Buffer.from('<|eos|>')]);
    expect(bytes.special).toEqual({ pad: 256, bos: 257, eos: 258, imStart: 259, imEnd: 260 });
  });

  it('round-trips any text', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => bytes.decode(bytes.encode(s)) === s), { numRuns: 1000, seed: 2 });
  });

  it('decodes special tokens unless skipped, and leaves out ids with no token', () => {
    expect(bytes.decode([259, 104, 105, 260])).toBe('<|im_start|>hi<|im_end|>');
    expect(bytes.decode([259, 104, 105, 260, 256], { skipSpecialTokens: true })).toBe('hi');
    expect(bytes.decode([104, -200, 261, 105])).toBe('hi');
  });

  it('maps between tokens and ids', () => {
    expect(bytes.idToToken(104)).toBe('h');
    expect(bytes.idToToken(195)).toBe('<0xC3>');
    expect(bytes.tokenToId('<0xC3>')).toBe(195);
    expect(bytes.idToToken(260)).toBe('<|im_end|>');
    expect(bytes.tokenToId('<|im_end|>')).toBe(260);
    expect(bytes.tokenToId('h')).toBe(104);
    expect(bytes.tokenToId('hi')).toBeUndefined();
    expect(bytes.idToToken(261)).toBeUndefined();
  });

  it('encodes the chat template with the same placeholders and labels', () => {
    const e = encodeChat(bytes, sample);
    expect(e.ids).toEqual(reference(bytes, renderChat(sample)));
    expect(e.placeholders).toEqual([
      { kind: 'video', index: e.ids.indexOf(-200) },
      { kind: 'audio', index: e.ids.indexOf(-300) },
    ]);
    expect(bytes.decode(trained(e))).toBe('She looks happy.<|im_end|>');
    expect(bytes.decode(e.ids)).toBe(renderChat(sample).replace('<video>', '').replace('<audio>', ''));
  });
});
