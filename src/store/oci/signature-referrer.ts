/**
 * A model's `model.sig` (OpenSSF Model Signing, a Sigstore bundle) travels as
 * an OCI 1.1 referrer of the model's manifest: an artifact manifest whose
 * `subject` is the model manifest, with the bundle as its one layer. For
 * registries without the referrers API (Docker's registry 2.8), it is also
 * listed in the fallback tag `sha256-<hex>`: an image index of referrers, as
 * the distribution spec's referrers tag schema says.
 */
import { EdgeError, isEdgeError } from "../../errors.js";
import { SIGNATURE_FILE } from "../manifest.js";
import { uploadBlob } from "./blob-upload.js";
import { FILEPATH_ANNOTATION, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, SIGSTORE_BUNDLE } from "./media-types.js";
import { imageIndexSchema, imageManifestSchema, jsonBytes, parseOciJson, type Descriptor, type ImageIndex } from "./oci-manifest.js";
import { readBody, sha256Digest, type RegistryClient } from "./registry-client.js";

const EMPTY = Buffer.from("{}");

/** The fallback tag the referrers of a manifest are listed under. */
export function referrersTag(digest: string): string {
  return digest.replace(":", "-");
}

/** The referrers of `digest`: from the referrers API, else from the fallback tag; an empty list when neither has any. */
export async function listReferrers(client: RegistryClient, repository: string, digest: string): Promise<Descriptor[]> {
  const response = await client.send({
    method: "GET",
    path: `/v2/${repository}/referrers/${digest}?artifactType=${encodeURIComponent(SIGSTORE_BUNDLE)}`,
    headers: { accept: OCI_INDEX },
    scope: `repository:${repository}:pull`,
  });
  if (response.statusCode === 200) {
    return parseOciJson(imageIndexSchema, await readBody(response), `the referrers of ${repository}@${digest}`).manifests;
  }
  response.resume();
  if (response.statusCode !== 404) throw await client.statusError(response, `cannot list the referrers of ${repository}@${digest}`);
  try {
    const { bytes } = await client.getManifest(repository, referrersTag(digest));
    return parseOciJson(imageIndexSchema, bytes, `the referrers tag ${repository}:${referrersTag(digest)}`).manifests;
  } catch (error) {
    if (isEdgeError(error) && error.code === "model_not_found") return [];
    throw error;
  }
}

/** The model.sig bytes attached to a model manifest, or undefined when it has none. */
export async function fetchSignature(client: RegistryClient, repository: string, digest: string): Promise<{ bytes: Buffer; manifestDigest: string } | undefined> {
  const referrers = (await listReferrers(client, repository, digest)).filter((d) => d.artifactType === SIGSTORE_BUNDLE);
  const latest = referrers.at(-1);
  if (!latest) return undefined;
  const { bytes } = await client.getManifest(repository, latest.digest);
  const manifest = parseOciJson(imageManifestSchema, bytes, `the signature manifest ${repository}@${latest.digest}`);
  if (manifest.subject?.digest !== digest) {
    throw new EdgeError("signature_invalid", `the signature artifact ${repository}@${latest.digest} is attached to ${manifest.subject?.digest ?? "nothing"}, not to ${digest}`);
  }
  const layer = manifest.layers.find((l) => l.mediaType === SIGSTORE_BUNDLE);
  if (!layer) throw new EdgeError("signature_invalid", `the signature artifact ${repository}@${latest.digest} holds no ${SIGSTORE_BUNDLE} layer`);
  return { bytes: await client.getSmallBlob(repository, layer.digest), manifestDigest: latest.digest };
}

/**
 * Pushes `signature` as a referrer of the manifest `subject`, and adds it to
 * the fallback tag unless the registry said it indexes referrers itself
 * (the `OCI-Subject` header). Returns the signature manifest's digest.
 */
export async function pushSignature(
  client: RegistryClient,
  repository: string,
  subject: Descriptor,
  signature: Buffer,
  chunkBytes: number,
): Promise<string> {
  const sigDigest = sha256Digest(signature);
  await uploadBlob(client, repository, { digest: sha256Digest(EMPTY), size: EMPTY.length, bytes: EMPTY }, { chunkBytes });
  await uploadBlob(client, repository, { digest: sigDigest, size: signature.length, bytes: signature }, { chunkBytes });
  const manifest = jsonBytes({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SIGSTORE_BUNDLE,
    config: { mediaType: OCI_EMPTY, digest: sha256Digest(EMPTY), size: EMPTY.length },
    layers: [{ mediaType: SIGSTORE_BUNDLE, digest: sigDigest, size: signature.length, annotations: { [FILEPATH_ANNOTATION]: SIGNATURE_FILE } }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  });
  const digest = sha256Digest(manifest);
  const put = await client.putManifest(repository, digest, manifest, OCI_MANIFEST);
  if (put.subject) return digest;
  // No referrers API: keep the fallback index listing every signature of this subject.
  const tag = referrersTag(subject.digest);
  let index: ImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  try {
    index = parseOciJson(imageIndexSchema, (await client.getManifest(repository, tag)).bytes, `the referrers tag ${repository}:${tag}`);
  } catch (error) {
    if (!isEdgeError(error) || error.code !== "model_not_found") throw error;
  }
  const manifests = [
    ...index.manifests.filter((d) => d.digest !== digest),
    { mediaType: OCI_MANIFEST, digest, size: manifest.length, artifactType: SIGSTORE_BUNDLE },
  ];
  await client.putManifest(repository, tag, jsonBytes({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }), OCI_INDEX);
  return digest;
}
