/**
 * The ChatML template of Qwen2 / LLaVA-OneVision, built in code, and its encoding for training:
 *
 *   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n
 *   <|im_start|>user\n<video>\n<audio>\n{prompt}<|im_end|>\n
 *   <|im_start|>assistant\n{answer}<|im_end|>
 *
 * `<video>` and `<audio>` are not vocabulary: the model splices the visual/face tokens and the
 * audio tokens in their place. The encoding carries a sentinel id there (LLaVA's convention,
 * IMAGE_TOKEN_INDEX = -200) and lists the positions, so the embedding step can find them.
 * Labels train the answers only: each assistant answer and its closing <|im_end|> keep their
 * ids, everything else is IGNORE_INDEX.
 */
import * as t from 'io-ts';
import { decodeOrThrow } from '../../dsl/config';
import type { Tokenizer } from './types';

/** Label of a position the loss ignores (PyTorch's cross-entropy default). */
export const IGNORE_INDEX = -100;
export const PLACEHOLDERS = {
  video: { text: '<video>', id: -200 },
  audio: { text: '<audio>', id: -300 },
} as const;
export type PlaceholderKind = keyof typeof PLACEHOLDERS;
export const DEFAULT_SYSTEM_MESSAGE = 'You are a helpful assistant.';

export type Role = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  readonly role: Role;
  readonly content: string;
}

export interface Placeholder {
  readonly kind: PlaceholderKind;
  /** position in `ids` of the sentinel */
  readonly index: number;
}

export interface ChatEncoding {
  /** token ids, with PLACEHOLDERS[kind].id where media goes */
  readonly ids: number[];
  /** same length as ids: the id to predict there, or IGNORE_INDEX */
  readonly labels: number[];
  readonly placeholders: Placeholder[];
}

export interface ChatOptions {
  /** Used when the conversation does not start with a system message. */
  readonly systemMessage?: string;
  /** End with `<|im_start|>assistant\n` for the model to answer. Default: when the last
   * message is not the assistant's. */
  readonly addGenerationPrompt?: boolean;
}

/** The user turn of the Omni-Emotion data: media placeholders, then the instruction. */
export function userContent(prompt: string, media: { video?: boolean; audio?: boolean } = {}): string {
  return `${media.video === false ? '' : '<video>\n'}${media.audio === false ? '' : '<audio>\n'}${prompt}`;
}

function withSystem(messages: readonly ChatMessage[], options: ChatOptions): ChatMessage[] {
  if (messages[0]?.role === 'system') return [...messages];
  return [{ role: 'system', content: options.systemMessage ?? DEFAULT_SYSTEM_MESSAGE }, ...messages];
}

function generationPrompt(messages: readonly ChatMessage[], options: ChatOptions): boolean {
  return options.addGenerationPrompt ?? messages[messages.length - 1]?.role !== 'assistant';
}

/** The template as text, placeholders left in (for display and for comparing with jinja). */
export function renderChat(messages: readonly ChatMessage[], options: ChatOptions = {}): string {
  const all = withSystem(messages, options);
  const turns = all.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>`);
  if (generationPrompt(all, options)) turns.push('<|im_start|>assistant\n');
  return turns.join('\n');
}

const PLACEHOLDER_RE = new RegExp(Object.values(PLACEHOLDERS).map((p) => p.text).join('|'), 'g');

/** Text and placeholder kinds, in order. */
function splitPlaceholders(text: string): (string | PlaceholderKind)[] {
  const out: (string | PlaceholderKind)[] = [];
  let done = 0;
  for (const m of text.matchAll(PLACEHOLDER_RE)) {
    if (m.index > done) out.push(text.slice(done, m.index));
    out.push(m[0] === PLACEHOLDERS.video.text ? 'video' : 'audio');
    done = m.index + m[0].length;
  }
  if (done < text.length) out.push(text.slice(done));
  return out;
}

/**
 * Ids, labels and placeholder positions of a conversation. Each span between special tokens
 * is encoded on its own, which gives the ids of encoding the rendered text in one go (special
 * tokens split the text first) without rendering it. Placeholders count in system and user
 * turns only; in an answer "<video>" is just text.
 */
export function encodeChat(tok: Tokenizer, messages: readonly ChatMessage[], options: ChatOptions = {}): ChatEncoding {
  const { imStart, imEnd } = tok.special;
  if (imStart === undefined || imEnd === undefined) throw new Error('the tokenizer has no <|im_start|> / <|im_end|> tokens for ChatML');
  const ids: number[] = [];
  const labels: number[] = [];
  const placeholders: Placeholder[] = [];
  const push = (part: readonly number[], train: boolean) => {
    for (const id of part) {
      ids.push(id);
      labels.push(train ? id : IGNORE_INDEX);
    }
  };
  const encode = (text: string) => tok.encode(text, { addSpecialTokens: false });
  const all = withSystem(messages, options);
  all.forEach((m, i) => {
    if (i > 0) push(encode('\n'), false);
    push([imStart], false);
    if (m.role === 'assistant') {
      // "assistant\n" and the answer are one span; the answer's tokens are those after the
      // header's own encoding, even in the rare case the newline merges with what follows.
      const header = encode('assistant\n');
      const span = encode(`assistant\n${m.content}`);
      let k = 0;
      while (k < header.length && header[k] === span[k]) k++;
      push(span.slice(0, k), false);
      push(span.slice(k), true);
      push([imEnd], true);
      return;
    }
    for (const part of splitPlaceholders(`${m.role}\n${m.content}`)) {
      if (part === 'video' || part === 'audio') {
        placeholders.push({ kind: part, index: ids.length });
        push([PLACEHOLDERS[part].id], false);
      } else push(encode(part), false);
    }
    push([imEnd], false);
  });
  if (generationPrompt(all, options)) {
    push(encode('\n'), false);
    push([imStart], false);
    push(encode('assistant\n'), false);
  }
  return { ids, labels, placeholders };
}

// ---------------------------------------------------------------------------------------------
// LLaVA's JSON form: {"conversations": [{"from": "human", "value": "<video>\n<audio>\n..."}, ...]}

const LlavaTurn = t.type({ from: t.keyof({ human: null, gpt: null, system: null }), value: t.string });
export type LlavaTurn = t.TypeOf<typeof LlavaTurn>;
/** Other fields of a sample (id, video path, ...) are kept and not read here. */
export const LlavaSample = t.type({ conversations: t.array(LlavaTurn) });
export type LlavaSample = t.TypeOf<typeof LlavaSample>;

const ROLES: Record<LlavaTurn['from'], Role> = { human: 'user', gpt: 'assistant', system: 'system' };

export function fromLlava(turns: readonly LlavaTurn[]): ChatMessage[] {
  return turns.map((turn) => ({ role: ROLES[turn.from], content: turn.value }));
}

/** Validates one LLaVA-style sample (a ConfigError starting with `label` names the field)
 * and encodes it. */
export function encodeLlavaSample(tok: Tokenizer, sample: unknown, label: string, options: ChatOptions = {}): ChatEncoding {
  const { conversations } = decodeOrThrow(LlavaSample, sample, label);
  return encodeChat(tok, fromLlava(conversations), options);
}
