// The one thing a device Tyr does not trust yet may ask in an encrypted management room: to
// confirm (or cancel) the emoji verification it is itself running with Tyr. The SAS match is the
// proof, so the answer is tied to that flow and that device (pure parsing here; feature.ts checks
// the flow).

export interface OwnVerificationCommand {
  action: "confirm" | "cancel";
  /** The flow ID the sender named, if any. */
  flow: string | undefined;
}

/** `<prefix> verify confirm|cancel [flow]`, exactly; anything else is not this command. */
export function ownVerificationCommand(body: unknown, prefix: string): OwnVerificationCommand | undefined {
  if (typeof body !== "string") return undefined;
  const words = body.trim().split(/\s+/);
  const [p, verb, action, flow, ...rest] = words;
  if (p !== prefix || verb?.toLowerCase() !== "verify" || rest.length > 0) return undefined;
  const a = action?.toLowerCase();
  if (a !== "confirm" && a !== "cancel") return undefined;
  return { action: a, flow };
}
