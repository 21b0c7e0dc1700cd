/**
 * A byte tokenizer for the tiny preset: ids 0-255 are the UTF-8 bytes of the text, then five
 * special tokens. It needs no vocabulary file and keeps the embedding at 261 rows, and it
 * speaks ChatML like the Qwen2 tokenizer, so chat.ts and the data pipeline work unchanged.
 */
import { AddedTokenMatcher } from './added-tokens';
import { fromUtf8, utf8 } from './byte-level';
import type { DecodeOptions, EncodeOptions, SpecialIds, Tokenizer } from './types';

export const BYTE_SPECIAL_TOKENS = ['<|pad|>', '<|bos|>', '<|eos|>', '<|im_start|>', '<|im_end|>'] as const;

export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 256 + BYTE_SPECIAL_TOKENS.length;
  // As in Qwen2, <|im_end|> ends a chat answer; <|eos|> ends plain text.
  readonly special: SpecialIds = { pad: 256, bos: 257, eos: 258, imStart: 259, imEnd: 260 };
  private readonly matcher = new AddedTokenMatcher(BYTE_SPECIAL_TOKENS.map((content, i) => ({ id: 256 + i, content, special: true })));

  /** `addSpecialTokens` puts <|bos|> first. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = options.addSpecialTokens ? [this.special.bos as number] : [];
    for (const piece of this.matcher.split(text, options.splitSpecialTokens === true)) {
      if (typeof piece === 'number') ids.push(piece);
      else for (const b of utf8(piece)) ids.push(b);
    }
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const bytes: number[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) continue;
      if (id < 256) bytes.push(id);
      else if (!options.skipSpecialTokens) bytes.push(...utf8(BYTE_SPECIAL_TOKENS[id - 256]));
    }
    return fromUtf8(Uint8Array.from(bytes));
  }

  tokenToId(token: string): number | undefined {
    const special = this.matcher.get(token);
    if (special) return special.id;
    const hex = /^<0x([89A-F][0-9A-F])>$/.exec(token);
    if (hex) return parseInt(hex[1], 16);
    const bytes = utf8(token);
    // A token is one byte; a lone character of more bytes has no single id.
    return bytes.length === 1 ? bytes[0] : undefined;
  }

  /** Bytes 0-127 are their ASCII character; a byte 128-255 alone is no text, so it is shown
   * as <0xNN> (SentencePiece's notation). */
  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return undefined;
    if (id >= 256) return BYTE_SPECIAL_TOKENS[id - 256];
    return id < 128 ? String.fromCharCode(id) : `<0x${id.toString(16).toUpperCase().padStart(2, '0')}>`;
  }
}
