import { describe, expect, it } from "vitest";
import { clientAddress, isProxyEntry, trustedProxyList } from "../../../src/http/clientAddress.ts";

describe("client address behind reverse proxies", () => {
  const proxies = trustedProxyList(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);

  it("ignores X-Forwarded-For unless the direct peer is a trusted proxy", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.1", proxies)).toBe("203.0.113.9");
    expect(clientAddress("127.0.0.1", "198.51.100.1", undefined)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", undefined, proxies)).toBe("127.0.0.1");
  });

  it("takes the first untrusted address from the right, so a client cannot pick its own", () => {
    // The client wrote "1.2.3.4" itself; the proxy appended the address it saw.
    expect(clientAddress("127.0.0.1", "1.2.3.4, 198.51.100.7", proxies)).toBe("198.51.100.7");
    expect(clientAddress("10.1.2.3", "198.51.100.7, 10.9.9.9", proxies)).toBe("198.51.100.7");
    expect(clientAddress("::ffff:127.0.0.1", ["1.2.3.4", "2001:db8::5"], proxies)).toBe("2001:db8::5");
    expect(clientAddress("fd12::1", "2001:db8::7", proxies)).toBe("2001:db8::7");
  });

  it("falls back to the peer on garbage or a chain of proxies only", () => {
    expect(clientAddress("127.0.0.1", "not-an-ip", proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "198.51.100.7, <script>", proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "10.0.0.5, 127.0.0.1", proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "", proxies)).toBe("127.0.0.1");
  });

  it("accepts addresses and CIDR ranges as entries, nothing else", () => {
    for (const ok of ["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "192.168.0.0/16"])
      expect(isProxyEntry(ok)).toBe(true);
    for (const bad of ["localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/8/1", "", "10.0.0.0/x"])
      expect(isProxyEntry(bad)).toBe(false);
  });
});
