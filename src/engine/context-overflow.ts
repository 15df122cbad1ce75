import { EdgeError } from "../errors.js";

/** The one wording of "the prompt does not fit", for every engine (clients and tests match on it). */
export function contextOverflowError(promptTokens: number, contextSize: number): EdgeError {
  return new EdgeError(
    "context_overflow",
    `the prompt is ${promptTokens} tokens but the context holds ${contextSize} (at least one token must be left to generate)`,
    { details: { promptTokens, contextSize } },
  );
}
