/**
 * Which LoRA adapters an OpenAI-dialect request applies: `model: "base+adapter[+adapter…]"`, an `adapters` field
 * (names, `{ name, scale }`, or llama-server's `{ id, scale }`), or llama-server's own `lora: [{ id, scale }]`.
 * Adapters are the served model's (`server.models[].adapters`), selectable on either engine (llama-server sends each
 * request's scales; node-llama-cpp runs each adapter set on a context of its own).
 */
import { EdgeError } from "../errors.js";
import type { ServedModel, ServedModelStatus } from "../scheduler/served-model.js";
import type { ModelDirectory } from "./app-host.js";

type AdapterChoice = string | { name: string; scale: number } | { id: number; scale: number };

export interface AdapterSelection {
  model: ServedModel;
  /** By index into the model's adapters (and by name, which the pool maps to its runner's index); absent when the request selects none. */
  adapters?: Array<{ index: number; scale?: number; name: string }>;
  /** The name answers carry: the model's, with the adapters' as asked (`base+adapter`). */
  label: string;
}

function indexOf(status: ServedModelStatus, name: string): number {
  const names = status.adapters ?? [];
  const index = names.indexOf(name);
  if (index === -1) {
    throw new EdgeError(
      "invalid_request",
      names.length > 0
        ? `${status.name} has no adapter "${name}" (its adapters: ${names.join(", ")})`
        : `${status.name} has no adapters; list them under server.models[].adapters to select them per request`,
      { param: "adapters" },
    );
  }
  return index;
}

/** Finds the model and the adapters a request names; errors are 400s naming the field, 404 for an unknown model. */
export function selectAdapters(directory: ModelDirectory, body: { model: string; adapters?: AdapterChoice[] | null; lora?: Array<{ id: number; scale: number }> | null }): AdapterSelection {
  let model: ServedModel;
  let fromName: string[] = [];
  try {
    model = directory.lookup(body.model);
  } catch (error) {
    // "base+adapter": only when the whole name is not itself a served model.
    const [base, ...names] = body.model.split("+");
    if (names.length === 0 || !base || names.some((n) => n.length === 0)) throw error;
    model = directory.lookup(base);
    fromName = names;
  }
  const status = model.describe();
  // A name without a scale gets the adapter's own (server.models[].adapters[].scale, default 1).
  const chosen = new Map<number, number | undefined>();
  for (const name of fromName) chosen.set(indexOf(status, name), undefined);
  for (const choice of body.adapters ?? []) {
    if (typeof choice === "string") chosen.set(indexOf(status, choice), undefined);
    else if ("name" in choice) chosen.set(indexOf(status, choice.name), choice.scale);
    else {
      if (choice.id >= (status.adapters?.length ?? 0)) throw new EdgeError("invalid_request", `adapters: ${status.name} has no adapter id ${choice.id} (it has ${status.adapters?.length ?? 0})`, { param: "adapters" });
      chosen.set(choice.id, choice.scale);
    }
  }
  for (const choice of body.lora ?? []) {
    if (choice.id >= (status.adapters?.length ?? 0)) throw new EdgeError("invalid_request", `lora: ${status.name} has no adapter id ${choice.id} (it has ${status.adapters?.length ?? 0})`, { param: "lora" });
    chosen.set(choice.id, choice.scale);
  }
  if (chosen.size === 0) return { model, label: model.name };
  const names = status.adapters ?? [];
  const adapters = [...chosen].map(([index, scale]) => ({ index, ...(scale !== undefined ? { scale } : {}), name: names[index]! })).sort((a, b) => a.index - b.index);
  return { model, adapters, label: [model.name, ...adapters.map((a) => names[a.index]!)].join("+") };
}
