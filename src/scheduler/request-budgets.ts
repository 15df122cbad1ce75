/**
 * The budgets a request must meet before it takes a slot or reaches a runner:
 * its schemas (so no runner's grammar converter gets one it cannot convert in
 * bounded time and memory) and its prompt's bytes (so no runner spends seconds
 * tokenizing a prompt that cannot fit). Checked by the model pool for every
 * dialect; the byte bound needs a loaded runner (its context) and the
 * vocabulary's longest token, and is skipped until both are known.
 */
import type { Config } from "../config/schema.js";
import { cutToTokenBound, promptBytesOverflow, promptTextBytes } from "../engine/context-overflow.js";
import { checkRequestSchemas } from "../engine/schema-budget.js";
import type { GenerateRequest } from "../engine/types.js";

/** A loaded model's context and its vocabulary's longest token in bytes. */
export interface TokenBound {
  contextSize: number;
  longestTokenBytes: number;
}

/** Throws the first budget `request` goes past: a schema limit (server.schema_max_*) or context_overflow on its bytes. */
export function checkGenerateBudgets(request: GenerateRequest, server: Config["server"], bound: TokenBound | undefined): void {
  checkRequestSchemas(request, {
    depth: server.schema_max_depth,
    nodes: server.schema_max_nodes,
    enumValues: server.schema_max_enum_values,
    repetitions: server.schema_max_repetitions,
  });
  if (!bound) return;
  const overflow = promptBytesOverflow(promptTextBytes(request), bound.longestTokenBytes, Math.min(bound.contextSize, request.contextSize ?? Infinity));
  if (overflow) throw overflow;
}

/** Embedding inputs within the byte bound: cut to what the context can hold when truncating, else refused. */
export function boundEmbeddingInputs(inputs: string[], truncate: boolean, bound: TokenBound | undefined): string[] {
  if (!bound) return inputs;
  return inputs.map((input) => {
    if (truncate) return cutToTokenBound(input, bound.contextSize, bound.longestTokenBytes);
    const overflow = promptBytesOverflow(Buffer.byteLength(input, "utf8"), bound.longestTokenBytes, bound.contextSize);
    if (overflow) throw overflow;
    return input;
  });
}
