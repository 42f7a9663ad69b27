// Unpadded base64 (spec appendix "Unpadded Base64"): what Matrix uses for keys, signatures and
// hashes. Node's own base64 decoder skips characters it does not know, so a malformed signature
// would decode to *some* bytes; decoding here is strict and says why it refuses.

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE = /^[A-Za-z0-9\-_]*={0,2}$/;

/** Standard alphabet, no `=` padding: the form Matrix sends. */
export function encodeUnpaddedBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64").replace(/=+$/, "");
}

/**
 * Decodes unpadded (or padded, which the spec tells receivers to accept) base64 in the standard or
 * URL-safe alphabet. Returns undefined for anything else: stray characters, a length no encoder
 * produces, or padding in the wrong place.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  const urlSafe = !STANDARD.test(text);
  if (urlSafe && !URL_SAFE.test(text)) return undefined;
  const body = text.replace(/=+$/, "");
  if (body.length % 4 === 1) return undefined;
  if (text.length !== body.length && text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(body, urlSafe ? "base64url" : "base64");
  // Canonical check: trailing bits that the last character carries beyond the data must be zero,
  // otherwise two spellings would decode to the same bytes.
  if (encodeUnpaddedBase64(bytes) !== (urlSafe ? body.replace(/-/g, "+").replace(/_/g, "/") : body))
    return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
