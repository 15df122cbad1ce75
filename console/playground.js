// @ts-check
/**
 * The chat playground: model picker, system prompt, sampling controls,
 * JSON-schema mode, a streamed answer with a stop button, the facts of each
 * response (route, TTFT, tokens/s, prompt tokens cached) and the request as
 * curl / OpenAI / Ollama. The conversation lives in this browser only
 * (localStorage), never on the gateway.
 */
import { call, sseEvents } from "./api.js";
import { byId, fillSelect, h } from "./dom.js";
import { snippet } from "./snippets.js";

const STORE = "edgelm.conversation";
const DEFAULTS = { temperature: "0.8", top_p: "0.95", top_k: "40", min_p: "0.05", max_tokens: "256", seed: "" };

/** @typedef {{ role: "user" | "assistant", content: string, facts?: string, model?: string }} Message */

/** @param {any} m */
function trustLabel(m) {
  return m.trust ? m.trust.status : m.hashVerified ? "hash verified" : "unverified";
}

export class Playground {
  /** @param {() => void} onDone called after each response (the dashboard refreshes) */
  constructor(onDone) {
    this.onDone = onDone;
    /** @type {Message[]} */
    this.messages = this.load();
    /** @type {AbortController | null} */
    this.controller = null;
    /** @type {any} */
    this.lastRequest = null;
    /** @type {any} */
    this.state = null;
    this.form = /** @type {HTMLFormElement} */ (byId("chat-form"));
    this.model = /** @type {HTMLSelectElement} */ (byId("model"));
    this.prompt = /** @type {HTMLTextAreaElement} */ (byId("prompt"));
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.send();
    });
    this.prompt.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void this.send();
      }
    });
    byId("stop").addEventListener("click", () => this.controller?.abort());
    byId("clear").addEventListener("click", () => {
      this.messages = [];
      this.save();
      this.render();
    });
    byId("reset-sampling").addEventListener("click", () => {
      for (const [id, value] of Object.entries(DEFAULTS)) /** @type {HTMLInputElement} */ (byId(id)).value = value;
    });
    const jsonMode = /** @type {HTMLInputElement} */ (byId("json-mode"));
    jsonMode.addEventListener("change", () => {
      /** @type {HTMLTextAreaElement} */ (byId("json-schema")).disabled = !jsonMode.checked;
    });
    this.model.addEventListener("change", () => this.describe());
    for (const button of document.querySelectorAll("button.copy")) {
      button.addEventListener("click", () => this.copy(/** @type {"curl" | "openai" | "ollama"} */ (/** @type {HTMLElement} */ (button).dataset.format)));
    }
    this.render();
  }

  /** @param {any} state */
  update(state) {
    this.state = state;
    fillSelect(
      this.model,
      state.models.map((/** @type {any} */ m) => ({
        value: m.name,
        label: `${m.name} · ${m.quantization ?? "?"} · ${m.backend || "no runner"} · ${trustLabel(m)}${m.state === "ready" ? "" : ` · ${m.state}`}`,
      })),
    );
    this.describe();
  }

  describe() {
    const m = this.state?.models.find((/** @type {any} */ x) => x.name === this.model.value);
    byId("model-facts").textContent = m
      ? `${m.ref} — ${m.quantization ?? "?"}, ${m.backend || "no runner"}, context ${m.contextSize ?? "?"}, parallel ${m.parallel}; trust: ${m.trust ? m.trust.summary : trustLabel(m)}`
      : "";
  }

  /** @returns {Message[]} */
  load() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORE) ?? "[]");
      return Array.isArray(saved) ? saved.filter((m) => (m.role === "user" || m.role === "assistant") && typeof m.content === "string") : [];
    } catch {
      return [];
    }
  }

  save() {
    localStorage.setItem(STORE, JSON.stringify(this.messages));
  }

  render() {
    byId("messages").replaceChildren(...this.messages.map((m) => this.bubble(m).el));
  }

  /** @param {Message} m */
  bubble(m) {
    const text = h("div", { class: "text" }, m.content);
    const facts = h("p", { class: "facts" }, m.facts ?? "");
    const el = h("article", { class: `msg ${m.role}`, "aria-label": m.role === "user" ? "You" : `Answer${m.model ? ` from ${m.model}` : ""}` }, text, facts);
    return { el, text, facts };
  }

  /** @param {string} id @returns {number | undefined} */
  number(id) {
    const value = /** @type {HTMLInputElement} */ (byId(id)).value.trim();
    if (value === "") return undefined;
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`${id} is not a number`);
    return n;
  }

  /** The OpenAI chat request for the conversation so far. */
  request() {
    const system = /** @type {HTMLTextAreaElement} */ (byId("system")).value.trim();
    /** @type {any} */
    const body = {
      model: this.model.value,
      messages: [...(system ? [{ role: "system", content: system }] : []), ...this.messages.map((m) => ({ role: m.role, content: m.content }))],
      stream: true,
      stream_options: { include_usage: true },
    };
    for (const id of ["temperature", "top_p", "top_k", "min_p", "max_tokens", "seed"]) {
      const n = this.number(id);
      if (n !== undefined) body[id] = n;
    }
    if (/** @type {HTMLInputElement} */ (byId("json-mode")).checked) {
      let schema;
      try {
        schema = JSON.parse(/** @type {HTMLTextAreaElement} */ (byId("json-schema")).value);
      } catch (error) {
        throw new Error(`the JSON schema is not valid JSON: ${/** @type {Error} */ (error).message}`);
      }
      body.response_format = { type: "json_schema", json_schema: { name: "answer", schema } };
    }
    return body;
  }

  async send() {
    const text = this.prompt.value.trim();
    if (!text || this.controller || !this.model.value) return;
    this.messages.push({ role: "user", content: text });
    let body;
    try {
      body = this.request();
    } catch (error) {
      this.messages.pop();
      byId("status").textContent = /** @type {Error} */ (error).message;
      return;
    }
    this.prompt.value = "";
    this.save();
    this.render();
    /** @type {Message} */
    const answer = { role: "assistant", content: "", model: body.model };
    const view = this.bubble(answer);
    view.el.setAttribute("aria-busy", "true");
    byId("messages").append(view.el);
    this.lastRequest = body;
    for (const b of document.querySelectorAll("button.copy")) /** @type {HTMLButtonElement} */ (b).disabled = false;
    const controller = (this.controller = new AbortController());
    byId("stop").toggleAttribute("disabled", false);
    byId("send").toggleAttribute("disabled", true);
    const started = performance.now();
    let firstAt = 0;
    /** @type {any} */
    let usage = null;
    let finish = "";
    let route = "local";
    let outcome = "";
    try {
      const response = await call("/v1/chat/completions", { body, signal: controller.signal });
      const target = response.headers.get("x-edgelm-route");
      if (target) route = `${target}${response.headers.get("x-edgelm-served-by") ? ` (${response.headers.get("x-edgelm-served-by")})` : ""}: ${response.headers.get("x-edgelm-route-reason") ?? ""}`;
      for await (const event of sseEvents(response)) {
        if (event.error) throw new Error(event.error.message ?? String(event.error));
        if (event.usage) usage = event.usage;
        const choice = event.choices?.[0];
        if (choice?.finish_reason) finish = choice.finish_reason;
        const delta = choice?.delta?.content;
        if (delta) {
          if (!firstAt) firstAt = performance.now();
          answer.content += delta;
          view.text.textContent = answer.content;
        }
      }
    } catch (error) {
      outcome = controller.signal.aborted ? "stopped" : `error: ${/** @type {Error} */ (error).message}`;
    }
    const ended = performance.now();
    const tokens = usage?.completion_tokens;
    const facts = [
      `route ${route}`,
      firstAt ? `TTFT ${Math.round(firstAt - started)} ms` : "no token",
      tokens && firstAt && ended > firstAt ? `${((tokens / (ended - firstAt)) * 1000).toFixed(1)} tokens/s` : null,
      usage ? `prompt ${usage.prompt_tokens} tokens (${usage.prompt_tokens_details?.cached_tokens ?? 0} cached), ${usage.completion_tokens} generated` : null,
      finish ? `finish ${finish}` : null,
      outcome || null,
    ].filter(Boolean);
    answer.facts = facts.join(" · ");
    view.facts.textContent = answer.facts;
    view.el.removeAttribute("aria-busy");
    if (outcome.startsWith("error")) view.el.classList.add("failed");
    this.messages.push(answer);
    this.save();
    this.controller = null;
    byId("stop").toggleAttribute("disabled", true);
    byId("send").toggleAttribute("disabled", false);
    this.prompt.focus();
    this.onDone();
  }

  /** @param {"curl" | "openai" | "ollama"} format */
  copy(format) {
    if (!this.lastRequest) return;
    const text = snippet(format, location.origin, this.lastRequest, Boolean(this.state?.auth?.keys));
    const area = /** @type {HTMLTextAreaElement} */ (byId("snippet"));
    area.hidden = false;
    area.value = text;
    area.dataset.format = format;
    area.select();
    // The clipboard needs a secure context (loopback counts); the text stays selectable either way.
    void navigator.clipboard?.writeText(text).catch(() => undefined);
  }
}
