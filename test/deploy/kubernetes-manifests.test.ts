/**
 * deploy/kubernetes: every object of both variants (Deployment, DaemonSet) is
 * checked against the Kubernetes OpenAPI schema (the kubernetes-models
 * validators, generated from it; the ServiceMonitor against the Prometheus
 * Operator's CRD schema), and the parts that must agree with the image, the
 * gateway config and the fit planner do.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { loadConfig } from "../../src/config/load-config.js";
import { GATEWAY_BASELINE_BYTES, planMemoryFit } from "../../src/server/memory-fit.js";
import { planServedModels } from "../../src/server/served-model-specs.js";
import { REPO_ROOT } from "../helpers.js";

const KUBERNETES = join(REPO_ROOT, "deploy/kubernetes");
type Doc = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any; data?: any; stringData?: any };

/** The objects a kustomization lists (its resources, folders recursively), as `kubectl apply -k` would apply them. */
function kustomize(dir: string): Doc[] {
  const kustomization = parseYaml(readFileSync(join(dir, "kustomization.yaml"), "utf8")) as { resources: string[] };
  return kustomization.resources.flatMap((resource) =>
    resource.endsWith(".yaml") ? parseAllDocuments(readFileSync(join(dir, resource), "utf8")).map((d) => d.toJS() as Doc) : kustomize(join(dir, resource)),
  );
}

/** The schema validator for an object's apiVersion and kind. */
async function validatorFor(doc: Doc): Promise<(value: Doc) => void> {
  const [group, version] = doc.apiVersion.includes("/") ? doc.apiVersion.split("/") : ["", doc.apiVersion];
  const module =
    group === "monitoring.coreos.com"
      ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${doc.kind}`
      : `kubernetes-models/${group ? `${group.replace(/\.k8s\.io$/, ".k8s.io")}/` : ""}${version}/${doc.kind}`;
  const models = (await import(module)) as Record<string, new (value: Doc) => { validate(): void }>;
  const Model = models[doc.kind]!;
  return (value) => new Model(value).validate();
}

async function validate(doc: Doc): Promise<void> {
  (await validatorFor(doc))(doc);
}

const byKind = (docs: Doc[], kind: string, name?: string): Doc => {
  const found = docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  assert.ok(found, `no ${kind}${name ? ` ${name}` : ""}`);
  return found;
};
const mib = (quantity: string): number => {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  assert.ok(match, `memory quantity ${quantity} in Mi or Gi`);
  return Number(match[1]) * (match[2] === "Gi" ? 1024 : 1) * 1024 * 1024;
};

describe("deploy/kubernetes", () => {
  const variants = { deployment: kustomize(join(KUBERNETES, "deployment")), daemonset: kustomize(join(KUBERNETES, "daemonset")) };

  it("every object of both variants passes the Kubernetes OpenAPI schema", async () => {
    for (const [variant, docs] of Object.entries(variants)) {
      assert.deepEqual(
        docs.map((d) => d.kind).sort(),
        [...["ConfigMap", "PodDisruptionBudget", "Secret", "Service", "Service", "ServiceMonitor"], ...(variant === "deployment" ? ["Deployment", "PersistentVolumeClaim"] : ["DaemonSet"])].sort(),
      );
      for (const doc of docs) await validate(doc);
    }
  });

  it("the schema check fails on a wrong type or a missing required field (it can fail)", async () => {
    const deployment = structuredClone(byKind(variants.deployment, "Deployment"));
    deployment.spec.template.spec.containers[0].ports[0].containerPort = "11435";
    await assert.rejects(validate(deployment), /containerPort must be integer/);
    const service = structuredClone(byKind(variants.deployment, "Service", "edgelm-peers"));
    delete service.spec.ports[0].port;
    await assert.rejects(validate(service), /must have required property port/);
    const monitor = structuredClone(byKind(variants.deployment, "ServiceMonitor"));
    monitor.spec.endpoints[0].interval = "15 seconds";
    await assert.rejects(validate(monitor), /interval must match pattern/);
    delete monitor.spec.selector;
    await assert.rejects(validate(monitor), /required property selector/);
  });

  it("the Deployment and the DaemonSet run the same container; only the store volume differs", () => {
    const deployment = byKind(variants.deployment, "Deployment").spec.template;
    const daemonset = byKind(variants.daemonset, "DaemonSet").spec.template;
    assert.deepEqual(daemonset.spec.containers, deployment.spec.containers);
    assert.deepEqual(daemonset.spec.securityContext, deployment.spec.securityContext);
    assert.deepEqual(daemonset.spec.affinity, deployment.spec.affinity);
    assert.deepEqual(byKind(variants.deployment, "Deployment").spec.template.spec.volumes.find((v: any) => v.name === "store"), { name: "store", persistentVolumeClaim: { claimName: "edgelm-store" } });
    assert.equal(daemonset.spec.volumes.find((v: any) => v.name === "store").hostPath.type, "DirectoryOrCreate");
    byKind(variants.deployment, "PersistentVolumeClaim", "edgelm-store");
  });

  it("probes, security context, affinity and services match the image and the gateway", () => {
    const docs = variants.deployment;
    const pod = byKind(docs, "Deployment").spec.template;
    const container = pod.spec.containers[0];
    assert.equal(container.readinessProbe.httpGet.path, "/ready");
    assert.equal(container.livenessProbe.httpGet.path, "/health");
    assert.equal(container.startupProbe.httpGet.path, "/ready");
    assert.ok(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold >= 300, "startup allows slow loads (>= 5 min)");
    // The image's user and flags: USER 10001, --read-only, --cap-drop ALL, no-new-privileges.
    const user = /^USER (\d+):(\d+)$/m.exec(readFileSync(join(REPO_ROOT, "Containerfile"), "utf8"));
    assert.ok(user);
    assert.equal(pod.spec.securityContext.runAsUser, Number(user[1]));
    assert.equal(pod.spec.securityContext.runAsGroup, Number(user[2]));
    assert.equal(pod.spec.securityContext.runAsNonRoot, true);
    assert.equal(pod.spec.securityContext.seccompProfile.type, "RuntimeDefault");
    assert.deepEqual(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ["ALL"] } });
    assert.ok(container.volumeMounts.some((m: any) => m.mountPath === "/var/lib/edgelm"), "the store (EDGELM_HOME in the image) is a volume");
    assert.ok(container.volumeMounts.some((m: any) => m.mountPath === "/tmp"));
    const keys = pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions.map((e: any) => e.key);
    assert.deepEqual(keys.sort(), ["edgelm.io/accelerator", "kubernetes.io/arch"]);
    const labels = pod.metadata.labels;
    const port = container.ports.find((p: any) => p.name === "http");
    for (const service of docs.filter((d) => d.kind === "Service")) {
      for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v, `${service.metadata.name} selects the pods`);
      assert.equal(service.spec.ports[0].targetPort, "http");
    }
    assert.equal(byKind(docs, "Service", "edgelm-peers").spec.clusterIP, "None");
    const api = byKind(docs, "Service", "edgelm");
    assert.equal(api.metadata.annotations!["prometheus.io/scrape"], "true");
    assert.equal(Number(api.metadata.annotations!["prometheus.io/port"]), port.containerPort);
    const monitor = byKind(docs, "ServiceMonitor");
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) assert.equal(api.metadata.labels![k], v);
    assert.notEqual(byKind(docs, "Service", "edgelm-peers").metadata.labels!["app.kubernetes.io/component"], "api", "the headless Service is not scraped twice");
    for (const [k, v] of Object.entries(byKind(docs, "PodDisruptionBudget").spec.selector.matchLabels)) assert.equal(labels[k], v);
    const secret = byKind(docs, "Secret");
    for (const env of container.env.filter((e: any) => e.valueFrom)) assert.ok(env.valueFrom.secretKeyRef.key in secret.stringData, `${env.name} comes from the Secret`);
  });

  it("the ConfigMap's edgelm.yaml is a valid config whose peers are the headless Service, and the memory request covers the fit planner's estimate", async () => {
    const docs = variants.deployment;
    const dir = mkdtempSync(join(tmpdir(), "edgelm-k8s-"));
    try {
      const file = join(dir, "edgelm.yaml");
      writeFileSync(file, byKind(docs, "ConfigMap").data["edgelm.yaml"]);
      const { config } = loadConfig({ configPath: file, env: { EDGELM_HOME: join(dir, "home") } });
      const container = byKind(docs, "Deployment").spec.template.spec.containers[0];
      assert.equal(config.router.peers_dns?.name, `${byKind(docs, "Service", "edgelm-peers").metadata.name}.default.svc.cluster.local`);
      assert.equal(config.router.peers_dns?.port, container.ports[0].containerPort);
      assert.equal(config.server.port, container.ports[0].containerPort);
      assert.equal(container.env.find((e: any) => e.name === "EDGELM_CONFIG").value, container.volumeMounts.find((m: any) => m.name === "config").mountPath);
      const plan = await planServedModels(config);
      const fit = await planMemoryFit(plan.specs, config, { engine: { backend: "node-llama-cpp" }, memory: { totalBytes: 2 ** 40, availableBytes: 2 ** 40, source: "meminfo" } });
      const needed = fit.fits.reduce((sum, f) => sum + f.estimateBytes, 0) + GATEWAY_BASELINE_BYTES + config.server.memory_headroom_mb * 1024 * 1024;
      const request = mib(container.resources.requests.memory);
      const limit = mib(container.resources.limits.memory);
      assert.ok(request >= needed, `memory request ${request} covers the planner's ${needed}`);
      assert.ok(limit >= request);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
