/**
 * The trust anchors the `trust` config section names, read once per config:
 * keys, root CAs, keyless identities with the trusted root, and the public
 * half of `local_key` (variants this device signs must pass its own policy).
 */
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { EdgeError, isEdgeError } from "../errors.js";
import { parsePrivateKeyPem, publicKeyHint } from "./model-signing/ec-keys.js";
import { loadTrustAnchors, type TrustAnchors } from "./model-signing/trust-anchors.js";

const cache = new WeakMap<Config, TrustAnchors>();

function asConfigError(error: unknown, field: string): EdgeError {
  const message = isEdgeError(error) ? error.message : String(error);
  return new EdgeError("invalid_config", `trust.${field}: ${message}`, { param: `trust.${field}` });
}

function load<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw asConfigError(error, field);
  }
}

/** Reads the anchors of `config.trust` (cached per config object). Unreadable files are `invalid_config`. */
export function trustAnchorsFromConfig(config: Config): TrustAnchors {
  const cached = cache.get(config);
  if (cached) return cached;
  const trust = config.trust;
  const anchors: TrustAnchors = {
    keys: load("keys", () => loadTrustAnchors({ keys: trust.keys }).keys),
    rootCas: load("root_cas", () => loadTrustAnchors({ rootCas: trust.root_cas }).rootCas),
    identities: [...trust.identities],
  };
  if (trust.trusted_root !== undefined) anchors.sigstoreTrustedRoot = trust.trusted_root;
  if (trust.local_key !== undefined) {
    const path = trust.local_key;
    const key = load("local_key", () => createPublicKey(parsePrivateKeyPem(readFileSync(path), path)));
    anchors.keys.push({ key, hint: publicKeyHint(key), source: `${path} (trust.local_key)` });
  }
  cache.set(config, anchors);
  return anchors;
}
