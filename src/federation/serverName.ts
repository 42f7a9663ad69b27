// A server name as federation uses it (spec appendix "Server Name"): host [":" port], host being
// a DNS name, an IPv4 literal or a bracketed IPv6 literal. Checked before a name is trusted as a
// request's origin or used to fetch keys, so junk never reaches the network.
import { isIPv6 } from "node:net";

const DNS_NAME = /^[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*$/;
const PORT = /^[0-9]{1,5}$/;

export function isValidServerName(name: string): boolean {
  if (name.length === 0 || name.length > 255 + 6) return false;
  let host = name;
  let port: string | undefined;
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    if (close < 0) return false;
    host = name.slice(0, close + 1);
    const rest = name.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return false;
      port = rest.slice(1);
    }
    if (!isIPv6(host.slice(1, -1))) return false;
  } else {
    const colon = name.lastIndexOf(":");
    if (colon >= 0) {
      host = name.slice(0, colon);
      port = name.slice(colon + 1);
    }
    if (host.length > 255 || !DNS_NAME.test(host)) return false;
  }
  if (port !== undefined && !(PORT.test(port) && Number(port) >= 1 && Number(port) <= 65535)) return false;
  return true;
}
