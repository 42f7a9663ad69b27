// Every built-in protection. Adding one = one new file in builtin/ plus one line here.
import { badNames } from "./builtin/bad-names.ts";
import { firstMessage } from "./builtin/first-message.ts";
import { flooding } from "./builtin/flooding.ts";
import { joinWave } from "./builtin/join-wave.ts";
import { mediaFilter } from "./builtin/media-filter.ts";
import { membershipChurn } from "./builtin/membership-churn.ts";
import { mentionSpam } from "./builtin/mention-spam.ts";
import { wordList } from "./builtin/word-list.ts";
import type { AnyProtection } from "./framework.ts";
import { withServerEnforcement } from "./enforce.ts";

export const BUILTIN_PROTECTIONS: readonly AnyProtection[] = [
  flooding,
  firstMessage,
  mediaFilter,
  mentionSpam,
  wordList,
  joinWave,
  membershipChurn,
  badNames,
].map(withServerEnforcement);
