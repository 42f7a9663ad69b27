/**
 * A request cannot be done for a reason the moderator can act on. Lives here, not in the command
 * framework, so lower layers (the crypto engine's verification and trust calls) can throw it too.
 *
 * A command cannot do what was asked for a reason the moderator can act on: encryption is
 * switched off, the list does not exist, Tyr lacks a permission. Throw it with a message that says
 * what to do next; the handler answers with it and logs it at info without a stack, because
 * nothing is wrong with Tyr. Anything else a command throws is treated as a fault.
 */
export class UserFacingError extends Error {
  override readonly name = "UserFacingError";
}
