/**
 * Redaction before anything leaves the device: personal data in outgoing text
 * is replaced by stable placeholders ("[EMAIL_1]"; the same value gets the same
 * placeholder within one request), and the upstream's answer has them put back —
 * also when a placeholder is split across streamed chunks.
 */
import { EdgeError } from "../errors.js";
import {
  DEFAULT_NATIONAL_ID_PATTERNS,
  detectCards,
  detectEmails,
  detectIbans,
  detectIps,
  detectNationalIds,
  detectPhones,
  type NationalIdPattern,
  type PiiKind,
  type PiiMatch,
} from "./pii-detectors.js";

export interface RedactorOptions {
  /** Kinds to redact (default: all). */
  kinds?: readonly PiiKind[];
  nationalIdPatterns?: readonly NationalIdPattern[];
}

const ALL_KINDS: readonly PiiKind[] = ["email", "phone", "card", "iban", "national_id", "ip"];

/** When two detections overlap, the more specific kind wins (then the longer match). */
const PRIORITY: Record<PiiKind, number> = { email: 0, iban: 1, card: 2, national_id: 3, ip: 4, phone: 5 };

const LABEL: Record<PiiKind, string> = {
  email: "EMAIL",
  phone: "PHONE",
  card: "CARD",
  iban: "IBAN",
  national_id: "ID",
  ip: "IP",
};

const PLACEHOLDER = /\[(?:EMAIL|PHONE|CARD|IBAN|ID|IP)_\d+\]/g;
/** The longest placeholder we could emit, for holding back partial ones in a stream. */
const MAX_PLACEHOLDER = "[EMAIL_999999]".length;

/** The redactor `router.redaction` describes (the same rules for cloud routes and for events from answers). */
export function redactorFromConfig(redaction: { kinds?: readonly PiiKind[] | undefined; national_ids?: ReadonlyArray<NationalIdPattern> | undefined }): Redactor {
  return new Redactor({
    ...(redaction.kinds ? { kinds: redaction.kinds } : {}),
    ...(redaction.national_ids ? { nationalIdPatterns: redaction.national_ids } : {}),
  });
}

export class Redactor {
  private readonly kinds: ReadonlySet<PiiKind>;
  private readonly nationalIdPatterns: readonly NationalIdPattern[];

  constructor(options: RedactorOptions = {}) {
    this.kinds = new Set(options.kinds ?? ALL_KINDS);
    this.nationalIdPatterns = options.nationalIdPatterns ?? DEFAULT_NATIONAL_ID_PATTERNS;
    for (const { name, pattern } of this.nationalIdPatterns) {
      try {
        new RegExp(pattern, "g");
      } catch (error) {
        throw new EdgeError("invalid_config", `national ID pattern "${name}" is not a valid regular expression: ${(error as Error).message}`);
      }
    }
  }

  /** All personal data found in the text, non-overlapping, in order. */
  detect(text: string): PiiMatch[] {
    const found: PiiMatch[] = [];
    if (this.kinds.has("email")) found.push(...detectEmails(text));
    if (this.kinds.has("iban")) found.push(...detectIbans(text));
    if (this.kinds.has("card")) found.push(...detectCards(text));
    if (this.kinds.has("national_id")) found.push(...detectNationalIds(text, this.nationalIdPatterns));
    if (this.kinds.has("ip")) found.push(...detectIps(text));
    if (this.kinds.has("phone")) found.push(...detectPhones(text));
    found.sort((a, b) => PRIORITY[a.kind] - PRIORITY[b.kind] || b.end - b.start - (a.end - a.start) || a.start - b.start);
    const kept: PiiMatch[] = [];
    for (const match of found) {
      if (kept.every((k) => match.end <= k.start || match.start >= k.end)) kept.push(match);
    }
    return kept.sort((a, b) => a.start - b.start);
  }

  /** A session for one request: placeholders are stable within it. */
  session(): RedactionSession {
    return new RedactionSession(this);
  }
}

export class RedactionSession {
  private readonly byValue = new Map<string, string>();
  private readonly byPlaceholder = new Map<string, string>();
  private readonly counters = new Map<string, number>();

  constructor(private readonly redactor: Redactor) {}

  /** How many distinct values were replaced so far. */
  get replacements(): number {
    return this.byValue.size;
  }

  /** The kinds of personal data replaced so far, with counts (for logs and metrics; never the values). */
  summary(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  redact(text: string): string {
    const matches = this.redactor.detect(text);
    if (matches.length === 0) return text;
    let out = "";
    let at = 0;
    for (const match of matches) {
      out += text.slice(at, match.start) + this.placeholderFor(match);
      at = match.end;
    }
    return out + text.slice(at);
  }

  private placeholderFor(match: PiiMatch): string {
    const existing = this.byValue.get(match.value);
    if (existing) return existing;
    const label = LABEL[match.kind];
    const n = (this.counters.get(label) ?? 0) + 1;
    this.counters.set(label, n);
    const placeholder = `[${label}_${n}]`;
    this.byValue.set(match.value, placeholder);
    this.byPlaceholder.set(placeholder, match.value);
    return placeholder;
  }

  /** Puts the original values back into a complete text. */
  restore(text: string): string {
    return text.replace(PLACEHOLDER, (p) => this.byPlaceholder.get(p) ?? p);
  }

  /** A restorer for streamed text: feed chunks in order, then flush. */
  streamRestorer(): StreamRestorer {
    return new StreamRestorer(this);
  }
}

/** Restores placeholders in a stream, holding back a tail that may be the start of one. */
export class StreamRestorer {
  private held = "";

  constructor(private readonly session: RedactionSession) {}

  push(chunk: string): string {
    const text = this.held + chunk;
    const open = text.lastIndexOf("[");
    if (open !== -1 && text.indexOf("]", open) === -1 && text.length - open < MAX_PLACEHOLDER && /^\[[A-Z]*_?\d*$/.test(text.slice(open))) {
      this.held = text.slice(open);
      return this.session.restore(text.slice(0, open));
    }
    this.held = "";
    return this.session.restore(text);
  }

  flush(): string {
    const rest = this.held;
    this.held = "";
    return this.session.restore(rest);
  }
}
