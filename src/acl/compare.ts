// Is a room's current m.room.server_acl already what we would send? Used to skip rooms.
//
// Reads content the way homeservers do (spec + Synapse): missing `allow`/`deny` mean [];
// `allow_ip_literals` missing or not a boolean means true. Entry order and duplicates do not
// change an ACL's meaning, so lists compare as sets. Entries compare exactly (letter case
// included): a false "different" only costs one redundant event, a false "equal" would leave a
// room unprotected. Content that is not well-formed (a list that is not an array of strings) is
// never equal to anything, so a malformed ACL always gets replaced.

interface ReadAcl {
  readonly allow: ReadonlySet<string>;
  readonly deny: ReadonlySet<string>;
  readonly allowIpLiterals: boolean;
}

function readList(v: unknown): ReadonlySet<string> | undefined {
  if (v === undefined) return new Set();
  if (!Array.isArray(v)) return undefined;
  const out = new Set<string>();
  for (const item of v as unknown[]) {
    if (typeof item !== "string") return undefined;
    out.add(item);
  }
  return out;
}

function readAcl(content: unknown): ReadAcl | undefined {
  if (content === null || typeof content !== "object" || Array.isArray(content)) return undefined;
  const c = content as Record<string, unknown>;
  const allow = readList(c["allow"]);
  const deny = readList(c["deny"]);
  if (allow === undefined || deny === undefined) return undefined;
  const ip = c["allow_ip_literals"];
  return { allow, deny, allowIpLiterals: typeof ip === "boolean" ? ip : true };
}

function setEquals(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** Order-insensitive equality of two m.room.server_acl contents (either may be untrusted JSON). */
export function aclEquals(a: unknown, b: unknown): boolean {
  const x = readAcl(a);
  const y = readAcl(b);
  if (x === undefined || y === undefined) return false;
  return x.allowIpLiterals === y.allowIpLiterals && setEquals(x.allow, y.allow) && setEquals(x.deny, y.deny);
}
