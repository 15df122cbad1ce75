/**
 * A second labelled set for redaction, aimed at the shapes the first one
 * (pii-labelled-set.ts) missed: card numbers followed by an expiry date, a CVV
 * or punctuation, after words such as "card no."; IPv4 addresses with
 * zero-padded octets; US ITINs (9xx SSN-shaped numbers). Card numbers are
 * generated (Luhn check digit computed) from the networks' issuer prefixes,
 * so none is a published test number. Near-misses look alike and hold no
 * personal data: cards that fail the checksum, 9xx numbers in groups no
 * taxpayer number uses, dotted numbers with an octet over 255 or a version
 * word before them, dates and expiry dates alone.
 */
import type { LabelledExample } from "./pii-labelled-set.js";
import { luhnValid } from "../../src/router/pii-detectors.js";

const e = (text: string, ...pii: Array<[LabelledExample["pii"][number]["kind"], string]>): LabelledExample => ({
  text,
  pii: pii.map(([kind, value]) => ({ kind, value })),
});

/** Deterministic digits (a linear congruential generator), so the set is the same on every run. */
function digitSource(seed: number): (n: number) => string {
  let state = seed >>> 0;
  return (n) => {
    let out = "";
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      out += String(state % 10);
    }
    return out;
  };
}

/** A Luhn-valid number of `length` digits starting with `prefix`. */
function cardNumber(prefix: string, length: number, digits: (n: number) => string): string {
  const body = prefix + digits(length - prefix.length - 1);
  for (let check = 0; check < 10; check++) if (luhnValid(body + check)) return body + check;
  throw new Error("unreachable");
}

/** Groups a number as cards are written: 4-4-4-4 (4-6-5 for 15 digits), joined by `sep`. */
function grouped(number: string, sep: string): string {
  if (sep === "") return number;
  const sizes = number.length === 15 ? [4, 6, 5] : [4, 4, 4, 4];
  const parts: string[] = [];
  let at = 0;
  for (const size of sizes) parts.push(number.slice(at, (at += size)));
  return parts.join(sep);
}

const digits = digitSource(24);
const networks: Array<[string, string, number]> = [
  ["Visa", "4", 16], ["Visa", "4", 16], ["Mastercard", "51", 16], ["Mastercard", "53", 16], ["Mastercard", "55", 16],
  ["Mastercard", "2221", 16], ["Mastercard", "2720", 16], ["Amex", "34", 15], ["Amex", "37", 15], ["Discover", "6011", 16],
  ["Discover", "65", 16], ["Visa", "4", 16],
];
const cards = networks.map(([network, prefix, length]) => ({ network, number: cardNumber(prefix, length, digits) }));

/** Sentences with a card followed by something: an expiry, a CVV, punctuation. */
const cardSentences: Array<(card: string, network: string) => string> = [
  (c) => `card no. ${c} exp 09/28`,
  (c, n) => `${n} card no. ${c} exp. 11/27, thanks`,
  (c) => `Card number: ${c} valid thru 03/29`,
  (c) => `Please bill ${c} 09/28 cvv on the back`,
  (c) => `cc# ${c} CVV 123`,
  (c) => `Pay with ${c}, 12/26, 481.`,
  (c) => `The customer read out ${c} (exp 01/30).`,
  (c, n) => `${n}: ${c}; expiry 10/2027`,
];
const separators = ["", " ", "-"];

const cardExamples: LabelledExample[] = [];
cards.forEach(({ network, number }, i) => {
  for (let t = 0; t < 6; t++) {
    const sentence = cardSentences[(i + t) % cardSentences.length]!;
    const card = grouped(number, separators[(i + t) % separators.length]!);
    cardExamples.push(e(sentence(card, network), ["card", card]));
  }
});

const paddedIps = [
  "10.0.56.08", "192.168.001.010", "010.000.000.001", "172.016.254.001", "8.8.008.008", "100.064.000.001", "10.10.10.09",
  "192.168.000.254", "203.000.113.007", "10.001.002.003", "172.31.05.17", "192.168.10.05",
];
const ipSentences: Array<(ip: string) => string> = [
  (ip) => `host ${ip} is unreachable since noon`,
  (ip) => `Blocked login attempts from ${ip}.`,
  (ip) => `The PLC answers on ${ip}:502 again`,
];
const ipExamples = paddedIps.flatMap((ip, i) => [ipSentences[i % 3]!(ip), ipSentences[(i + 1) % 3]!(ip)].map((text) => e(text, ["ip", ip])));

const itins = [
  "912-70-1234", "987-65-4321", "900-70-0001", "955-88-1234", "923-50-9876", "978-90-4455", "964-62-1010", "931-93-2020",
  "949-99-3030", "900-81-7777", "988-77-0102", "913-56-4321",
];
const itinSentences: Array<(id: string) => string> = [
  (id) => `My ITIN is ${id}.`,
  (id) => `taxpayer id ${id} on the W-7 form`,
  (id) => `Use ${id} for the 1040, please`,
];
const itinExamples = itins.flatMap((id, i) => [itinSentences[i % 3]!(id), itinSentences[(i + 2) % 3]!(id)].map((text) => e(text, ["national_id", id])));

/** A card-shaped number whose check digit is wrong. */
function notLuhn(number: string): string {
  const last = Number(number.at(-1));
  return number.slice(0, -1) + String((last + 1) % 10);
}

const nearMisses: LabelledExample[] = [
  ...cards.slice(0, 10).map(({ number }, i) => e(cardSentences[i % cardSentences.length]!(grouped(notLuhn(number), separators[i % 3]!), "Visa"))),
  ...["900-45-1234", "966-89-1234", "912-66-0042", "999-00-1234", "950-49-0001", "987-67-5555", "900-89-0000", "921-44-1212"].map(
    (id, i) => e(i % 2 === 0 ? `Form code ${id} is not assigned.` : `Batch ${id} left the plant`),
  ),
  ...["256.001.002.003", "10.0.300.08", "999.010.010.010", "192.168.256.001"].map((v) => e(`Counter ${v} rolled over`)),
  e("firmware 1.00.02.15 is installed"),
  e("Release v2.01.003.1 ships Monday"),
  e("software version 3.04.05.06 fixed it"),
  e("build 10.0.19045.08 runs on the kiosk"),
  e("The netmask 255.255.255.000 stays."),
  e("Card expires 09/28, renew before then."),
  e("exp 11/27 printed on the badge"),
  e("CVV 123 is never stored."),
  e("Section 10.0.56 covers cleaning."),
  e("Meeting on 10.05.2026 at 09:28."),
  e("Totals: 4,111.11 and 1,111.11 EUR"),
  e("Serial 0000 1111 2222 3333 is on the label"),
  e("Lot 1234-5678-9012 exp 09/28"),
  e("Invoice 2026-0912-7012 is paid"),
  e("Call extension 912 then press 70."),
  e("Pallet 987 65 4321 is on bay 3"),
  e("Room 955, floor 88, desk 1234"),
  e("The ratio was 912/70 at 12:34."),
  e("Temperature 10.0 then 56.08 degrees"),
  e("Coordinates 52.520008, 13.404954 are the depot"),
  e("Part 0912-70-1234-5 is back in stock"),
  e("Use voucher 5105-1051 at the desk"),
  e("Model 3782-822463 is discontinued."),
  e("Gauge read 010.000 and then 056.008"),
  e("Test plan 1.1.1.1a passed"),
  e("Chapter 900.70.1234 of the manual"),
  e("The budget is 1.250.000.000 EUR this year"),
  e("Revenue reached € 2.000.000.000 in 2025"),
  e("Gate 912-70 opens at 12:34"),
  e("PO 4111-1111 covers 1111.11 EUR"),
  e("The account ends in 4444, exp 09/28"),
  e("Placeholder 1234 5678 9012 3456 exp 12/34 in the form"),
  e("Pin 0928 and code 123 are printed separately"),
  e("OID 1.3.6.1.4.1 belongs to the vendor"),
  e("rev 2.010.000.001 of the schematic"),
  e("fw 4.01.002.003 was flashed"),
  e("Grid square 10.00.56.08.5 on the map"),
  e("Ratio 255/255 and 000/001 look odd"),
  e("Flight 912 departs at 07:01, gate 23-4"),
  e("SKU 9127-0123-4000 is in aisle 5"),
  e("Invoice total 4 111 111.11 SEK"),
  e("ISBN 978-0-596-52068-7 is on the shelf"),
  e("Reference 912-70-1234-AB closes the case"),
  e("Dial 1-800-555-0199 for support"),
  e("Ticket 55-1234-5678-9012 exp 09/28"),
  e("Coupon code 3400 0000 0000 001 expires 09/28"),
  e("The bin 0911 holds 70 of item 1234"),
  e("Batch 4.012.888.888 left on 09/28"),
  e("Dimensions 010.5 x 000.8 x 056.1 mm"),
  e("The 2026.09.28 release notes"),
  e("Code 9-12-70-1234 on the crate"),
  e("Order 4000-0566-5566 exp 09/28 shipped"),
  e("Measured 008.008 and 008.009 volts"),
  e("Route 9 to exit 70, then 1234 meters"),
];

/** 72 cards with what follows them, 24 zero-padded IPs, 24 ITINs, 72 near-misses. */
export const EDGE_CASES_SET: LabelledExample[] = [...cardExamples, ...ipExamples, ...itinExamples, ...nearMisses];
