// @ts-check
/** The request just made, written out for curl, the OpenAI JS client, and Ollama's API. */

/** @param {string} text */
function shellQuote(text) {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * @param {"curl" | "openai" | "ollama"} format
 * @param {string} origin e.g. http://127.0.0.1:11435
 * @param {any} body the OpenAI chat request sent
 * @param {boolean} withKey whether a key is needed (written as $EDGELM_API_KEY, never the key itself)
 */
export function snippet(format, origin, body, withKey) {
  const auth = withKey ? ` \\\n  -H "Authorization: Bearer $EDGELM_API_KEY"` : "";
  if (format === "curl") {
    return `curl ${origin}/v1/chat/completions${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d ${shellQuote(JSON.stringify(body))}`;
  }
  if (format === "openai") {
    const { stream_options: _, ...request } = body;
    return [
      `import OpenAI from "openai";`,
      ``,
      `const client = new OpenAI({ baseURL: "${origin}/v1", apiKey: ${withKey ? "process.env.EDGELM_API_KEY" : '"unused"'} });`,
      `const stream = await client.chat.completions.create(${JSON.stringify(request, null, 2)});`,
      `for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");`,
    ].join("\n");
  }
  /** @type {Record<string, unknown>} */
  const options = {};
  for (const [from, to] of [["temperature", "temperature"], ["top_p", "top_p"], ["top_k", "top_k"], ["min_p", "min_p"], ["max_tokens", "num_predict"], ["seed", "seed"]]) {
    if (body[from] !== undefined) options[to] = body[from];
  }
  /** @type {Record<string, unknown>} */
  const ollama = { model: body.model, messages: body.messages, stream: true, options };
  if (body.response_format?.type === "json_schema") ollama.format = body.response_format.json_schema.schema;
  return `curl ${origin}/api/chat${auth} \\\n  -d ${shellQuote(JSON.stringify(ollama))}`;
}
