/**
 * Peer gateways found through DNS (`router.peers_dns`): the A and AAAA records
 * of one name — a Kubernetes headless Service lists every ready pod's address
 * there — resolved now and every `interval_ms`, each address a peer at
 * http://<address>:<port>/v1. This gateway's own address is left out. A failed
 * lookup keeps the peers of the last good one and is reported, never thrown.
 */
import { Resolver } from "node:dns/promises";
import { networkInterfaces } from "node:os";
import type { PeersDnsConfig } from "../config/sections/router.js";

export interface DiscoveredPeer {
  /** `dns:<address>`. */
  name: string;
  /** http://<address>:<port>/v1 */
  baseUrl: string;
  address: string;
}

export interface DnsPeerDiscoveryOptions {
  /** Called with the whole peer list whenever it changes (also the first time). */
  onPeers: (peers: DiscoveredPeer[]) => void;
  /** A lookup that failed (the last good list stays). */
  onError?: (error: Error) => void;
  /** This gateway's port: a record naming one of this host's addresses at this port is itself (default: none left out). */
  selfPort?: number;
  /** This host's addresses (default: every address of os.networkInterfaces()). */
  selfAddresses?: ReadonlySet<string>;
}

/** DNS answers that mean "no such records" rather than a failed lookup. */
const EMPTY_ANSWERS = new Set(["ENODATA", "ENOTFOUND"]);

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) out.add(entry.address);
  return out;
}

export class DnsPeerDiscovery {
  private readonly resolver = new Resolver({ timeout: 2000, tries: 2 });
  private readonly self: ReadonlySet<string>;
  private timer: NodeJS.Timeout | undefined;
  private last = "";
  private running: Promise<DiscoveredPeer[]> | undefined;

  constructor(
    private readonly config: PeersDnsConfig,
    private readonly options: DnsPeerDiscoveryOptions,
  ) {
    if (config.servers) this.resolver.setServers(config.servers);
    this.self = options.selfAddresses ?? localAddresses();
  }

  /** Resolves now, then every interval_ms until close(). The first lookup is awaited (it never throws). */
  async start(): Promise<void> {
    await this.refresh().catch(() => undefined);
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.config.interval_ms);
    this.timer.unref();
  }

  /** One lookup: the peers now listed (also handed to onPeers when they changed). Rejects when DNS fails. */
  refresh(): Promise<DiscoveredPeer[]> {
    this.running ??= this.lookup().finally(() => (this.running = undefined));
    return this.running;
  }

  private async lookup(): Promise<DiscoveredPeer[]> {
    const records = async (family: 4 | 6): Promise<string[]> => {
      try {
        return family === 4 ? await this.resolver.resolve4(this.config.name) : await this.resolver.resolve6(this.config.name);
      } catch (error) {
        if (EMPTY_ANSWERS.has((error as NodeJS.ErrnoException).code ?? "")) return [];
        throw error;
      }
    };
    let addresses: string[];
    try {
      addresses = [...(await records(4)), ...(await records(6))];
    } catch (error) {
      const failure = new Error(`peers_dns: cannot resolve ${this.config.name}: ${(error as Error).message}`);
      this.options.onError?.(failure);
      throw failure;
    }
    const isSelf = (address: string): boolean => this.options.selfPort === this.config.port && this.self.has(address);
    const peers = [...new Set(addresses)]
      .filter((address) => !isSelf(address))
      .sort()
      .map((address) => ({
        name: `dns:${address}`,
        address,
        baseUrl: `http://${address.includes(":") ? `[${address}]` : address}:${this.config.port}/v1`,
      }));
    const key = peers.map((p) => p.baseUrl).join(" ");
    if (key !== this.last) {
      this.last = key;
      this.options.onPeers(peers);
    }
    return peers;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
