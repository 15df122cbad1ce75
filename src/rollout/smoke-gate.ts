/**
 * The health gate of a rollout: a new version's runner answers the configured
 * smoke set (server.rollout.smoke) before any client request reaches it. Each
 * prompt is generated greedily (temperature 0, so a gate is reproducible) and
 * its answer checked for the properties the check names: non-empty, JSON that
 * parses, a substring, a first token within a bound. The first failure is a
 * `health_gate_failed` error saying which prompt and what was wrong.
 */
import type { SmokeCheck } from "../config/sections/rollout.js";
import type { GenerateRequest, GenerationResult, TokenStream } from "../engine/types.js";
import { EdgeError, toEdgeError } from "../errors.js";

/** Whatever can generate: a runner before it is routable, or the served model through admission. */
export type Generate = (request: GenerateRequest, signal: AbortSignal) => Promise<TokenStream>;

/** The longest a smoke prompt may take, in ms (a hung runner fails the gate instead of holding the rollout). */
const SMOKE_TIMEOUT_MS = 60_000;

function smokeRequest(check: SmokeCheck): GenerateRequest {
  return {
    ...(check.chat ? { messages: [{ role: "user" as const, content: check.prompt }] } : { prompt: check.prompt }),
    maxTokens: check.max_tokens,
    temperature: 0,
    seed: 0,
    ...(check.json ? { responseFormat: { type: "json_object" as const } } : {}),
  };
}

/** What is wrong with an answer, or undefined when it has every property asked for. */
export function smokeProblem(check: SmokeCheck, result: GenerationResult): string | undefined {
  const text = result.text;
  if (check.non_empty && text.trim().length === 0) return `the answer is empty (finish reason ${result.finishReason})`;
  if (check.json) {
    try {
      JSON.parse(text);
    } catch (error) {
      return `the answer is not JSON (${(error as Error).message}): ${JSON.stringify(text.slice(0, 80))}`;
    }
  }
  if (check.contains !== undefined && !text.includes(check.contains)) return `the answer does not contain ${JSON.stringify(check.contains)}: ${JSON.stringify(text.slice(0, 80))}`;
  if (check.max_first_token_ms !== undefined && result.timings.timeToFirstTokenMs > check.max_first_token_ms) {
    return `the first token took ${Math.round(result.timings.timeToFirstTokenMs)} ms (at most ${check.max_first_token_ms} ms allowed)`;
  }
  return undefined;
}

/** Runs every check in order; rejects with health_gate_failed at the first one that fails. */
export async function runSmokeSet(generate: Generate, checks: readonly SmokeCheck[], what: string): Promise<void> {
  for (const [i, check] of checks.entries()) {
    const label = `smoke prompt ${i + 1} (${JSON.stringify(check.prompt.slice(0, 40))})`;
    let result: GenerationResult;
    try {
      const stream = await generate(smokeRequest(check), AbortSignal.timeout(SMOKE_TIMEOUT_MS));
      for await (const _chunk of stream);
      result = await stream.result;
    } catch (error) {
      const edge = toEdgeError(error);
      throw new EdgeError("health_gate_failed", `${what} failed its health gate: ${label} could not be generated: ${edge.message}`, {
        details: { check: i + 1, cause: edge.code },
      });
    }
    const problem = smokeProblem(check, result);
    if (problem) throw new EdgeError("health_gate_failed", `${what} failed its health gate: ${label}: ${problem}`, { details: { check: i + 1 } });
  }
}
