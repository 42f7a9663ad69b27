// Crash-safe small-file persistence: write a temp file, fsync, then rename over the target, so a
// crash leaves either the old or the new content, never a torn file.
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
  chmodSync,
} from "node:fs";
import { dirname } from "node:path";

export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: { secret?: boolean } = {},
): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const mode = opts.secret ? 0o600 : 0o644;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // openSync's mode is filtered by the umask; secrets must be 0600 whatever the umask says.
  if (opts.secret) chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Parsed JSON, `undefined` when the file does not exist; throws on unreadable or corrupt files. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  return JSON.parse(text);
}
