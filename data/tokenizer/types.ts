/**
 * What the data pipeline and the chat template need from a tokenizer; the Qwen2 byte-level
 * BPE (bpe.ts) and the tiny preset's byte tokenizer (bytes.ts) both provide it.
 */

export interface EncodeOptions {
  /** Run the post-processor (a BOS token and the like). Default false; Qwen2's adds nothing. */
  readonly addSpecialTokens?: boolean;
  /** Encode special tokens written in the text as plain text rather than as their ids.
   * Default false, as in Hugging Face (`split_special_tokens`). */
  readonly splitSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (`<|im_end|>`, ...). Default false. */
  readonly skipSpecialTokens?: boolean;
}

/** Ids of the tokens the model and the chat template rely on; absent when the vocabulary
 * has no such token. */
export interface SpecialIds {
  readonly pad?: number;
  readonly bos?: number;
  readonly eos?: number;
  readonly imStart?: number;
  readonly imEnd?: number;
}

export interface Tokenizer {
  /** One more than the largest id, so embeddings of this many rows cover every id. */
  readonly vocabSize: number;
  readonly special: SpecialIds;
  encode(text: string, options?: EncodeOptions): number[];
  /** Ids with no token (padding rows of a larger embedding, negative placeholders) are left
   * out, as Hugging Face does. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}
