import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpTransport } from "../../../src/matrix/http.ts";
import { selfSignedCert } from "../../harness/tls.ts";
import { isLoopbackHost, readCaFile, trustExtraCertificates, urlSecurity } from "../../../src/matrix/tls.ts";

describe("homeserver URL security", () => {
  it("accepts https anywhere", () => {
    expect(urlSecurity("https://matrix.example.org")).toBe("https");
    expect(urlSecurity("https://10.0.0.5:8448")).toBe("https");
  });

  it("accepts plain http only on loopback", () => {
    for (const u of [
      "http://127.0.0.1:8008",
      "http://127.8.9.10",
      "http://localhost:8008",
      "http://LOCALHOST",
      "http://hs1.localhost:8481",
      "http://[::1]:8008",
      "http://[::ffff:127.0.0.1]:8008",
    ]) {
      expect(urlSecurity(u), u).toBe("loopback");
    }
  });

  it("calls every other plain http URL insecure, private networks included", () => {
    for (const u of [
      "http://example.org",
      "http://matrix.example.org:8008",
      "http://10.0.0.5:8008",
      "http://192.168.1.2",
      "http://[fe80::1]:8008",
      "http://localhost.example.org",
      "http://127.0.0.1.evil.org",
      "http://synapse:8008",
      "not a url",
    ]) {
      expect(urlSecurity(u), u).toBe("insecure");
    }
  });

  it("does not mistake look-alike names for loopback", () => {
    expect(isLoopbackHost("notlocalhost")).toBe(false);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
    expect(isLoopbackHost("::2")).toBe(false);
  });
});

describe("CA file", () => {
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

  it("returns every certificate in the file", () => {
    expect(readCaFile("ca.pem", () => `junk\n${pem}${pem}`)).toHaveLength(2);
  });

  it("explains a missing file and a file without certificates", () => {
    const enoent = () => {
      throw Object.assign(new Error("no"), { code: "ENOENT" });
    };
    expect(() => readCaFile("ca.pem", enoent)).toThrow(/cannot read "ca.pem" \(ENOENT\)/);
    expect(() => readCaFile("ca.pem", () => "-----BEGIN PRIVATE KEY-----")).toThrow(/no PEM certificate/);
  });
});

describe("a homeserver behind a private CA", () => {
  it("is refused until its CA is trusted, then reached with verification on", async () => {
    const { cert, key } = selfSignedCert(mkdtempSync(join(tmpdir(), "tyr-tls-")), "127.0.0.1");
    const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ versions: ["v1.18"] }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as { port: number }).port;
      const http = new HttpTransport({ baseUrl: `https://127.0.0.1:${port}` });
      await expect(http.request("GET", "/_matrix/client/versions")).rejects.toThrow();
      trustExtraCertificates(readCaFile(cert));
      await expect(http.request("GET", "/_matrix/client/versions")).resolves.toEqual({ versions: ["v1.18"] });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
