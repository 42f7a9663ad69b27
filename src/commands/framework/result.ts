// The result shape every parser in the framework returns.

export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      /** A complete sentence for the user, e.g. `expected a user ID, got "bob": …`. */
      readonly error: string;
      /** Only the specific problem, when there is one beyond "not that kind of thing"
       *  (`it has no server part`). The registry builds its own sentence around it. */
      readonly detail?: string;
    };

export function ok<T>(value: T): ParseResult<T> {
  return { ok: true, value };
}

export function err(error: string, detail?: string): { ok: false; error: string; detail?: string } {
  return detail === undefined ? { ok: false, error } : { ok: false, error, detail };
}
