// Resolving server names, step by step as the spec orders them, with the lookups injected.
import { describe, expect, it } from "vitest";
import {
  resolveServerName,
  wellKnownServer,
  type DiscoveryLookups,
  type SrvRecord,
} from "../../../src/federation/discovery.ts";

function lookups(
  wellKnown: Record<string, unknown>,
  srv: Record<string, SrvRecord[]>,
): DiscoveryLookups & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    fetchWellKnown: async (host) => {
      asked.push(`wk ${host}`);
      if (!(host in wellKnown)) throw new Error("404");
      return wellKnown[host];
    },
    resolveSrv: async (name) => {
      asked.push(`srv ${name}`);
      return srv[name] ?? [];
    },
  };
}

const srv = (name: string, port: number, priority = 10, weight = 0): SrvRecord => ({
  name,
  port,
  priority,
  weight,
});

describe("resolving server names", () => {
  it("1. IP literals: no lookups, port or 8448, certificate for the IP", async () => {
    const l = lookups({}, {});
    expect(await resolveServerName("1.2.3.4", l)).toEqual({
      host: "1.2.3.4",
      port: 8448,
      hostHeader: "1.2.3.4",
      tlsName: "1.2.3.4",
    });
    expect(await resolveServerName("[::1]:8000", l)).toEqual({
      host: "::1",
      port: 8000,
      hostHeader: "[::1]:8000",
      tlsName: "::1",
    });
    expect(l.asked).toEqual([]);
  });

  it("2. an explicit port: connect there, no delegation", async () => {
    const l = lookups({ "hs.example": { "m.server": "elsewhere.example" } }, {});
    expect(await resolveServerName("hs.example:8443", l)).toEqual({
      host: "hs.example",
      port: 8443,
      hostHeader: "hs.example:8443",
      tlsName: "hs.example",
    });
    expect(l.asked).toEqual([]);
  });

  it("3. well-known delegation: to an IP, to a host with port, via SRV, or to 8448", async () => {
    const l = lookups(
      {
        "ip.example": { "m.server": "10.0.0.1:9000" },
        "port.example": { "m.server": "matrix.port.example:443" },
        "srv.example": { "m.server": "matrix.srv.example" },
        "old.example": { "m.server": "matrix.old.example" },
        "plain.example": { "m.server": "matrix.plain.example" },
      },
      {
        "_matrix-fed._tcp.matrix.srv.example": [
          srv("b.example.", 8449, 20),
          srv("a.example.", 8448, 10, 5),
          srv("c.example", 1, 10, 1),
        ],
        "_matrix._tcp.matrix.old.example": [srv("legacy.example", 8447)],
      },
    );
    // [server name, connect to, port, Host header and TLS name]
    const expected: [string, string, number, string, string][] = [
      ["ip.example", "10.0.0.1", 9000, "10.0.0.1:9000", "10.0.0.1"],
      ["port.example", "matrix.port.example", 443, "matrix.port.example:443", "matrix.port.example"],
      ["srv.example", "a.example", 8448, "matrix.srv.example", "matrix.srv.example"],
      ["old.example", "legacy.example", 8447, "matrix.old.example", "matrix.old.example"],
      ["plain.example", "matrix.plain.example", 8448, "matrix.plain.example", "matrix.plain.example"],
    ];
    for (const [name, host, port, hostHeader, tlsName] of expected)
      expect(await resolveServerName(name, l), name).toEqual({ host, port, hostHeader, tlsName });
  });

  it("4–6. no usable well-known: SRV on the name itself, then 8448", async () => {
    const l = lookups(
      { "bad.example": { "m.server": "not a host" }, "junk.example": "x" },
      { "_matrix-fed._tcp.srv.example": [srv("fed.example", 443)] },
    );
    expect(await resolveServerName("srv.example", l)).toEqual({
      host: "fed.example",
      port: 443,
      hostHeader: "srv.example",
      tlsName: "srv.example",
    });
    for (const name of ["bad.example", "junk.example", "none.example"])
      expect(await resolveServerName(name, l)).toEqual({
        host: name,
        port: 8448,
        hostHeader: name,
        tlsName: name,
      });
    expect(l.asked).toContain("srv _matrix._tcp.none.example");
  });

  it("refuses names that are not server names, and unusable SRV targets", async () => {
    await expect(resolveServerName("not a server", lookups({}, {}))).rejects.toThrow(/not a server name/);
    const l = lookups({}, { "_matrix-fed._tcp.x.example": [srv(".", 0), srv("", 8448)] });
    expect(await resolveServerName("x.example", l)).toMatchObject({ host: "x.example", port: 8448 });
    expect(wellKnownServer({ "m.server": 5 })).toBeUndefined();
    expect(wellKnownServer(null)).toBeUndefined();
  });
});
