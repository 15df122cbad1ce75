/**
 * Reading and writing model artifacts in the three layouts other tools use:
 * CNCF ModelPack (modelpack/model-spec), Docker Model Runner
 * (docker/model-spec, configs v0.1 and v0.2) and Ollama's registry manifests.
 * A reader turns a manifest into the files of a store entry; a writer turns
 * a store entry into a config blob and a manifest.
 */
import { EdgeError } from "../../errors.js";
import type { FileRole, Manifest } from "../manifest.js";
import { isSafeRelativeName, SIGNATURE_FILE } from "../manifest.js";
import * as media from "./media-types.js";
import { jsonBytes, type Descriptor, type ImageManifest } from "./oci-manifest.js";
import { sha256Digest } from "./registry-client.js";

export type ArtifactFormat = "modelpack" | "docker" | "ollama";
/** What `edgelm push --format` takes. */
export const WRITABLE_FORMATS = ["modelpack", "docker"] as const;
export type WritableFormat = (typeof WRITABLE_FORMATS)[number];

/** One file of an artifact: its name in the model, its role, and the layer that holds it. */
export interface ArtifactFile {
  name: string;
  role: FileRole;
  /** True when the role is decided after download from the GGUF header (`model`, or `adapter` for a LoRA). */
  probe?: boolean;
  layer: Descriptor;
}

export interface ArtifactPlan {
  format: ArtifactFormat;
  layout: Manifest["layout"];
  files: ArtifactFile[];
}

function mediaTypesOf(manifest: ImageManifest): string[] {
  return [...new Set([manifest.artifactType, manifest.config.mediaType, ...manifest.layers.map((l) => l.mediaType)].filter((t): t is string => !!t))];
}

function unsupported(manifest: ImageManifest, where: string, why = "not a model artifact edgelm reads"): EdgeError {
  const found = mediaTypesOf(manifest);
  return new EdgeError(
    "unsupported",
    `unsupported artifact format at ${where}: ${why} (media types found: ${found.join(", ")}); edgelm reads CNCF ModelPack, Docker Model Runner and Ollama model artifacts`,
    { details: { media_types: found } },
  );
}

/** Which format a manifest is in, or undefined. */
export function detectFormat(manifest: ImageManifest): ArtifactFormat | undefined {
  const config = manifest.config.mediaType;
  if (manifest.artifactType === media.MODELPACK_ARTIFACT || config === media.MODELPACK_CONFIG) return "modelpack";
  if (config === media.DOCKER_CONFIG_V01 || config === media.DOCKER_CONFIG_V02) return "docker";
  if (manifest.layers.some((l) => l.mediaType.startsWith(media.OLLAMA_PREFIX))) return "ollama";
  return undefined;
}

const GGUF = /\.gguf$/i;

/** Names files must have to be unique; a clash gets -2, -3… before the extension. */
function uniqueName(taken: Set<string>, name: string): string {
  let candidate = name;
  for (let n = 2; taken.has(candidate); n++) candidate = name.replace(/(\.[^./]+)?$/, (ext) => `-${n}${ext}`);
  taken.add(candidate);
  return candidate;
}

function annotatedName(layer: Descriptor, where: string): string | undefined {
  const name = layer.annotations?.[media.FILEPATH_ANNOTATION];
  if (name === undefined) return undefined;
  if (!isSafeRelativeName(name)) {
    throw new EdgeError("unsupported", `${where}: layer ${layer.digest} names the file "${name}", which is not a relative path inside the model`);
  }
  return name;
}

function modelpackFiles(manifest: ImageManifest, where: string): ArtifactFile[] {
  const raw = [media.MODELPACK_WEIGHT_RAW, media.MODELPACK_WEIGHT_CONFIG_RAW, media.MODELPACK_DOC_RAW, media.MODELPACK_CODE_RAW, media.MODELPACK_DATASET_RAW];
  return manifest.layers.map((layer) => {
    if (!raw.includes(layer.mediaType)) {
      throw unsupported(manifest, where, `layer ${layer.digest} is ${layer.mediaType}; edgelm reads ModelPack's unarchived .raw layers only`);
    }
    const name = annotatedName(layer, where);
    if (name === undefined) throw unsupported(manifest, where, `layer ${layer.digest} has no ${media.FILEPATH_ANNOTATION} annotation`);
    if (name === SIGNATURE_FILE) return { name, role: "signature", layer };
    return { name, role: "other", ...(GGUF.test(name) && !/mmproj|projector/i.test(name) ? { probe: true } : {}), layer };
  });
}

function dockerFiles(manifest: ImageManifest, where: string): ArtifactFile[] {
  const taken = new Set<string>();
  const defaults: Record<string, [string, FileRole]> = {
    [media.DOCKER_GGUF]: ["model.gguf", "model"],
    [media.DOCKER_LORA]: ["adapter.gguf", "adapter"],
    [media.DOCKER_MMPROJ]: ["mmproj.gguf", "other"],
    [media.DOCKER_MMPROJ_RUNNER]: ["mmproj.gguf", "other"],
    [media.DOCKER_LICENSE]: ["LICENSE", "other"],
    [media.DOCKER_CHAT_TEMPLATE]: ["template.jinja", "other"],
  };
  const files: ArtifactFile[] = [];
  for (const layer of manifest.layers) {
    const known = defaults[layer.mediaType];
    if (!known) continue; // Docker's safetensors, dduf, vllm archives: nothing llama.cpp loads
    const name = uniqueName(taken, annotatedName(layer, where) ?? known[0]);
    files.push({ name, role: known[1], layer });
  }
  if (!files.some((f) => f.layer.mediaType === media.DOCKER_GGUF)) throw unsupported(manifest, where, "no GGUF layer");
  return files;
}

function ollamaFiles(manifest: ImageManifest): ArtifactFile[] {
  const taken = new Set<string>();
  const names: Record<string, [string, FileRole]> = {
    model: ["model.gguf", "model"],
    adapter: ["adapter.gguf", "adapter"],
    projector: ["projector.gguf", "other"],
    template: ["template", "other"],
    system: ["system.txt", "other"],
    params: ["params.json", "other"],
    license: ["LICENSE", "other"],
    messages: ["messages.json", "other"],
  };
  return manifest.layers
    .filter((layer) => layer.mediaType.startsWith(media.OLLAMA_PREFIX))
    .map((layer) => {
      const kind = layer.mediaType.slice(media.OLLAMA_PREFIX.length).split(";")[0]!.trim();
      const [name, role] = names[kind] ?? [kind.replace(/[^a-z0-9._-]/gi, "-") || "layer", "other" as FileRole];
      return { name: uniqueName(taken, name), role, layer };
    });
}

/**
 * The files a model manifest describes, by format; anything else is an
 * `unsupported` error naming the media types found. GGUF files are given
 * their final role after download (from their header).
 */
export function planArtifact(manifest: ImageManifest, where: string): ArtifactPlan {
  const format = detectFormat(manifest);
  if (!format) throw unsupported(manifest, where);
  const files = format === "modelpack" ? modelpackFiles(manifest, where) : format === "docker" ? dockerFiles(manifest, where) : ollamaFiles(manifest);
  if (!files.some((f) => f.role === "model" || f.probe)) throw unsupported(manifest, where, "no GGUF model file among its layers");
  const content = files.filter((f) => f.role !== "signature");
  const stated = manifest.annotations?.[media.LAYOUT_ANNOTATION];
  const layout: Manifest["layout"] = stated === "file" || stated === "folder" ? stated : content.length === 1 ? "file" : "folder";
  return { format, layout, files };
}

/** A store file to push. */
export interface PushFile {
  name: string;
  role: FileRole;
  digest: string;
  size: number;
}

export interface WrittenArtifact {
  config: { mediaType: string; bytes: Buffer; digest: string };
  manifest: Buffer;
  mediaType: typeof media.OCI_MANIFEST;
}

/** Facts a config records about the model. */
export interface ModelFacts {
  name: string;
  version: string;
  architecture: string | undefined;
  quantization: string | null;
  layout: Manifest["layout"];
  created: string;
  /** The release it is (`org.opencontainers.image.version`), when the publisher names one. */
  release?: string;
}

function modelpackLayerType(file: PushFile): string {
  if (file.role === "model" || file.role === "adapter" || GGUF.test(file.name)) return media.MODELPACK_WEIGHT_RAW;
  if (/(^|\/)(LICENSE|LICENCE|COPYING|NOTICE|README)[^/]*$/i.test(file.name) || /\.(md|txt)$/i.test(file.name)) return media.MODELPACK_DOC_RAW;
  if (/\.(py|sh|js|ts)$/i.test(file.name)) return media.MODELPACK_CODE_RAW;
  return media.MODELPACK_WEIGHT_CONFIG_RAW;
}

function dockerLayerType(file: PushFile): string {
  if (file.role === "model") return media.DOCKER_GGUF;
  if (file.role === "adapter") return media.DOCKER_LORA;
  if (/mmproj/i.test(file.name) && GGUF.test(file.name)) return media.DOCKER_MMPROJ;
  if (/(^|\/)(LICENSE|LICENCE|COPYING)[^/]*$/i.test(file.name)) return media.DOCKER_LICENSE;
  if (/\.jinja$/i.test(file.name)) return media.DOCKER_CHAT_TEMPLATE;
  return "application/vnd.docker.ai.model.file";
}

/**
 * The config blob and manifest of a store entry in `format`. ModelPack: the
 * config with `descriptor`, `config` and `modelfs` (the schema's required
 * fields) and `.raw` layers named by `org.cncf.model.filepath`. Docker: a
 * v0.1 config (`config.format`, `config.size`, `files[].diffID/type`, as
 * its spec requires) with the same annotations for file names.
 */
export function writeArtifact(format: WritableFormat, files: readonly PushFile[], facts: ModelFacts): WrittenArtifact {
  const content = files.filter((f) => f.role !== "signature");
  const layerType = format === "modelpack" ? modelpackLayerType : dockerLayerType;
  const layers = content.map((file) => ({
    mediaType: layerType(file),
    digest: file.digest,
    size: file.size,
    annotations: { [media.FILEPATH_ANNOTATION]: file.name },
  }));
  let config: { mediaType: string; bytes: Buffer };
  if (format === "modelpack") {
    const body = {
      descriptor: { createdAt: facts.created, name: facts.name, version: facts.release ?? facts.version },
      config: {
        format: "gguf",
        ...(facts.architecture ? { architecture: facts.architecture } : {}),
        ...(facts.quantization ? { quantization: facts.quantization } : {}),
      },
      modelfs: { type: "layers", diffIds: layers.map((l) => l.digest) },
    };
    config = { mediaType: media.MODELPACK_CONFIG, bytes: jsonBytes(body) };
  } else {
    const body = {
      descriptor: { createdAt: facts.created },
      config: {
        format: "gguf",
        format_version: "3",
        gguf: {
          ...(facts.architecture ? { architecture: facts.architecture } : {}),
          ...(facts.quantization ? { quantization: facts.quantization } : {}),
        },
        size: String(content.reduce((sum, f) => sum + f.size, 0)),
      },
      files: layers.map((l) => ({ diffID: l.digest, type: l.mediaType })),
    };
    config = { mediaType: media.DOCKER_CONFIG_V01, bytes: jsonBytes(body) };
  }
  const digest = sha256Digest(config.bytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: media.OCI_MANIFEST,
    ...(format === "modelpack" ? { artifactType: media.MODELPACK_ARTIFACT } : {}),
    config: { mediaType: config.mediaType, digest, size: config.bytes.length },
    layers,
    annotations: {
      "org.opencontainers.image.created": facts.created,
      [media.LAYOUT_ANNOTATION]: facts.layout,
      ...(facts.release !== undefined ? { [media.VERSION_ANNOTATION]: facts.release } : {}),
    },
  };
  return { config: { ...config, digest }, manifest: jsonBytes(manifest), mediaType: media.OCI_MANIFEST };
}
