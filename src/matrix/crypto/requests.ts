// Turning crypto-wasm's outgoing requests into HTTP calls through the client's request function,
// and user-interactive auth (UIA) for the endpoints that need it.

import {
  KeysBackupRequest,
  KeysClaimRequest,
  KeysQueryRequest,
  KeysUploadRequest,
  RoomMessageRequest,
  SignatureUploadRequest,
  ToDeviceRequest,
  UploadSigningKeysRequest,
} from "@matrix-org/matrix-sdk-crypto-wasm";

import { errorMessage, isRecord } from "./types.ts";
import type { RequestFn } from "./types.ts";

export type AnyOutgoingRequest =
  | KeysUploadRequest
  | KeysQueryRequest
  | KeysClaimRequest
  | ToDeviceRequest
  | SignatureUploadRequest
  | RoomMessageRequest
  | KeysBackupRequest;

const enc = encodeURIComponent;

function parseBody(body: string): unknown {
  return JSON.parse(body) as unknown;
}

/** What an HTTP error looks like, whatever client produced it (bot-sdk MatrixError, raw response, …). */
export interface HttpErrorInfo {
  status: number | undefined;
  body: Record<string, unknown> | undefined;
  errcode: string | undefined;
}

export function httpErrorInfo(e: unknown): HttpErrorInfo {
  if (!isRecord(e) && !(e instanceof Error))
    return { status: undefined, body: undefined, errcode: undefined };
  const r = e as unknown as Record<string, unknown>;
  const response = isRecord(r["response"]) ? r["response"] : undefined;
  const statusRaw =
    r["statusCode"] ?? r["status"] ?? r["httpStatus"] ?? response?.["statusCode"] ?? response?.["status"];
  const status = typeof statusRaw === "number" ? statusRaw : undefined;
  let bodyRaw: unknown = r["body"] ?? r["data"] ?? response?.["body"] ?? response?.["data"];
  if (typeof bodyRaw === "string") {
    try {
      bodyRaw = JSON.parse(bodyRaw);
    } catch {
      bodyRaw = undefined;
    }
  }
  const body = isRecord(bodyRaw) ? bodyRaw : undefined;
  const errcodeRaw = body?.["errcode"] ?? r["errcode"];
  return { status, body, errcode: typeof errcodeRaw === "string" ? errcodeRaw : undefined };
}

/**
 * Send one outgoing request. Returns the JSON response as a string (what `markRequestAsSent`
 * wants). Throws the HTTP error as is.
 */
export async function sendOutgoingRequest(request: RequestFn, req: AnyOutgoingRequest): Promise<string> {
  let resp: unknown;
  if (req instanceof KeysUploadRequest) {
    resp = await request("POST", "/_matrix/client/v3/keys/upload", null, parseBody(req.body));
  } else if (req instanceof KeysQueryRequest) {
    resp = await request("POST", "/_matrix/client/v3/keys/query", null, parseBody(req.body));
  } else if (req instanceof KeysClaimRequest) {
    resp = await request("POST", "/_matrix/client/v3/keys/claim", null, parseBody(req.body));
  } else if (req instanceof SignatureUploadRequest) {
    resp = await request("POST", "/_matrix/client/v3/keys/signatures/upload", null, parseBody(req.body));
  } else if (req instanceof KeysBackupRequest) {
    resp = await request(
      "PUT",
      "/_matrix/client/v3/room_keys/keys",
      { version: req.version },
      parseBody(req.body),
    );
  } else if (req instanceof ToDeviceRequest) {
    resp = await request(
      "PUT",
      `/_matrix/client/v3/sendToDevice/${enc(req.event_type)}/${enc(req.txn_id)}`,
      null,
      parseBody(req.body),
    );
  } else if (req instanceof RoomMessageRequest) {
    resp = await request(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(req.room_id)}/send/${enc(req.event_type)}/${enc(req.txn_id)}`,
      null,
      parseBody(req.body),
    );
  } else {
    throw new Error(
      `unsupported outgoing crypto request ${String((req as { constructor?: { name?: string } }).constructor?.name)}`,
    );
  }
  return JSON.stringify(resp ?? {});
}

/** Credentials for user-interactive auth. */
export interface UiaAuth {
  userId: string;
  password?: string;
}

export class UiaRequiredError extends Error {
  readonly flows: string[][];
  constructor(message: string, flows: string[][]) {
    super(message);
    this.name = "UiaRequiredError";
    this.flows = flows;
  }
}

/**
 * POST/PUT `body` to `endpoint`, answering a user-interactive-auth challenge with the password
 * (`m.login.password`) or `m.login.dummy` when the server offers it.
 */
export async function requestWithUia(
  request: RequestFn,
  method: string,
  endpoint: string,
  body: Record<string, unknown>,
  auth: UiaAuth,
): Promise<unknown> {
  try {
    return await request(method, endpoint, null, body);
  } catch (e) {
    const info = httpErrorInfo(e);
    if (info.status !== 401 || info.errcode === "M_UNKNOWN_TOKEN" || info.errcode === "M_MISSING_TOKEN")
      throw e;
    // A client that drops the 401 body loses the flows; the password stage alone still works.
    const flowsRaw = Array.isArray(info.body?.["flows"])
      ? info.body["flows"]
      : [{ stages: ["m.login.password"] }];
    const flows: string[][] = flowsRaw
      .map((f: unknown) =>
        isRecord(f) && Array.isArray(f["stages"]) ? f["stages"].filter((s) => typeof s === "string") : [],
      )
      .filter((s) => s.length > 0);
    const session = typeof info.body?.["session"] === "string" ? info.body["session"] : undefined;
    const single = (stage: string): boolean => flows.some((f) => f.length === 1 && f[0] === stage);
    let authDict: Record<string, unknown>;
    if (single("m.login.dummy")) {
      authDict = { type: "m.login.dummy", ...(session !== undefined ? { session } : {}) };
    } else if (single("m.login.password")) {
      if (!auth.password) {
        throw new UiaRequiredError(
          `The homeserver asks for the bot's password to ${endpoint} (user-interactive auth). Configure the bot's password.`,
          flows,
        );
      }
      authDict = {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: auth.userId },
        password: auth.password,
        ...(session !== undefined ? { session } : {}),
      };
    } else {
      throw new UiaRequiredError(
        `The homeserver asks for interactive auth Tyr cannot do for ${endpoint} (flows: ${JSON.stringify(flows)}). ` +
          `Approve the request in your account management (e.g. MAS "reset cross-signing"), then restart Tyr.`,
        flows,
      );
    }
    try {
      return await request(method, endpoint, null, { ...body, auth: authDict });
    } catch (e2) {
      const i2 = httpErrorInfo(e2);
      if (i2.status === 401 || i2.errcode === "M_FORBIDDEN") {
        throw new UiaRequiredError(
          `The homeserver refused the bot's password for ${endpoint} (${errorMessage(e2)}). Check the configured password.`,
          flows,
        );
      }
      throw e2;
    }
  }
}

/** Upload cross-signing keys (needs UIA on most servers). */
export async function uploadSigningKeys(
  request: RequestFn,
  req: UploadSigningKeysRequest,
  auth: UiaAuth,
): Promise<void> {
  const body = parseBody(req.body);
  if (!isRecord(body)) throw new Error("UploadSigningKeysRequest body is not an object");
  await requestWithUia(request, "POST", "/_matrix/client/v3/keys/device_signing/upload", body, auth);
}
