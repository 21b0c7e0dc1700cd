/**
 * The training dataset: manifest entries joined with the feature cache and tokenised once.
 *
 * Each item is its conversation in ChatML (data/tokenizer/chat.ts `encodeChat`): token ids with
 * the `<video>` (-200) and `<audio>` (-300) sentinels where the model splices the media tokens,
 * labels that train the answers only (IGNORE_INDEX -100 elsewhere), and the placeholder
 * positions. The features an item needs follow from its placeholders: `<video>` needs
 * pixel_values and face_values, `<audio>` needs input_features (the model wants exactly one of
 * each placeholder for each modality it is given, and none otherwise).
 *
 * Items are skipped, never fatal, and listed with the reason when: the cache has no features for
 * them (their media failed or the cache was built from another manifest), a placeholder is
 * repeated, the cache lacks a field a placeholder needs, or `maxLength` would cut a placeholder
 * or every answer token. Longer items are cut at `maxLength` (the tail of the answer goes).
 */
import type { Manifest } from '../manifest/index';
import type { Tokenizer } from '../tokenizer/types';
import { encodeChat, fromLlava, IGNORE_INDEX, type ChatOptions, type Placeholder, type PlaceholderKind } from '../tokenizer/chat';
import type { FeatureCache } from '../features/cache';
import type { FeatureField } from '../features/extract';

export const FIELDS_FOR: Record<PlaceholderKind, readonly FeatureField[]> = {
  video: ['pixel_values', 'face_values'],
  audio: ['input_features'],
};

export interface DatasetItem {
  /** position in the dataset (after skipped items are removed) */
  index: number;
  id: string;
  /** the manifest line */
  line: number;
  ids: Int32Array;
  labels: Int32Array;
  placeholders: Placeholder[];
  /** the feature fields the placeholders need, in FEATURE_FIELDS order */
  fields: FeatureField[];
  /** items with equal signatures can share a batch: same placeholders at the same positions */
  signature: string;
}

export interface SkippedItem {
  id: string;
  line: number;
  reason: string;
}

export interface DatasetOptions {
  manifest: Manifest;
  cache: FeatureCache;
  tokenizer: Tokenizer;
  chat?: ChatOptions;
  /** cut longer items to this many tokens */
  maxLength?: number;
  /** skip items with no answer token to train on (default true) */
  requireAnswer?: boolean;
}

export interface Dataset {
  items: DatasetItem[];
  skipped: SkippedItem[];
  cache: FeatureCache;
  tokenizer: Tokenizer;
}

export const signatureOf = (placeholders: readonly Placeholder[]): string => placeholders.map((p) => `${p.kind}@${p.index}`).join(',') || 'text';

export function createDataset(o: DatasetOptions): Dataset {
  const items: DatasetItem[] = [];
  const skipped: SkippedItem[] = [];
  for (const mi of o.manifest.items) {
    const id = mi.entry.id;
    const skip = (reason: string) => void skipped.push({ id, line: mi.line, reason });
    const cached = o.cache.entry(id);
    if (!cached) {
      skip('no features in the cache (the media failed, or the cache was built from another manifest)');
      continue;
    }
    const enc = encodeChat(o.tokenizer, fromLlava(mi.entry.conversations), o.chat);
    let { ids, labels } = enc;
    const placeholders = enc.placeholders;
    const kinds = placeholders.map((p) => p.kind);
    const twice = kinds.find((k, i) => kinds.indexOf(k) !== i);
    if (twice) {
      skip(`the conversation holds <${twice}> more than once (one of each is supported)`);
      continue;
    }
    const need = new Set(placeholders.flatMap((p) => FIELDS_FOR[p.kind]));
    const lacking = [...need].filter((f) => !cached.fields[f]);
    if (lacking.length > 0) {
      skip(`the cache has no ${lacking.join(', ')} for it (the prompt holds ${placeholders.map((p) => `<${p.kind}>`).join(' ')})`);
      continue;
    }
    if (o.maxLength !== undefined && ids.length > o.maxLength) {
      if (placeholders.some((p) => p.index >= o.maxLength!)) {
        skip(`a media placeholder lies beyond maxLength ${o.maxLength}`);
        continue;
      }
      ids = ids.slice(0, o.maxLength);
      labels = labels.slice(0, o.maxLength);
    }
    if (o.requireAnswer !== false && !labels.some((l) => l !== IGNORE_INDEX)) {
      skip(o.maxLength !== undefined && enc.ids.length > o.maxLength ? `maxLength ${o.maxLength} leaves no answer token` : 'the conversation has no answer to train on');
      continue;
    }
    const order: FeatureField[] = ['input_features', 'pixel_values', 'face_values'];
    items.push({
      index: items.length,
      id,
      line: mi.line,
      ids: Int32Array.from(ids),
      labels: Int32Array.from(labels),
      placeholders,
      fields: order.filter((f) => need.has(f)),
      signature: signatureOf(placeholders),
    });
  }
  return { items, skipped, cache: o.cache, tokenizer: o.tokenizer };
}
