import { parseModelRef, type ModelRef } from "../model-ref.js";

/** A `name[:tag]` reference (lower-cased), as the store, the catalog and the demo look names up. */
export type NameRef = Extract<ModelRef, { kind: "name" }>;

/** `text` as a name reference, when it is shaped like one. */
export function parseNameRef(text: string): NameRef | undefined {
  if (text.trim().startsWith("hf:")) return undefined;
  const ref = parseModelRef(text);
  return ref.kind === "name" ? ref : undefined;
}

/** `name:tag`, or `name` without a tag. */
export function nameText(ref: NameRef): string {
  return ref.tag ? `${ref.name}:${ref.tag}` : ref.name;
}

/** True when `known` (`name:tag` or `name`) is what `ref` names, with or without its tag. */
export function namesMatch(ref: NameRef, known: readonly string[]): boolean {
  const full = nameText(ref);
  return known.some((n) => n === full || n.split(":")[0] === full);
}
