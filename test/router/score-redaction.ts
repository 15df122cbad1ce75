/** Precision and recall of a redactor's detection over a labelled set, in all and per kind of personal data. */
import type { PiiKind } from "../../src/router/pii-detectors.js";
import type { Redactor } from "../../src/router/redactor.js";
import type { LabelledExample } from "./pii-labelled-set.js";

export interface KindScore {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
}

export interface RedactionScore extends KindScore {
  byKind: Partial<Record<PiiKind, KindScore>>;
  /** Examples without personal data, and how many of them nothing was detected in. */
  nearMisses: number;
  nearMissesIntact: number;
  /** One line per false positive or miss. */
  misses: string[];
}

function ratios(counts: { tp: number; fp: number; fn: number }): KindScore {
  return { ...counts, precision: counts.tp / (counts.tp + counts.fp || 1), recall: counts.tp / (counts.tp + counts.fn || 1) };
}

/** Scores detection against `set`: a detection counts only when its kind and exact text match a label. */
export function scoreRedaction(redactor: Redactor, set: readonly LabelledExample[]): RedactionScore {
  const counts = new Map<PiiKind, { tp: number; fp: number; fn: number }>();
  const of = (kind: PiiKind) => counts.get(kind) ?? counts.set(kind, { tp: 0, fp: 0, fn: 0 }).get(kind)!;
  const misses: string[] = [];
  let nearMisses = 0;
  let nearMissesIntact = 0;
  for (const example of set) {
    const found = redactor.detect(example.text);
    if (example.pii.length === 0) {
      nearMisses++;
      if (found.length === 0) nearMissesIntact++;
    }
    const remaining = example.pii.map((p) => `${p.kind}:${p.value}`);
    for (const f of found) {
      const at = remaining.indexOf(`${f.kind}:${f.value}`);
      if (at !== -1) {
        of(f.kind).tp++;
        remaining.splice(at, 1);
      } else {
        of(f.kind).fp++;
        misses.push(`false positive ${f.kind}:${f.value} in: ${example.text}`);
      }
    }
    for (const r of remaining) {
      of(r.slice(0, r.indexOf(":")) as PiiKind).fn++;
      misses.push(`missed ${r} in: ${example.text}`);
    }
  }
  const total = { tp: 0, fp: 0, fn: 0 };
  const byKind: Partial<Record<PiiKind, KindScore>> = {};
  for (const [kind, c] of counts) {
    byKind[kind] = ratios(c);
    total.tp += c.tp;
    total.fp += c.fp;
    total.fn += c.fn;
  }
  return { ...ratios(total), byKind, nearMisses, nearMissesIntact, misses };
}

/** One line per kind: `card: recall 1.000 (72/72), precision 1.000 (0 false positives)`. */
export function describeScore(score: RedactionScore): string {
  return Object.entries(score.byKind)
    .map(([kind, k]) => {
      const recall = k.tp + k.fn === 0 ? "n/a (none labelled)" : `${k.recall.toFixed(3)} (${k.tp}/${k.tp + k.fn})`;
      return `${kind}: recall ${recall}, precision ${k.precision.toFixed(3)} (${k.fp} false positives)`;
    })
    .join("\n");
}
