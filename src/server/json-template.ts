/**
 * A JSON document serialized once with one string left open, for the per-token
 * frames of a stream: fill(text) splices the escaped text in, instead of
 * serializing the whole frame again for every token.
 */
const MARKER = "\u0000edgelm-slot\u0000";

export function jsonTemplate(build: (slot: string) => unknown): (text: string) => string {
  const json = JSON.stringify(build(MARKER));
  const at = json.indexOf(JSON.stringify(MARKER));
  if (at === -1 || json.indexOf(JSON.stringify(MARKER), at + 1) !== -1) throw new Error("jsonTemplate: the slot must appear exactly once");
  const head = json.slice(0, at);
  const tail = json.slice(at + JSON.stringify(MARKER).length);
  return (text) => head + JSON.stringify(text) + tail;
}
