/**
 * The pipeline stages a tokenizer.json names, built from their validated JSON: the normaliser,
 * the pre-tokenizer steps and the post-processor's template. Semantic errors (a regex we
 * cannot run, a template naming a missing token) are ConfigErrors naming the field.
 */
import { ConfigError } from '../../dsl/config';
import type { NormalizerJson, PreTokenizerStep, TokenizerJson } from './schema';
import { PatternError, SplitPattern } from './split-pattern';

/** The pattern of ByteLevel's `use_regex` (GPT-2's). */
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

export type Step = { split: SplitPattern } | { prefixSpace: true };

export function fieldError(label: string, path: string, why: string, actual: unknown): ConfigError {
  const message = `field '${path}' ${why}`;
  return new ConfigError(`${label}: ${message}`, { issues: [{ path, expected: why, actual, message }] });
}

function compilePattern(source: string, label: string, path: string): SplitPattern {
  try {
    return new SplitPattern(source);
  } catch (e) {
    if (e instanceof PatternError) throw fieldError(label, path, `is a regex we cannot run: ${e.message}`, source);
    throw e;
  }
}

export function normalizerOf(json: NormalizerJson): (s: string) => string {
  if (json == null) return (s) => s;
  const forms = 'normalizers' in json ? json.normalizers.map((n) => n.type) : [json.type];
  return (s) => forms.reduce((acc, form) => acc.normalize(form), s);
}

export function preTokenizerSteps(json: TokenizerJson['pre_tokenizer'], label: string): Step[] {
  const list: { step: PreTokenizerStep; path: string }[] =
    json.type === 'Sequence'
      ? json.pretokenizers.map((step, i) => ({ step, path: `pre_tokenizer.pretokenizers[${i}]` }))
      : [{ step: json, path: 'pre_tokenizer' }];
  if (!list.some(({ step }) => step.type === 'ByteLevel')) {
    throw fieldError(label, 'pre_tokenizer', 'has no ByteLevel step (only byte-level BPE is supported)', json.type);
  }
  const steps: Step[] = [];
  for (const { step, path } of list) {
    if (step.type === 'Split') {
      const p = step.pattern;
      steps.push({
        split:
          'Regex' in p
            ? compilePattern(p.Regex, label, `${path}.pattern.Regex`)
            : compilePattern(p.String.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), label, `${path}.pattern.String`),
      });
    } else {
      if (step.add_prefix_space) steps.push({ prefixSpace: true });
      if (step.use_regex ?? true) steps.push({ split: new SplitPattern(GPT2_PATTERN) });
    }
  }
  return steps;
}

/** Ids the post-processor puts around the text (TemplateProcessing's `single`). */
export function templateOf(json: TokenizerJson['post_processor'], label: string): { before: number[]; after: number[] } {
  const out = { before: [] as number[], after: [] as number[] };
  if (json == null) return out;
  const steps = json.type === 'Sequence' ? json.processors : [json];
  for (const step of steps) {
    if (step.type !== 'TemplateProcessing') continue;
    let seen = false;
    step.single.forEach((piece, i) => {
      if ('Sequence' in piece) return void (seen = true);
      const special = step.special_tokens[piece.SpecialToken.id];
      if (!special) throw fieldError(label, `post_processor.single[${i}]`, `names '${piece.SpecialToken.id}', which is not in special_tokens`, piece);
      (seen ? out.after : out.before).push(...special.ids);
    });
  }
  return out;
}

/** The pieces the BPE model merges separately. */
export function preTokenize(steps: readonly Step[], text: string): string[] {
  let pieces = [text];
  for (const step of steps) {
    if ('prefixSpace' in step) {
      pieces = pieces.map((p) => (p.startsWith(' ') ? p : ` ${p}`));
    } else {
      const out: string[] = [];
      for (const p of pieces) step.split.split(p, out);
      pieces = out;
    }
  }
  return pieces;
}
