/**
 * A labelled set for measuring redaction: sentences with the personal data they
 * contain (kind + exact text), and near-misses that contain none (order numbers
 * that are not cards, dates, versions, prices, tracking codes...). Card numbers
 * and IBANs are the networks' and registries' published test values.
 */
import type { PiiKind } from "../../src/router/pii-detectors.js";

export interface LabelledExample {
  text: string;
  pii: Array<{ kind: PiiKind; value: string }>;
}

const e = (text: string, ...pii: Array<[PiiKind, string]>): LabelledExample => ({
  text,
  pii: pii.map(([kind, value]) => ({ kind, value })),
});

const emails = [
  "anna.schmidt@example.com", "j.doe+invoices@mail.example.org", "support@factory-gw.local.test", "KIM_LEE@Example.CO.UK",
  "o'brien@example.ie", "r2d2@droids.example", "first.last@sub.domain.example.net", "x@y.io", "maria.garcia@correo.example.es",
  "ops-team@plant7.example.com", "li.wei@example.cn", "noreply@notifications.example.com",
];
const emailTemplates = [
  (v: string) => `Please send the report to ${v} before Friday.`,
  (v: string) => `Contact: ${v}`,
  (v: string) => `My email is ${v}, thanks!`,
  (v: string) => `cc ${v} on the ticket`,
];

const phones = [
  "+49 30 1234567", "+1 415-555-0132", "+44 20 7946 0958", "(212) 555-0187", "030 12345678", "+33 1 42 68 53 00",
  "555-867-5309", "+81 3-1234-5678", "0151 23456789", "+31 20 123 4567", "+1 (650) 253-0000", "020 7946 0958",
];
const phoneTemplates = [
  (v: string) => `Call me at ${v} after 5pm.`,
  (v: string) => `Tel: ${v}`,
  (v: string) => `The technician's number is ${v}.`,
];

const cards = [
  "4111 1111 1111 1111", "5555555555554444", "3782 822463 10005", "6011-1111-1111-1117", "4012888888881881",
  "5105 1051 0510 5100", "371449635398431", "3530111333300000", "2223003122003222", "4000 0566 5566 5556",
  "30569309025904", "6011000990139424",
];
const cardTemplates = [
  (v: string) => `Charge it to card ${v}, expiry 04/27.`,
  (v: string) => `My Visa is ${v}`,
  (v: string) => `payment: ${v}`,
];

const ibans = [
  "DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819", "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300",
  "ES91 2100 0418 4502 0005 1332", "IT60X0542811101000000123456", "CH93 0076 2011 6238 5295 7", "BE68 5390 0754 7034",
  "AT611904300234573201", "SE45 5000 0000 0583 9825 7466", "PL61 1090 1014 0000 0712 1981 2874", "NO9386011117947",
];
const ibanTemplates = [
  (v: string) => `Wire the deposit to IBAN ${v} please.`,
  (v: string) => `Bank account: ${v}`,
];

const ssns = ["123-45-6789", "078-05-1121", "219-09-9999", "457-55-5462"];
const ninos = ["AB 12 34 56 C", "JT123456A", "JG 10 37 21 A"];
const ips = ["192.168.1.20", "10.0.0.1", "172.16.254.3", "203.0.113.7", "2001:db8::8a2e:370:7334", "fe80::1ff:fe23:4567:890a", "8.8.8.8", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"];

const positives: LabelledExample[] = [
  ...emails.flatMap((v, i) => [e(emailTemplates[i % 4]!(v), ["email", v]), e(emailTemplates[(i + 1) % 4]!(v), ["email", v])]),
  ...phones.flatMap((v, i) => [e(phoneTemplates[i % 3]!(v), ["phone", v]), e(phoneTemplates[(i + 2) % 3]!(v), ["phone", v])]),
  ...cards.flatMap((v, i) => [e(cardTemplates[i % 3]!(v), ["card", v]), e(cardTemplates[(i + 1) % 3]!(v), ["card", v])]),
  ...ibans.flatMap((v, i) => [e(ibanTemplates[i % 2]!(v), ["iban", v]), e(ibanTemplates[(i + 1) % 2]!(v), ["iban", v])]),
  ...ssns.map((v) => e(`SSN ${v} on file.`, ["national_id", v])),
  ...ssns.map((v) => e(`Her social security number is ${v}.`, ["national_id", v])),
  ...ninos.map((v) => e(`National Insurance number: ${v}`, ["national_id", v])),
  ...ips.map((v) => e(`The camera at ${v} stopped responding.`, ["ip", v])),
  ...ips.slice(0, 4).map((v) => e(`ssh admin@${v.replace(/\./g, ".")} failed`, ["ip", v])),
  // Several kinds in one message.
  e("I'm Anna (anna@example.com, +49 171 2345678); refund to DE89 3704 0044 0532 0130 00.",
    ["email", "anna@example.com"], ["phone", "+49 171 2345678"], ["iban", "DE89 3704 0044 0532 0130 00"]),
  e("Card 4111111111111111 was declined at kiosk 10.1.2.3.", ["card", "4111111111111111"], ["ip", "10.1.2.3"]),
  e("Reach bob@example.org or 020 7946 0958 about SSN 123-45-6789.",
    ["email", "bob@example.org"], ["phone", "020 7946 0958"], ["national_id", "123-45-6789"]),
  e("Customer: jo@example.com / 5555 5555 5555 4444 / 192.0.2.44",
    ["email", "jo@example.com"], ["card", "5555 5555 5555 4444"], ["ip", "192.0.2.44"]),
  e("Forward to ops@example.com and ops@example.com again.", ["email", "ops@example.com"], ["email", "ops@example.com"]),
];

const nearMisses: LabelledExample[] = [
  // Order, invoice and tracking numbers that look like cards or phones.
  e("Order number 4111 2222 3333 4444 has shipped."),
  e("Your order #5500-1234-5678-9012 is on its way."),
  e("Invoice 1234567890123456 is due next week."),
  e("Tracking: 1Z999AA10123456784"),
  e("Reference 9876543210987654 was cancelled."),
  e("Serial number 4000123412341234 is out of warranty."),
  e("Part 3782-8224-6310-0051 is back in stock."),
  e("Ticket 555-123-4567 was closed."),
  e("Case ID 020-7946-0958 needs review."),
  e("SKU 601112345678 sold out."),
  e("The batch code is 1234 5678 9012 3456."),
  e("Loyalty points: 4111111111111112 (not a card)"),
  e("Account balance 12345678901234 credits"),
  e("ISBN 978-3-16-148410-0 is the second edition."),
  e("The UPC is 036000291452."),
  // Dates, times, durations.
  e("The meeting is on 2024-01-15 at 10:30."),
  e("Deadline: 15.01.2024, 17:00."),
  e("Logged at 12:30:45 on 03/04/2025."),
  e("Between 1999-2004 the line ran at 95%."),
  e("Timestamp 1700000000123 in milliseconds."),
  // Versions, numbers, codes.
  e("Update firmware to version 1.2.3.4 tonight."),
  e("We run llama.cpp v3.21.1 on the kiosk."),
  e("Release 10.0.19045.3803 fixed it."),
  e("Python 3.11.7 and Node 20.20.2 are installed."),
  e("The ratio was 0.95 and p95 1.23 ms."),
  e("Price: $1,234.56 per unit, 12 units."),
  e("Temperature 21.5 C, humidity 40%."),
  e("Zip code 90210, Beverly Hills."),
  e("Room 404 on floor 3."),
  e("Error code 0x80070005 when saving."),
  e("The PIN pad shows 1234."),
  e("Lot 20240115-001 passed QA."),
  e("GPS 52.5200, 13.4050"),
  e("Coordinates 48.8566 N, 2.3522 E"),
  e("The MAC address is 00:1A:2B:3C:4D:5E."),
  e("SHA-256 prefix 3371a05d is pinned."),
  e("Use port 11435 on localhost."),
  e("Set the subnet mask to 255.255.255.0 later."),
  e("A ratio of 16:9 fits the screen."),
  e("Chapter 12:4-7 of the manual."),
  // Things that look like e-mails or IBANs but are not.
  e("Use the @example handle on social media."),
  e("The file is named report@2x.png."),
  e("Mention user@ in the chat."),
  e("Install with npm i -E node-llama-cpp@3.21.1 first."),
  e("The code DE12 is printed on the label."),
  e("Model GB2900X is discontinued."),
  e("Promo code FR14SPRING gives 10% off."),
  e("Bay NL91 in warehouse 3."),
  e("Text NO to stop messages."),
  // Short numbers and counts.
  e("Call extension 4521 for help."),
  e("We sold 1234567 units."),
  e("Press 1 then 2 then 3."),
  e("The total was 1 234 567 tokens."),
  e("Batch size 512, context 4096."),
  e("Seats 12-14 are reserved."),
  e("Plan B costs 99.99."),
  e("Bus 42 leaves at 8."),
  e("Shelf 7-2-19 holds spares."),
  e("Apartment 3B, building 12."),
  e("Pallets 001-002-003 are damaged."),
  // Plain text.
  e("Once upon a time there was a little girl named Lily."),
  e("The robot arm stopped at station four."),
  e("Please summarise the maintenance log."),
  e("How do I reset the kiosk printer?"),
  e("Translate 'good morning' into German."),
  e("What is the capital of France?"),
  e("The conveyor belt runs at 2 m/s."),
  e("Check the oil level every 250 hours."),
  e("Camera 3 sees a person at the gate."),
  e("Write a haiku about the sea."),
  e("List three uses of a Raspberry Pi."),
  e("Our Wi-Fi name is FACTORY-GW-7."),
  e("The answer is 42."),
  e("Yesterday's output was 1,204 parts."),
  e("Restart the service with systemctl restart edgelm."),
  e("The SSN field is left empty on purpose."),
  e("Enter your IBAN in the form below."),
  e("Do not share your card number in chat."),
  e("An email address looks like name at domain."),
  e("IPv6 uses colons, IPv4 uses dots."),
  e("Phone numbers start with a plus and a country code."),
  e("Version 2.0 shipped in 2024."),
  e("The temperature rose from -5 to 12 degrees."),
  e("Gate 7-B, terminal 2."),
  e("Spin the dial to 3-30-12."),
  e("Flight LH 400 departs at 13:05."),
  e("1 kg flour, 2 eggs, 500 ml milk."),
  e("Channel 11, 2.4 GHz."),
  e("Measure 3.3 V on pin 1."),
  e("Keep 0.5 m distance."),
];

export const LABELLED_SET: LabelledExample[] = [...positives, ...nearMisses];
