/**
 * The chat template used when a model's GGUF carries none (stories260K, the
 * built-in demo model, synthetic models). Plain text, one block per message:
 *
 *     ### System:
 *     <content>
 *
 *     ### User:
 *     <content>
 *
 *     ### Assistant:
 *
 * Generation stops when the model starts a new block.
 */
import type { ChatMessage } from "./types.js";

const titles: Record<ChatMessage["role"], string> = {
  system: "System",
  user: "User",
  assistant: "Assistant",
  tool: "Tool",
};

export const FALLBACK_CHAT_STOPS = ["\n### "] as const;

export function renderFallbackChat(messages: readonly ChatMessage[]): string {
  let text = "";
  for (const message of messages) text += `### ${titles[message.role]}:\n${message.content}\n\n`;
  return `${text}### Assistant:\n`;
}
