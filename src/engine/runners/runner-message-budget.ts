/**
 * What a message to a runner process may be. The IPC channel's deserializer in
 * the runner recurses once per level of nesting and overflows its stack near
 * 2,000 levels (a crash that takes every stream of that runner with it), and
 * the serializer in the gateway throws past about 5,000; a message beyond
 * these budgets is refused in the gateway before it is sent, so the request
 * fails at once with a precise error and the runner never sees it.
 */
import { EdgeError } from "../../errors.js";
import { measureValue } from "../../json-depth.js";

/** Deepest nesting of a message to a runner; the request body budget (server.json_max_depth, at most 400) fits inside it. */
export const RUNNER_MESSAGE_MAX_DEPTH = 512;

/** Largest message to a runner (a rough wire size: strings plus 8 bytes per value), in bytes. */
export const RUNNER_MESSAGE_MAX_BYTES = 512 * 1024 * 1024;

/** Why `message` must not be sent to a runner, or undefined when it may. */
export function runnerMessageRefusal(message: unknown, runnerId: string): EdgeError | undefined {
  const size = measureValue(message, { depth: RUNNER_MESSAGE_MAX_DEPTH, bytes: RUNNER_MESSAGE_MAX_BYTES });
  if (size.depth > RUNNER_MESSAGE_MAX_DEPTH) {
    return new EdgeError("invalid_request", `the request nests objects and arrays deeper than ${RUNNER_MESSAGE_MAX_DEPTH} levels, more than runner ${runnerId} accepts`, {
      details: { limit: RUNNER_MESSAGE_MAX_DEPTH },
    });
  }
  if (size.bytes > RUNNER_MESSAGE_MAX_BYTES) {
    return new EdgeError("payload_too_large", `the request is larger than the ${RUNNER_MESSAGE_MAX_BYTES} bytes runner ${runnerId} accepts in one message`, {
      details: { limit: RUNNER_MESSAGE_MAX_BYTES },
    });
  }
  return undefined;
}
