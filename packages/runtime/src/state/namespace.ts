/**
 * Where Trellis-managed state lives in the `trellis_state` bucket (runtime spec §5.5):
 *
 *     <ownerType>.<ownerId>.<contractId>.<store>.<key | "=value">
 *
 * `ownerType` is `user` or `device`; `ownerId` the user id or device instance id; `contractId` the
 * contract **lineage** id (not the digest, so state survives upgrades). Every component is encoded:
 * each UTF-8 byte outside `[A-Za-z0-9_/-]` becomes `=HH` (uppercase hex). `=value` — which no encoded
 * key can be, since a literal `=` is encoded as `=3D` — is the single entry of a value store.
 */

/** The bucket holding all app and device state. */
export const STATE_BUCKET = "trellis_state";

/** The last key component of a value store's single entry. */
export const VALUE_STORE_ENTRY = "=value";

/** Whose state: a user's (for an app contract) or a device's. */
export type StateOwnerType = "user" | "device";

/** The state of one store of one contract of one owner. */
export interface StateNamespace {
  /** `user` or `device`. */
  ownerType: StateOwnerType;
  /** User id or device instance id. */
  ownerId: string;
  /** Contract lineage id, e.g. `notes@v1`. */
  contractId: string;
  /** Store name as declared in the contract's `state`. */
  store: string;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const PLAIN_BYTE = /^[A-Za-z0-9_/-]$/;

/** Encodes one key component: bytes outside `[A-Za-z0-9_/-]` become `=HH`. */
export function encodeStateComponent(value: string): string {
  let out = "";
  for (const byte of encoder.encode(value)) {
    const char = String.fromCharCode(byte);
    out +=
      byte < 0x80 && PLAIN_BYTE.test(char) ? char : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Decodes one key component; `undefined` when it is not a valid encoding. */
export function decodeStateComponent(encoded: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const char = encoded.charAt(i);
    if (char === "=") {
      const hex = encoded.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (PLAIN_BYTE.test(char)) {
      bytes.push(char.charCodeAt(0));
    } else {
      return undefined;
    }
  }
  try {
    return strictDecoder.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

/** The subject-style prefix of a store's entries, without the trailing `.`. */
export function stateStorePrefix(ns: StateNamespace): string {
  return [ns.ownerType, ns.ownerId, ns.contractId, ns.store].map(encodeStateComponent).join(".");
}

/** The bucket key of one entry: a map store's `key`, or a value store's single entry when `key` is absent. */
export function stateEntryKey(ns: StateNamespace, key?: string): string {
  return `${stateStorePrefix(ns)}.${key === undefined ? VALUE_STORE_ENTRY : encodeStateComponent(key)}`;
}

/** The map key of a bucket key under `prefix` (from {@link stateStorePrefix}); `undefined` if it is not one. */
export function mapKeyOf(prefix: string, bucketKey: string): string | undefined {
  if (!bucketKey.startsWith(`${prefix}.`)) return undefined;
  const last = bucketKey.slice(prefix.length + 1);
  if (last === VALUE_STORE_ENTRY || last.includes(".")) return undefined;
  return decodeStateComponent(last);
}
