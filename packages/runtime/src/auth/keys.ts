/**
 * Ed25519 session keys (auth spec §1.2): a 32-byte seed, base64url without padding, whose public key
 * is the session key. Ed25519 always signs the 32-byte SHA-256 digest of the message, never the message.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from "node:crypto";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A malformed seed, key or signature was given. */
export class SessionKeyError extends Error {
  override readonly name = "SessionKeyError";
}

function decodeBase64Url(value: string, bytes: number, what: string): Buffer {
  if (typeof value !== "string" || !BASE64URL.test(value)) {
    throw new SessionKeyError(`${what} must be base64url without padding`);
  }
  const decoded = Buffer.from(value, "base64url");
  if (decoded.length !== bytes)
    throw new SessionKeyError(`${what} must decode to ${bytes} bytes, got ${decoded.length}`);
  return decoded;
}

const privateKeys = new Map<string, KeyObject>();
const publicKeys = new Map<string, KeyObject>();
const KEY_CACHE_LIMIT = 10_000;

function remember<T>(cache: Map<string, T>, key: string, value: T): T {
  if (cache.size >= KEY_CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
  return value;
}

/** The private key object of a seed (cached: key import is the expensive part of signing). */
export function privateKeyFromSeed(seed: string): KeyObject {
  const cached = privateKeys.get(seed);
  if (cached) return cached;
  const raw = decodeBase64Url(seed, 32, "session key seed");
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, raw]),
    format: "der",
    type: "pkcs8",
  });
  return remember(privateKeys, seed, key);
}

/** The public key object of a session key (cached). */
export function publicKeyFromSessionKey(sessionKey: string): KeyObject {
  const cached = publicKeys.get(sessionKey);
  if (cached) return cached;
  const raw = decodeBase64Url(sessionKey, 32, "session key");
  const key = createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, raw]),
    format: "der",
    type: "spki",
  });
  return remember(publicKeys, sessionKey, key);
}

/** A fresh random 32-byte seed, base64url without padding. */
export function generateSessionSeed(): string {
  return randomBytes(32).toString("base64url");
}

/** The session key (raw Ed25519 public key, base64url) of a seed. */
export function sessionKeyFromSeed(seed: string): string {
  const jwk = createPublicKey(privateKeyFromSeed(seed)).export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new SessionKeyError("could not derive the session key");
  return jwk.x;
}

/** SHA-256 of bytes or UTF-8 text. */
export function sha256(data: string | Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

/** Signs the SHA-256 digest `digest` (32 bytes) with the seed; base64url signature. */
export function signDigest(seed: string, digest: Uint8Array): string {
  return sign(null, digest, privateKeyFromSeed(seed)).toString("base64url");
}

/** Verifies a base64url signature over a 32-byte digest; any malformed input is `false`. */
export function verifyDigest(sessionKey: string, digest: Uint8Array, signature: string): boolean {
  try {
    const sig = decodeBase64Url(signature, 64, "signature");
    return verify(null, digest, publicKeyFromSessionKey(sessionKey), sig);
  } catch {
    return false;
  }
}
