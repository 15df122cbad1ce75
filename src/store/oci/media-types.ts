/** The media types edgelm reads and writes in OCI registries (manifests, configs, layers). */

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** What a manifest GET accepts, best first. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/** OCI 1.1's empty descriptor: the config of an artifact that needs none (the two bytes `{}`). */
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";

/** CNCF ModelPack (modelpack/model-spec). */
export const MODELPACK_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json";
export const MODELPACK_CONFIG = "application/vnd.cncf.model.config.v1+json";
export const MODELPACK_WEIGHT_RAW = "application/vnd.cncf.model.weight.v1.raw";
export const MODELPACK_WEIGHT_CONFIG_RAW = "application/vnd.cncf.model.weight.config.v1.raw";
export const MODELPACK_DOC_RAW = "application/vnd.cncf.model.doc.v1.raw";
export const MODELPACK_CODE_RAW = "application/vnd.cncf.model.code.v1.raw";
export const MODELPACK_DATASET_RAW = "application/vnd.cncf.model.dataset.v1.raw";
/** The layer annotation naming a file's path inside the model. */
export const FILEPATH_ANNOTATION = "org.cncf.model.filepath";

/** Docker Model Runner (docker/model-spec). */
export const DOCKER_CONFIG_V01 = "application/vnd.docker.ai.model.config.v0.1+json";
export const DOCKER_CONFIG_V02 = "application/vnd.docker.ai.model.config.v0.2+json";
export const DOCKER_GGUF = "application/vnd.docker.ai.gguf.v3";
export const DOCKER_LORA = "application/vnd.docker.ai.gguf.v3.lora";
/** The spec's spelling of a multimodal projector layer… */
export const DOCKER_MMPROJ = "application/vnd.docker.ai.gguf.v3.mmproj";
/** …and the one Docker Model Runner itself writes. */
export const DOCKER_MMPROJ_RUNNER = "application/vnd.docker.ai.mmproj";
export const DOCKER_LICENSE = "application/vnd.docker.ai.license";
export const DOCKER_CHAT_TEMPLATE = "application/vnd.docker.ai.chat.template.jinja";

/** Ollama's registry layout. */
export const OLLAMA_CONFIG = "application/vnd.docker.container.image.v1+json";
export const OLLAMA_PREFIX = "application/vnd.ollama.image.";

/** An OpenSSF Model Signing `model.sig` (a Sigstore bundle), pushed as a referrer of the model's manifest. */
export const SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";

/** edgelm's own manifest annotation: the store layout (`file` or `folder`) the artifact was pushed from. */
export const LAYOUT_ANNOTATION = "dev.edgelm.layout";

/** The release a manifest is (`edgelm push --release`); gateways following a tag report it as the version they serve. */
export const VERSION_ANNOTATION = "org.opencontainers.image.version";
