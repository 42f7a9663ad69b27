// Moved to src/util/canonicalJson.ts (federation signing shares it); still importable from here.
export {
  MAX_EVENT_BYTES,
  canonicalJson,
  canonicalJsonBytes,
  jsonStringBytes,
} from "../util/canonicalJson.ts";
