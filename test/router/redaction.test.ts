import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ibanValid, luhnValid, type PiiKind } from "../../src/router/pii-detectors.js";
import { Redactor } from "../../src/router/redactor.js";
import { LABELLED_SET } from "./pii-labelled-set.js";
import { scoreRedaction } from "./score-redaction.js";

describe("redaction", () => {
  it("has a labelled set of at least 200 examples, with near-misses", () => {
    assert.ok(LABELLED_SET.length >= 200, `${LABELLED_SET.length} examples`);
    assert.ok(LABELLED_SET.filter((x) => x.pii.length === 0).length >= 80);
  });

  it("reaches recall >= 0.97 and precision >= 0.97 on the labelled set", () => {
    const score = scoreRedaction(new Redactor(), LABELLED_SET);
    const line = `precision ${score.precision.toFixed(3)} recall ${score.recall.toFixed(3)} (tp ${score.tp}, fp ${score.fp}, fn ${score.fn})`;
    console.log(`redaction on ${LABELLED_SET.length} labelled examples: ${line}`);
    assert.ok(score.recall >= 0.97 && score.precision >= 0.97, `${line}\n${score.misses.join("\n")}`);
  });

  it("validates checksums: Luhn for cards, mod-97 for IBANs", () => {
    assert.equal(luhnValid("4111111111111111"), true);
    assert.equal(luhnValid("4111111111111112"), false);
    assert.equal(ibanValid("DE89370400440532013000"), true);
    assert.equal(ibanValid("DE89370400440532013001"), false);
    assert.equal(ibanValid("XX89370400440532013000"), false);
  });

  it("replaces each value with a stable placeholder and restores the answer", () => {
    const session = new Redactor().session();
    const out = session.redact("Mail anna@example.com or call +49 30 1234567; again: anna@example.com");
    assert.equal(out, "Mail [EMAIL_1] or call [PHONE_1]; again: [EMAIL_1]");
    assert.deepEqual(session.summary(), { EMAIL: 1, PHONE: 1 });
    assert.equal(session.restore("I wrote to [EMAIL_1] and [PHONE_1], not [EMAIL_9]."), "I wrote to anna@example.com and +49 30 1234567, not [EMAIL_9].");
  });

  it("restores placeholders split across streamed chunks", () => {
    const session = new Redactor().session();
    session.redact("card 4111 1111 1111 1111 and ip 10.0.0.1");
    const answer = "Card [CARD_1] from [IP_1] is [CARD_1].";
    for (let size = 1; size <= 6; size++) {
      const restorer = session.streamRestorer();
      let out = "";
      for (let i = 0; i < answer.length; i += size) out += restorer.push(answer.slice(i, i + size));
      out += restorer.flush();
      assert.equal(out, "Card 4111 1111 1111 1111 from 10.0.0.1 is 4111 1111 1111 1111.", `chunk size ${size}`);
    }
    const plain = session.streamRestorer();
    assert.equal(plain.push("a [b] c ["), "a [b] c ");
    assert.equal(plain.push("x"), "[x");
  });

  it("redacts only the configured kinds and custom national ID patterns", () => {
    const kinds: PiiKind[] = ["email"];
    const onlyEmail = new Redactor({ kinds });
    assert.equal(onlyEmail.session().redact("a@example.com 10.0.0.1"), "[EMAIL_1] 10.0.0.1");
    const custom = new Redactor({ nationalIdPatterns: [{ name: "de_id", pattern: String.raw`\bL01X00T47\b` }] });
    assert.equal(custom.session().redact("Ausweis L01X00T47 bitte"), "Ausweis [ID_1] bitte");
    assert.throws(() => new Redactor({ nationalIdPatterns: [{ name: "bad", pattern: "(" }] }), /not a valid regular expression/);
  });
});
