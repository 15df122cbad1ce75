import { EdgeError } from "../errors.js";

/** The one wording of "the prompt does not fit", for every engine (clients and tests match on it). */
export function contextOverflowError(promptTokens: number, contextSize: number): EdgeError {
  return new EdgeError(
    "context_overflow",
    `the prompt is ${promptTokens} tokens but the context holds ${contextSize} (at least one token must be left to generate)`,
    { details: { promptTokens, contextSize } },
  );
}

/** UTF-8 bytes of the text a request asks the model to read: the raw prompt, or every message's content and calls. */
export function promptTextBytes(request: { prompt?: string; messages?: ReadonlyArray<{ content: string; toolCalls?: ReadonlyArray<{ arguments: string }> }> }): number {
  let bytes = request.prompt !== undefined ? Buffer.byteLength(request.prompt, "utf8") : 0;
  for (const message of request.messages ?? []) {
    bytes += Buffer.byteLength(message.content, "utf8");
    for (const call of message.toolCalls ?? []) bytes += Buffer.byteLength(call.arguments, "utf8");
  }
  return bytes;
}

/**
 * The length check that needs no tokenizer: no token stands for more than `longestTokenBytes` bytes of text, so
 * `promptBytes` of text is at least ceil(promptBytes / longestTokenBytes) tokens. When even that lower bound leaves
 * no room to generate, the prompt overflows whatever the tokenizer would say; a 4 MB prompt is refused this way
 * without the runner spending seconds tokenizing it. Returns the error, or undefined when only tokenizing can tell.
 */
export function promptBytesOverflow(promptBytes: number, longestTokenBytes: number, contextSize: number): EdgeError | undefined {
  const fewestTokens = Math.ceil(promptBytes / Math.max(1, longestTokenBytes));
  if (fewestTokens < contextSize) return undefined;
  return new EdgeError(
    "context_overflow",
    `the prompt is ${promptBytes} bytes, at least ${fewestTokens} tokens (no token of this model is longer than ${longestTokenBytes} bytes), but the context holds ${contextSize} (at least one token must be left to generate)`,
    { details: { promptBytes, minPromptTokens: fewestTokens, contextSize, longestTokenBytes } },
  );
}

/**
 * `text` cut to the first `maxTokens × longestTokenBytes` UTF-8 bytes: still at least `maxTokens` tokens, so
 * truncating its tokens to the context gives what truncating the whole text's would, without tokenizing
 * megabytes first (Ollama's embeddings truncate by default). Text within the bound comes back unchanged.
 */
export function cutToTokenBound(text: string, maxTokens: number, longestTokenBytes: number): string {
  const limit = maxTokens * Math.max(1, longestTokenBytes);
  if (text.length <= limit / 3 || Buffer.byteLength(text, "utf8") <= limit) return text;
  // Decoding a cut in the middle of a character leaves U+FFFD at the end; drop it.
  return Buffer.from(text, "utf8").subarray(0, limit).toString("utf8").replace(/\uFFFD$/, "");
}

/**
 * `text` cut to its last `maxTokens × longestTokenBytes` UTF-8 bytes: still at least `maxTokens` tokens, so keeping
 * the end of its tokens gives what keeping the end of the whole text's would (Ollama's generate and chat truncate
 * from the front). Text within the bound comes back unchanged.
 */
export function cutTailToTokenBound(text: string, maxTokens: number, longestTokenBytes: number): string {
  const limit = maxTokens * Math.max(1, longestTokenBytes);
  if (text.length <= limit / 3) return text;
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= limit) return text;
  // A cut in the middle of a character decodes to U+FFFD at the start; drop it.
  return bytes.subarray(bytes.length - limit).toString("utf8").replace(/^\uFFFD+/, "");
}
