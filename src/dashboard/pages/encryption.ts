// Encryption: Tyr's devices, cross-signing and verification state, recovery-key status: the
// `crypto status` reply.
import { fragmentHtml, h } from "../html.ts";
import { layout, type Viewer } from "../layout.ts";
import type { Fragment } from "../../format/fragment.ts";

export function encryptionPage(v: Viewer, status: Fragment | undefined): string {
  const body =
    status === undefined
      ? h`<p>Encryption is off in Tyr's config (<code>encryption.enabled</code>).</p>`
      : h`<section class="panel reply">${fragmentHtml(status)}</section>`;
  return layout(v, "Encryption", body);
}
