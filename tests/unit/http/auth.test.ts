// The bearer check costs the same whatever was sent: every wrong secret (shorter, longer, sharing
// a prefix, overlong) is compared as a 32-byte digest with timingSafeEqual, exactly once, like the
// right one. A comparison with `===` or on the raw strings would leak the secret's length or
// prefix through timing; this holds the implementation to the constant-time path.
import { describe, expect, it, vi } from "vitest";
import * as crypto from "node:crypto";
import { bearerSecret } from "../../../src/http/auth.ts";

vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const SECRET = "0123456789abcdef0123456789abcdef";

describe("bearerSecret", () => {
  it("compares every given secret as an equal-length digest in constant time", () => {
    const auth = bearerSecret(SECRET);
    const spy = vi.mocked(crypto.timingSafeEqual);
    const given = [
      SECRET,
      `${SECRET.slice(0, -1)}0`, // all but the last character right
      SECRET.slice(0, 1), // a prefix
      `${SECRET}x`, // one longer
      "x".repeat(10_000),
      "wrong",
    ];
    for (const g of given) {
      spy.mockClear();
      const r = auth.check({ method: "GET", uri: "/", headers: { authorization: `Bearer ${g}` } });
      expect(r).toMatchObject({ ok: g === SECRET });
      expect(spy).toHaveBeenCalledTimes(1);
      const [a, b] = spy.mock.calls[0] as [Buffer, Buffer];
      expect([a.length, b.length]).toEqual([32, 32]);
    }
  });
});
