/** An X.509 distinguished name on one line: node:crypto separates RDNs with newlines. */
export function oneLineDn(text: string): string {
  return text.split("\n").join(", ");
}
