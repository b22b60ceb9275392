/**
 * The signing keys of the auth callout: an nkeys `KeyPair` that `@nats-io/jwt` signs with, whose keys
 * are derived once and whose Ed25519 runs in node:crypto (OpenSSL) instead of tweetnacl. The nkeys
 * pair re-derives its key pair from the seed (a pure-JS scalar multiplication) on every
 * `getPublicKey()`, `getPrivateKey()` and `sign()`, and `encodeUser` calls those several times per
 * JWT: ≈ 20 ms per JWT, against ≈ 0.1 ms here (see design/benchmarks.md). Ed25519 is deterministic,
 * so both produce the same signatures.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import type { KeyPair } from "@nats-io/nkeys";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 without padding, as nkeys encodes seeds. */
function base32Decode(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const index = BASE32_ALPHABET.indexOf(char);
    if (index < 0) throw new Error(`not base32: '${char}'`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** A signing `KeyPair` with its keys derived once and Ed25519 done by node:crypto. */
export class CachedNodeKeyPair implements KeyPair {
  private readonly publicKey: string;
  private readonly privateKey: Uint8Array;
  private readonly seed: Uint8Array;
  private readonly signingKey: KeyObject;
  private readonly verifyingKey: KeyObject;

  constructor(pair: KeyPair) {
    this.seed = pair.getSeed();
    this.publicKey = pair.getPublicKey();
    this.privateKey = pair.getPrivateKey();
    // An nkeys seed is base32 of: 2 prefix bytes, the 32-byte Ed25519 seed, a 2-byte CRC.
    const raw = base32Decode(new TextDecoder().decode(this.seed)).subarray(2, 34);
    this.signingKey = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, raw]),
      format: "der",
      type: "pkcs8",
    });
    this.verifyingKey = createPublicKey(this.signingKey);
  }

  getPublicKey(): string {
    return this.publicKey;
  }

  getPrivateKey(): Uint8Array {
    return this.privateKey;
  }

  getSeed(): Uint8Array {
    return this.seed;
  }

  sign(input: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, input, this.signingKey));
  }

  verify(input: Uint8Array, sig: Uint8Array): boolean {
    return verify(null, input, this.verifyingKey, sig);
  }

  clear(): void {
    // The key objects are owned by OpenSSL; nothing is held in JS buffers worth wiping.
  }

  seal(): Uint8Array {
    throw new Error("only curve keys can seal");
  }

  open(): Uint8Array | null {
    throw new Error("only curve keys can open");
  }
}
