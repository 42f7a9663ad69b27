// The address a request came from, for rate limits and logs. Behind a reverse proxy every request
// arrives from the proxy; only when the direct peer is a proxy the admin named in
// `http.trustedProxies` does Tyr believe its X-Forwarded-For, read from the right (the part the
// trusted proxies appended) up to the first address that is not one of them. A client cannot
// choose its own address by sending the header: whatever it wrote is left of that point.
import { BlockList, isIP } from "node:net";

/** The trusted proxies as a BlockList; entries are IP addresses or CIDR ranges (validated by the config). */
export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [addr, bits] = entry.split("/") as [string, string | undefined];
    const type = isIP(addr) === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

/** Whether `entry` is an IP address or a CIDR range `trustedProxyList` accepts. */
export function isProxyEntry(entry: string): boolean {
  const [addr, bits, extra] = entry.split("/");
  const family = isIP(addr ?? "");
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32);
}

const trusted = (list: BlockList, addr: string): boolean => {
  const family = isIP(addr);
  return family !== 0 && list.check(addr, family === 6 ? "ipv6" : "ipv4");
};

/** IPv4 peers of a dual-stack socket read as ::ffff:a.b.c.d; compare them as IPv4. */
const plain = (addr: string): string =>
  addr.startsWith("::ffff:") && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;

export function clientAddress(
  peer: string,
  forwardedFor: string | string[] | undefined,
  proxies: BlockList | undefined,
): string {
  const direct = plain(peer);
  if (proxies === undefined || forwardedFor === undefined || !trusted(proxies, direct)) return direct;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
    .split(",")
    .map((h) => plain(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    // Garbage where an address should be: believe nothing further left of it.
    if (isIP(hop) === 0) return direct;
    if (!trusted(proxies, hop)) return hop;
  }
  return direct; // only proxies all the way: the request started at one of them
}
