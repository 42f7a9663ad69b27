// Sizes as the homeserver counts them: UTF-8 bytes of the serialised JSON.

/** Serialised size of event content in UTF-8 bytes (modulo key order, which does not
 *  change the size). */
export function contentBytes(content: unknown): number {
  return Buffer.byteLength(JSON.stringify(content), "utf8");
}

/** Bytes a string adds once serialised as a JSON string value (without the quotes). */
export function jsonStringBytes(s: string): number {
  return Buffer.byteLength(JSON.stringify(s), "utf8") - 2;
}
