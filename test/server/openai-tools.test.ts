import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ARGUMENT_FRAGMENT_CHARS, toolCallDeltas } from "../../src/server/openai-tools.js";

describe("OpenAI tool-call deltas", () => {
  it("streams long arguments in fragments (OpenAI's delta.tool_calls)", () => {
    const args = JSON.stringify({ text: "x".repeat(150) });
    const deltas = toolCallDeltas([{ id: "call_1", name: "f", arguments: args }]) as any[];
    assert.equal(deltas.length, 1 + Math.ceil(args.length / ARGUMENT_FRAGMENT_CHARS));
    assert.deepEqual(deltas[0], { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "" } }] });
    assert.equal(deltas.slice(1).map((d) => d.tool_calls[0].function.arguments).join(""), args);
  });

});
