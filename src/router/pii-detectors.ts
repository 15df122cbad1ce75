/**
 * Detectors for personal data in free text: e-mail addresses, phone numbers,
 * payment card numbers (Luhn-checked), IBANs (mod-97-checked), national ID
 * patterns and IP addresses. Each finds candidates with a pattern, then
 * validates them, so look-alikes (order numbers, dates, versions) are left alone.
 */
import { isIP } from "node:net";

export type PiiKind = "email" | "phone" | "card" | "iban" | "national_id" | "ip";

export interface PiiMatch {
  kind: PiiKind;
  start: number;
  end: number;
  value: string;
  /** For national IDs: which configured pattern matched. */
  label?: string;
}

export interface NationalIdPattern {
  name: string;
  /** A regular expression source (no flags; matched globally, case-sensitive). */
  pattern: string;
}

/**
 * Defaults: US SSN, US ITIN and UK National Insurance numbers, in their usual
 * written forms. A 9xx area is never an SSN; it is an individual taxpayer
 * number (ITIN, or ATIN for adoptions: group 50–65, 70–88, 90–99), which
 * identifies a person as much as an SSN does. Other 9xx numbers (groups 00–49,
 * 66–69, 89) are issued to no one and are left alone.
 */
export const DEFAULT_NATIONAL_ID_PATTERNS: NationalIdPattern[] = [
  { name: "us_ssn", pattern: String.raw`\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b` },
  { name: "us_itin", pattern: String.raw`\b9\d\d-(?:5\d|6[0-5]|7\d|8[0-8]|9\d)-\d{4}\b` },
  { name: "uk_nino", pattern: String.raw`\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b` },
];

const EMAIL = /[A-Za-z0-9](?:[A-Za-z0-9._%+'-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b/g;

/** Digits in groups separated by single spaces or dashes, 13–19 digits in all. */
const CARD = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g;

const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g;

/** Phone numbers: international (+CC ...) or national with area code groups. */
const PHONE =
  /(?<![\w+.-])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]?\d{3,4}|0\d{2,4}[ /.-]?\d{3,8}(?:[ .-]?\d{2,4})?|\d{3}[.-]\d{3}[.-]\d{4})(?![\w.-]*\d)/g;

/** A dotted quad not inside a longer dotted number or glued to a word (`1.1.1.1a` is a plan number). */
const IPV4 = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)(?![A-Za-z_])/g;

/** Words that, just before a dotted quad, say it is a version (`firmware 1.00.02.15`), not an address. */
const VERSION_CONTEXT = /(?:version|ver\.?|v|release|build|firmware|fw|rev\.?|revision|software|sw)\s*$/i;
const IPV6 = /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])/g;

/** Issuer prefixes of the major card networks (first digits). */
const CARD_PREFIX = /^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9])|35(?:2[89]|[3-8])|3(?:0[0-5]|[689])|62)/;

/** IBAN lengths per country (ISO 13616 registry, common countries). */
const IBAN_LENGTH: Record<string, number> = {
  AD: 24, AE: 23, AT: 20, BE: 16, BG: 22, BH: 22, BR: 29, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24,
  FI: 18, FR: 27, GB: 22, GI: 23, GR: 27, HR: 21, HU: 28, IE: 22, IL: 23, IS: 26, IT: 27, KW: 30, KZ: 20, LB: 28,
  LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MT: 31, NL: 18, NO: 15, PL: 28, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24,
  SE: 24, SI: 19, SK: 24, SM: 27, TR: 26, UA: 29,
};

/** Words that, just before a number, say it is a reference, not a phone or card. */
const REFERENCE_CONTEXT = /(?:order|invoice|ref(?:erence)?|ticket|tracking|serial|part|sku|case|no\.|number|#|id|isbn|version|v)\s*[:#]?\s*$/i;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export function ibanValid(candidate: string): boolean {
  const iban = candidate.replace(/ /g, "");
  const length = IBAN_LENGTH[iban.slice(0, 2)];
  if (length === undefined || iban.length !== length) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= "A" && ch <= "Z" ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    remainder = (remainder * (value > 9 ? 100 : 10) + value) % 97;
  }
  return remainder === 1;
}

/** Words that say the number after them is a payment card ("card no.", "Visa number:"), whatever else precedes it. */
const CARD_CONTEXT = /\b(?:card|visa|master ?card|amex|american express|discover|diners|jcb|credit|debit|cc)\b[^\d\n]{0,16}$/i;

function precededByReference(text: string, start: number): boolean {
  return REFERENCE_CONTEXT.test(text.slice(Math.max(0, start - 24), start));
}

function* scan(pattern: RegExp, text: string): Generator<RegExpExecArray> {
  const re = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`);
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    yield m;
  }
}

function cardGroupsPlausible(value: string): boolean {
  const groups = value.split(/[ -]/);
  if (groups.length === 1) return true;
  const separators = value.match(/[ -]/g) ?? [];
  if (new Set(separators).size > 1) return false;
  // 4-4-4-4(-3), 4-6-5 (Amex), 4-6-4 (Diners)
  const shape = groups.map((g) => g.length).join("-");
  return /^4-4-4-4(?:-[1-3])?$|^4-6-[45]$|^4-4-4-[1-3]$/.test(shape);
}

/** File names like report@2x.png match the address pattern; no real address ends in a file extension. */
const FILE_EXTENSION = /\.(?:png|jpe?g|gif|svg|webp|pdf|txt|csv|json|ya?ml|gguf|zip|tar|gz|mp[34]|wav|log)$/i;

export function detectEmails(text: string): PiiMatch[] {
  return [...scan(EMAIL, text)]
    .filter((m) => !FILE_EXTENSION.test(m[0]))
    .map((m) => ({ kind: "email" as const, start: m.index, end: m.index + m[0].length, value: m[0] }));
}

/** Whether `value` (digits with single spaces or dashes) is shaped, prefixed and checksummed like a card number. */
function cardValid(value: string): boolean {
  const digits = value.replace(/[ -]/g, "");
  return digits.length >= 13 && digits.length <= 19 && cardGroupsPlausible(value) && CARD_PREFIX.test(digits) && luhnValid(digits);
}

/**
 * The card number a digit run starts with: the run itself, or, when what follows
 * the number was swallowed by the pattern (an expiry `09/28`, a CVV `123`), the
 * longest run of its leading groups that is a valid card.
 */
function leadingCard(value: string): string | undefined {
  if (cardValid(value)) return value;
  for (let end = value.search(/[ -][^ -]*$/); end > 0; end = value.slice(0, end).search(/[ -][^ -]*$/)) {
    const prefix = value.slice(0, end);
    if (prefix.replace(/[ -]/g, "").length < 13) return undefined;
    if (cardValid(prefix)) return prefix;
  }
  return undefined;
}

export function detectCards(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const m of scan(CARD, text)) {
    const value = leadingCard(m[0]);
    if (value === undefined) continue;
    const context = text.slice(Math.max(0, m.index - 32), m.index);
    if (precededByReference(text, m.index) && !CARD_CONTEXT.test(context)) continue;
    out.push({ kind: "card", start: m.index, end: m.index + value.length, value });
  }
  return out;
}

export function detectIbans(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const m of scan(IBAN, text)) {
    // The greedy pattern may swallow a following word; shrink to the longest valid prefix.
    let value = m[0];
    while (value.length >= 15 && !ibanValid(value)) value = value.slice(0, -1).trimEnd();
    if (value.length >= 15 && ibanValid(value)) out.push({ kind: "iban", start: m.index, end: m.index + value.length, value });
  }
  return out;
}

export function detectPhones(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const m of scan(PHONE, text)) {
    const value = m[0].replace(/[ .-]+$/, "");
    const digits = value.replace(/\D/g, "");
    if (digits.length < 7 || digits.length > 15) continue;
    if (precededByReference(text, m.index)) continue;
    // Dates such as 2024-01-15 or 15.01.2024 are not phone numbers.
    if (/^\d{4}[-./]\d{2}[-./]\d{2}$|^\d{2}[-./]\d{2}[-./]\d{4}$/.test(value)) continue;
    out.push({ kind: "phone", start: m.index, end: m.index + value.length, value });
  }
  return out;
}

/** 255.255.255.0 and friends describe networks, not hosts. */
function isNetmask(address: string): boolean {
  const bits = address
    .split(".")
    .map((o) => Number(o).toString(2).padStart(8, "0"))
    .join("");
  return /^1+0*$/.test(bits);
}

/**
 * A dotted quad of decimal octets 0–255. Zero-padded octets (`10.0.56.08`,
 * `010.000.056.008`) count: logs and config files write addresses that way and
 * they still name a host, so they are personal data like any other address.
 */
function isIpv4(candidate: string): boolean {
  return candidate.split(".").every((octet) => octet.length <= 3 && Number(octet) <= 255);
}

/** `1.250.000.000 EUR`, `$ 2.000.000.000`: an amount with dots between thousands, which zero-padded quads resemble. */
const CURRENCY_BEFORE = /(?:[€$£¥]|\b(?:EUR|USD|GBP|CHF|JPY))\s?$/i;
const CURRENCY_AFTER = /^\s?(?:[€$£¥]|(?:EUR|USD|GBP|CHF|JPY|VND|IDR|COP|euros?|dollars?|pesos?|rupiah|dong)\b)/i;

function isAmount(text: string, start: number, end: number): boolean {
  if (!/^\d{1,3}(?:\.\d{3}){3}$/.test(text.slice(start, end))) return false;
  return CURRENCY_BEFORE.test(text.slice(Math.max(0, start - 5), start)) || CURRENCY_AFTER.test(text.slice(end, end + 10));
}

export function detectIps(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const m of scan(IPV4, text)) {
    if (!isIpv4(m[0]) || isNetmask(m[0]) || isAmount(text, m.index, m.index + m[0].length)) continue;
    if (VERSION_CONTEXT.test(text.slice(Math.max(0, m.index - 12), m.index))) continue;
    out.push({ kind: "ip", start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  for (const m of scan(IPV6, text)) {
    if (isIP(m[0]) !== 6 || !/[0-9A-Fa-f]/.test(m[0]) || m[0].split(":").length < 3) continue;
    out.push({ kind: "ip", start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  return out;
}

export function detectNationalIds(text: string, patterns: readonly NationalIdPattern[]): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const { name, pattern } of patterns) {
    for (const m of scan(new RegExp(pattern, "g"), text)) {
      out.push({ kind: "national_id", start: m.index, end: m.index + m[0].length, value: m[0], label: name });
    }
  }
  return out;
}
