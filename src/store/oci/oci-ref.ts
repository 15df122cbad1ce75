/**
 * OCI references as users write them: `oci://host[:port]/repo[:tag|@sha256:<hex>]`.
 * The host is always explicit (no default registry), the repository follows the
 * distribution spec's name grammar, the tag defaults to `latest`.
 */
import { EdgeError } from "../../errors.js";

export interface OciRef {
  /** `host[:port]`, lower-cased; the key for credentials, CA and insecure lists. */
  registry: string;
  /** Repository path, e.g. `team/assistant`. */
  repository: string;
  /** The tag (when no digest is given: `latest`). */
  tag: string | undefined;
  /** `sha256:<hex>` when the reference pins a manifest. */
  digest: string | undefined;
}

export const OCI_SCHEME = "oci://";

const REGISTRY = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:]+\])(?::\d{1,5})?$/;
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** True when the text is an oci:// reference (parse it with {@link parseOciRef}). */
export function isOciRef(text: string): boolean {
  return text.trim().toLowerCase().startsWith(OCI_SCHEME);
}

function invalid(text: string, why: string): EdgeError {
  return new EdgeError("usage", `"${text}" is not a valid OCI reference (${why}); use oci://host[:port]/repo[:tag|@sha256:<hex>]`, {
    param: "model",
  });
}

/** Parses `oci://host[:port]/repo[:tag|@sha256:...]`; a bad one is a `usage` error naming the part at fault. */
export function parseOciRef(text: string): OciRef {
  const raw = text.trim();
  if (!isOciRef(raw)) throw invalid(text, "it must start with oci://");
  const body = raw.slice(OCI_SCHEME.length);
  const slash = body.indexOf("/");
  if (slash <= 0) throw invalid(text, "no repository after the host");
  const registry = body.slice(0, slash).toLowerCase();
  if (!REGISTRY.test(registry)) throw invalid(text, `"${registry}" is not a host[:port]`);
  let rest = body.slice(slash + 1);
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(text, `"${digest}" is not a digest: sha256: and 64 lower-case hex digits`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon !== -1) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(text, `"${tag}" is not a tag`);
  }
  const components = rest.split("/");
  if (rest.length === 0 || rest.length > 255 || !components.every((c) => COMPONENT.test(c))) {
    throw invalid(text, `"${rest}" is not a repository name: lower-case letters, digits and . _ - separated by /`);
  }
  return { registry, repository: rest, tag: tag ?? (digest ? undefined : "latest"), digest };
}

/** The reference as text: `oci://host/repo:tag`, `oci://host/repo@sha256:...` (or both). */
export function formatOciRef(ref: OciRef): string {
  return `${OCI_SCHEME}${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export function manifestReference(ref: OciRef): string {
  return ref.digest ?? ref.tag ?? "latest";
}
