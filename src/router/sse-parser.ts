/**
 * Parses a Server-Sent Events byte stream into events (the `data:` lines of
 * each event joined by newlines), as OpenAI-compatible servers send them.
 */
export interface SseEvent {
  event?: string;
  data: string;
}

export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  let event: string | undefined;
  const flushEvent = (): SseEvent | undefined => {
    if (data.length === 0) {
      event = undefined;
      return undefined;
    }
    const out: SseEvent = { data: data.join("\n"), ...(event !== undefined ? { event } : {}) };
    data = [];
    event = undefined;
    return out;
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const newline = buffer.search(/\r\n|\r|\n/);
      if (newline === -1) break;
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        const out = flushEvent();
        if (out) yield out;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
    }
  }
  buffer += decoder.decode();
  if (buffer.length > 0 && buffer.startsWith("data:")) data.push(buffer.slice(5).trimStart());
  const last = flushEvent();
  if (last) yield last;
}
