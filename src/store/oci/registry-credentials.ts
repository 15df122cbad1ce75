/**
 * Where a registry login comes from: `store.oci.credentials` (config, which
 * may live in $EDGELM_HOME/config.yaml) first, then the `auths` of Docker's
 * config.json that users already have after `docker login`.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../config/schema.js";
import { EdgeError } from "../../errors.js";

export interface RegistryCredential {
  username?: string;
  password?: string;
  /** A bearer token to send as is. */
  token?: string;
  /** Where it came from, for error messages (never the secret). */
  origin: string;
}

/** The Docker config.json edgelm reads: `store.oci.docker_config`, else ~/.docker/config.json. */
export function dockerConfigPath(config: Config): string {
  return config.store.oci.docker_config ?? join(homedir(), ".docker", "config.json");
}

interface DockerAuth {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

function fromDockerConfig(path: string, registry: string): RegistryCredential | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined; // no Docker login on this machine
  }
  let auths: Record<string, DockerAuth>;
  try {
    auths = (JSON.parse(text) as { auths?: Record<string, DockerAuth> }).auths ?? {};
  } catch (error) {
    throw new EdgeError("invalid_config", `${path} is not valid JSON (${(error as Error).message}); fix it or point store.oci.docker_config elsewhere`);
  }
  // Keys are written as host[:port] or as a URL (https://host/v1/).
  const key = Object.keys(auths).find((k) => k.replace(/^https?:\/\//, "").replace(/\/.*$/, "").toLowerCase() === registry);
  if (key === undefined) return undefined;
  const entry = auths[key]!;
  const origin = `${path} (auths["${key}"])`;
  if (entry.registrytoken) return { token: entry.registrytoken, origin };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) throw new EdgeError("invalid_config", `${origin}: "auth" is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), origin };
  }
  if (entry.username) return { username: entry.username, password: entry.password ?? "", origin };
  return undefined; // identitytoken / credential helpers: not supported, anonymous then
}

/** The login for `registry` (`host[:port]`), or undefined for anonymous access. */
export function findRegistryCredential(config: Config, registry: string): RegistryCredential | undefined {
  const configured = Object.entries(config.store.oci.credentials).find(([host]) => host.toLowerCase() === registry);
  if (configured) {
    const [host, value] = configured;
    return { ...value, origin: `store.oci.credentials["${host}"]` };
  }
  return fromDockerConfig(dockerConfigPath(config), registry);
}
