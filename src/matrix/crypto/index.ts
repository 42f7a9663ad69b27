// Tyr's end-to-end-encryption engine. See engine.ts for the life cycle and the sync-loop contract.
export { CryptoEngine, isVerificationEvent, MEGOLM_ALGORITHM } from "./engine.ts";
export type {
  CryptoEngineOptions,
  DecryptedEvent,
  DecryptFailureCode,
  DecryptionInfo,
  DecryptResult,
  KeySharingPolicy,
  LateDecryptionHandler,
  ReceiveSyncResult,
  ShieldReason,
  ToDeviceEvent,
} from "./engine.ts";
export { CryptoStore } from "./store.ts";
export { CryptoStoreError, readStoredIdentity } from "./store-files.ts";
export type { CryptoStoreErrorKind, StoredIdentity } from "./store-files.ts";
export { readRecoveryKeyFile, RECOVERY_KEY_FILE, SecuritySetupError, setUpSecurity } from "./bootstrap.ts";
export type { SecurityOptions, SecurityResult } from "./bootstrap.ts";
export { VerificationManager } from "./verification.ts";
export type { VerificationOptions, VerificationState, VerificationView } from "./verification.ts";
export {
  acceptChangedIdentity,
  checkSender,
  deleteOwnDevice,
  deviceTrust,
  getCryptoStatus,
  listDevices,
  listOwnDevices,
  setDeviceBlocked,
  userTrust,
} from "./trust.ts";
export type { CommandTrustPolicy, CryptoStatus, DeviceTrust, OwnDevice, TrustDecision } from "./trust.ts";
export { UiaRequiredError } from "./requests.ts";
export type { Logger, RawEvent, RequestFn } from "./types.ts";
