/**
 * A small authoritative DNS server over UDP on 127.0.0.1 for tests: answers A
 * and AAAA questions from a table the test changes at will, NXDOMAIN for names
 * it does not know, NOERROR with no answer for a known name without records of
 * the asked type. Real DNS wire format (RFC 1035), parsed by Node's resolver.
 */
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";

export interface DnsRecords {
  A?: string[];
  AAAA?: string[];
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group || "0", 16), i * 2));
  return out;
}

export class TestDnsServer {
  readonly records = new Map<string, DnsRecords>();
  /** Questions received, as "name TYPE". */
  readonly questions: string[] = [];
  private constructor(private readonly socket: Socket, readonly port: number) {}

  static async start(): Promise<TestDnsServer> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    const server = new TestDnsServer(socket, socket.address().port);
    socket.on("message", (message, remote) => {
      const reply = server.answer(message);
      if (reply) socket.send(reply, remote.port, remote.address);
    });
    return server;
  }

  /** "127.0.0.1:<port>", for router.peers_dns.servers. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  set(name: string, records: DnsRecords): void {
    this.records.set(name.toLowerCase().replace(/\.$/, ""), records);
  }

  private answer(query: Buffer): Buffer | undefined {
    if (query.length < 12) return undefined;
    const labels: string[] = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
      const length = query[at]!;
      labels.push(query.subarray(at + 1, at + 1 + length).toString("ascii"));
      at += length + 1;
    }
    const questionEnd = at + 5;
    if (questionEnd > query.length) return undefined;
    const type = query.readUInt16BE(at + 1);
    const name = labels.join(".").toLowerCase();
    const typeName = type === 1 ? "A" : type === 28 ? "AAAA" : String(type);
    this.questions.push(`${name} ${typeName}`);
    const records = this.records.get(name);
    const addresses = !records ? [] : type === 1 ? records.A ?? [] : type === 28 ? records.AAAA ?? [] : [];
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    const recursionDesired = query[2]! & 0x01;
    header.writeUInt16BE(0x8400 | (recursionDesired << 8) | (records ? 0 : 3), 2); // response, authoritative, NOERROR / NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addresses.length, 6);
    const answers = addresses.map((address) => {
      const data = type === 28 || isIPv6(address) ? ipv6Bytes(address) : Buffer.from(address.split(".").map(Number));
      const record = Buffer.alloc(12);
      record.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      record.writeUInt16BE(type, 2);
      record.writeUInt16BE(1, 4); // IN
      record.writeUInt32BE(5, 6); // TTL 5 s
      record.writeUInt16BE(data.length, 10);
      return Buffer.concat([record, data]);
    });
    return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
