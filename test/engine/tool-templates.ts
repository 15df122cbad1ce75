/**
 * Test data: chat templates written for these tests in each model family's tool
 * syntax (how the family's published templates present tools, past calls and
 * results), small enough for the contexts the tests give stories260K. They are not the
 * families' own template files; they exercise the same variables and markup.
 */
import type { ChatMessage, ToolDefinition } from "../../src/engine/types.js";

/** The Hermes message loop: the system message is written by the header; calls in <tool_call> blocks, results as <tool_response>. */
const HERMES_MESSAGES = `{%- for message in messages %}
{%- if message.role == 'system' %}
{%- elif message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant
{% if message.content %}{{ message.content }}
{% endif %}
{%- for tc in message.tool_calls %}<tool_call>
{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}}
</tool_call>{% endfor %}<|im_end|>
{% elif message.role == 'tool' %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% else %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}`;

/** Qwen 2.5/3 / Hermes / SmolLM3 style: tools in <tools>, calls in <tool_call> blocks, results as <tool_response>. */
export const HERMES_TEMPLATE = `{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}
{% endif %}<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools>
Calls: <tool_call>
{"name": <name>, "arguments": <args>}
</tool_call><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
` + HERMES_MESSAGES;

/** Llama 3.1–3.3 style: JSON calls with "parameters", <|python_tag|>, ipython results, one call per turn. */
export const LLAMA3_TEMPLATE = `{{- bos_token }}
{%- if tools %}<|start_header_id|>system<|end_header_id|>

Environment: ipython
Answer with {"name": function name, "parameters": arguments}.
{% for t in tools %}{{ t | tojson }}
{% endfor %}<|eot_id|>
{%- endif %}
{%- for message in messages %}
{%- if message.tool_calls %}
{%- if message.tool_calls | length != 1 %}{{ raise_exception("This model only supports single tool-calls at once!") }}{% endif %}<|start_header_id|>assistant<|end_header_id|>

{% for tc in message.tool_calls %}<|python_tag|>{"name": "{{ tc.function.name }}", "parameters": {{ tc.function.arguments | tojson }}}{% endfor %}<|eom_id|>
{%- elif message.role == 'tool' %}<|start_header_id|>ipython<|end_header_id|>

{{ message.content }}<|eot_id|>
{%- else %}<|start_header_id|>{{ message.role }}<|end_header_id|>

{{ message.content }}<|eot_id|>
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>

{% endif %}`;

/** Mistral v3 style: [AVAILABLE_TOOLS], a [TOOL_CALLS] JSON list with 9-character ids, [TOOL_RESULTS]. */
export const MISTRAL_TEMPLATE = `{{- bos_token }}
{%- for message in messages %}
{%- if message.role == 'user' %}{% if tools and loop.index0 <= 1 %}[AVAILABLE_TOOLS] {{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}[INST] {{ message.content }}[/INST]
{%- elif message.tool_calls %}[TOOL_CALLS] [
{%- for tc in message.tool_calls %}
{%- if tc.id is not defined or tc.id | length != 9 %}{{ raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}{% endif %}{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}, "id": "{{ tc.id }}"}{% if not loop.last %}, {% endif %}
{%- endfor %}]{{ eos_token }}
{%- elif message.role == 'tool' %}[TOOL_RESULTS] {"content": {{ message.content | tojson }}, "call_id": "{{ message.tool_call_id }}"}[/TOOL_RESULTS]
{%- elif message.role == 'assistant' %} {{ message.content }}{{ eos_token }}
{%- endif %}
{%- endfor %}`;

/** Newer Mistral style: [TOOL_CALLS]name[ARGS]{...} per call. */
export const MISTRAL_ARGS_TEMPLATE = `{%- for message in messages %}
{%- if message.role == 'system' %}[SYSTEM_PROMPT]{{ message.content }}[/SYSTEM_PROMPT]
{%- elif message.role == 'user' %}{% if tools and loop.index0 <= 1 %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}[INST]{{ message.content }}[/INST]
{%- elif message.tool_calls %}{% for tc in message.tool_calls %}[TOOL_CALLS]{{ tc.function.name }}[ARGS]{{ tc.function.arguments | tojson }}{% endfor %}{{ eos_token }}
{%- elif message.role == 'tool' %}[TOOL_RESULTS]{{ message.content }}[/TOOL_RESULTS]
{%- else %}{{ message.content }}{{ eos_token }}
{%- endif %}
{%- endfor %}`;

/**
 * The Hermes syntax with only the tools' names in the prompt: stories260K spends a token per character
 * of JSON, and the engine contract needs room to generate many calls within its context.
 */
export const HERMES_COMPACT_TEMPLATE =
  `{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}
{% endif %}Tools:{% for tool in tools %} {{ tool.function.name }}{% endfor %}<|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}` + HERMES_MESSAGES;

/** A tool whose function has a description and whose parameter has none (as clients often send it). */
export const WEATHER_TOOL_DESCRIBED: ToolDefinition = {
  name: "get_weather",
  description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

/** A conversation with a system message, a past call of get_weather (a long id) and its result. */
export const WEATHER_HISTORY: ChatMessage[] = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Weather in Oslo?" },
  { role: "assistant", content: "", toolCalls: [{ id: "call_abc123XYZ_long", name: "get_weather", arguments: '{"city":"Oslo"}' }] },
  { role: "tool", content: "sunny, 21 C", toolCallId: "call_abc123XYZ_long", name: "get_weather" },
];
