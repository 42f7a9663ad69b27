// Matrix canonical JSON (spec appendix "Canonical JSON"): object keys sorted by code point, no
// insignificant whitespace, UTF-8, integers only in the safe range, and non-ASCII characters
// written as-is rather than as \u escapes. Measures event sizes against the 64 KiB PDU limit and is
// the byte string federation signatures (src/federation/) are computed over.

/** Largest PDU a homeserver accepts, in bytes of canonical JSON (Synapse `MAX_PDU_SIZE`). */
export const MAX_EVENT_BYTES = 65_536;

/** Canonical JSON only allows integers in [-(2^53)+1, 2^53-1]. */
function encodeNumber(n: number): string {
  if (!Number.isSafeInteger(n)) throw new TypeError(`canonical JSON allows only safe integers, got ${n}`);
  // -0 encodes as 0, which JSON.stringify already does.
  return JSON.stringify(n);
}

/** Code point order: JS's default sort compares UTF-16 code units, which misorders astral keys. */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done === true) return y.done === true ? 0 : -1;
    if (y.done === true) return 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx - cy;
  }
}

function sortKeys(keys: string[]): string[] {
  // Fast path: code unit order equals code point order when no key has a surrogate.
  const hasSurrogate = keys.some((k) => /[\ud800-\udfff]/.test(k));
  return hasSurrogate ? keys.sort(compareCodePoints) : keys.sort();
}

function encode(value: unknown, out: string[]): void {
  if (value === null) {
    out.push("null");
    return;
  }
  switch (typeof value) {
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "number":
      out.push(encodeNumber(value));
      return;
    case "string":
      // JSON.stringify escapes `"`, `\` and U+0000–U+001F (short forms, else lower-case \u00xx) and
      // leaves everything else, including non-ASCII, as-is — exactly canonical JSON's string form.
      out.push(JSON.stringify(value));
      return;
    case "object":
      break;
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
  if (Array.isArray(value)) {
    out.push("[");
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(",");
      const item: unknown = value[i];
      if (item === undefined) throw new TypeError("canonical JSON cannot encode undefined in an array");
      encode(item, out);
    }
    out.push("]");
    return;
  }
  const obj = value as Record<string, unknown>;
  // Like JSON, keys whose value is undefined are absent.
  const keys = sortKeys(Object.keys(obj).filter((k) => obj[k] !== undefined));
  out.push("{");
  keys.forEach((k, i) => {
    if (i > 0) out.push(",");
    out.push(JSON.stringify(k), ":");
    encode(obj[k], out);
  });
  out.push("}");
}

/** Canonical JSON text of `value`. Throws TypeError on values JSON/Matrix cannot represent. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  encode(value, out);
  return out.join("");
}

/** Size in bytes of `value` as canonical JSON (UTF-8). */
export function canonicalJsonBytes(value: unknown): number {
  return Buffer.byteLength(canonicalJson(value), "utf8");
}

/** Bytes one string occupies as a canonical JSON string literal, quotes included. */
export function jsonStringBytes(s: string): number {
  // Printable ASCII without `"` or `\` is copied verbatim: the common case for server names.
  if (/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(s)) return s.length + 2;
  return Buffer.byteLength(JSON.stringify(s), "utf8");
}
