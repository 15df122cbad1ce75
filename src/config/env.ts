/**
 * The EDGELM_* environment variables and the config paths they set. The config
 * loader is the only reader of the environment; everything else gets a Config.
 */
export interface EnvBinding {
  name: string;
  path: string[];
  parse: (raw: string) => unknown;
  description: string;
}

const text = (raw: string): string => raw;
const list = (raw: string): string[] =>
  raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
const integer = (raw: string): unknown => (/^-?\d+$/.test(raw.trim()) ? Number(raw) : raw);
const flag = (raw: string): unknown => {
  const value = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  return raw; // the schema reports it
};
const threads = (raw: string): unknown => {
  const value = integer(raw);
  return { prompt: value, decode: value };
};

export const ENV_BINDINGS: EnvBinding[] = [
  { name: "EDGELM_HOME", path: ["home"], parse: text, description: "model store and caches (default ~/.edgelm)" },
  { name: "EDGELM_LOG_LEVEL", path: ["log_level"], parse: text, description: "error | warn | info | debug" },
  { name: "EDGELM_LOG_FORMAT", path: ["log_format"], parse: text, description: "text | json" },
  { name: "EDGELM_HF_ENDPOINT", path: ["hf_endpoint"], parse: text, description: "Hugging Face hub or mirror base URL" },
  { name: "EDGELM_SYSFS_ROOT", path: ["sysfs_root"], parse: text, description: "root for power sensor files (default /sys)" },
  { name: "EDGELM_ENGINE", path: ["engine", "backend"], parse: text, description: "auto | node-llama-cpp | llama-server" },
  { name: "EDGELM_THREADS", path: ["engine", "threads"], parse: threads, description: "threads for prompt and decode" },
  { name: "EDGELM_LLAMA_SERVER", path: ["engine", "llama_server"], parse: text, description: "llama-server binary" },
  { name: "EDGELM_TRAINER", path: ["engine", "trainer"], parse: text, description: "llama.cpp trainer (llama-finetune) binary" },
  { name: "EDGELM_TUNE_THREADS", path: ["engine", "tune_threads"], parse: flag, description: "measure thread counts per model (1/0)" },
  { name: "EDGELM_MMAP", path: ["engine", "mmap"], parse: text, description: "auto | on | off: map model files or read them" },
  { name: "EDGELM_NODE_LLAMA_CPP_BUILD", path: ["engine", "node_llama_cpp_build"], parse: text, description: "auto | prebuilt | local" },
  { name: "EDGELM_SANDBOX", path: ["engine", "sandbox", "mode"], parse: text, description: "runner sandbox: auto | required | off" },
  { name: "EDGELM_SANDBOX_USER", path: ["engine", "sandbox", "user"], parse: text, description: "user runners run as when the gateway is root" },
  { name: "EDGELM_HOST", path: ["server", "host"], parse: text, description: "gateway bind address" },
  { name: "EDGELM_PORT", path: ["server", "port"], parse: integer, description: "gateway port" },
  { name: "EDGELM_GRPC_PORT", path: ["server", "grpc", "port"], parse: integer, description: "gRPC API port (off when unset)" },
  { name: "EDGELM_API_KEYS", path: ["server", "api_keys"], parse: list, description: "comma-separated gateway API keys" },
  { name: "EDGELM_ADMIN_KEYS", path: ["server", "admin_keys"], parse: list, description: "comma-separated gateway admin keys (/admin/*)" },
  { name: "EDGELM_PEERS_DNS_API_KEY", path: ["router", "peers_dns", "api_key"], parse: text, description: "API key for the peers found by router.peers_dns" },
  { name: "EDGELM_REVERIFY", path: ["store", "reverify"], parse: flag, description: "re-hash model files on every load (1/0)" },
  { name: "EDGELM_HF_TOKEN", path: ["store", "hf_token"], parse: text, description: "bearer token for the hub or mirror" },
  { name: "EDGELM_OCI_INSECURE", path: ["store", "oci", "insecure"], parse: list, description: "comma-separated registries (host:port) reached over plain HTTP" },
  { name: "DOCKER_CONFIG", path: ["store", "oci", "docker_config"], parse: (raw) => `${raw.replace(/\/+$/, "")}/config.json`, description: "Docker's config folder: registry logins are read from its config.json" },
  { name: "EDGELM_REQUIRE_SIGNATURE", path: ["trust", "require_signature"], parse: flag, description: "refuse models without a trusted signature (true|false)" },
  { name: "EDGELM_METRICS_PUBLIC", path: ["metrics", "public"], parse: flag, description: "serve /metrics without the API key" },
  { name: "EDGELM_POLICIES", path: ["policies", "enabled"], parse: flag, description: "the policy engine acts on metrics (1/0)" },
  { name: "EDGELM_POLICIES_DRY_RUN", path: ["policies", "dry_run"], parse: flag, description: "policies log what they would do, do nothing" },
  { name: "EDGELM_ALERTMANAGER_URL", path: ["policies", "alerts", "alertmanager"], parse: list, description: "comma-separated Alertmanager base URLs" },
];
