import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ControlPlaneStore, openStore } from "../store/store.js";
import { InvalidPasswordPolicyError } from "./errors.js";
import { createLocalUser, setLocalPassword } from "./local-accounts.js";
import {
  checkPasswordPolicy,
  hashPassword,
  localLogin,
  passwordPolicy,
  SCRYPT_COST,
  verifyPassword,
} from "./passwords.js";

const T0 = new Date("2030-01-01T00:00:00.000Z");
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);
const PASSWORD = "correct horse battery";

let dir: string;
let store: ControlPlaneStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-passwords-"));
  store = openStore(join(dir, "trellis.sqlite"), { clock: () => T0 });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("password hashing", () => {
  it("hashes with scrypt and a random salt, and verifies in constant time", async () => {
    const a = await hashPassword(PASSWORD);
    const b = await hashPassword(PASSWORD);
    expect(a.algorithm).toBe("scrypt");
    expect(a.params).toMatchObject({ v: 1, ...SCRYPT_COST });
    expect(Buffer.from(a.params.salt, "base64url")).toHaveLength(16);
    expect(Buffer.from(a.hash, "base64url")).toHaveLength(32);
    expect(a.params.salt).not.toBe(b.params.salt);
    expect(a.hash).not.toBe(b.hash);
    expect(await verifyPassword(PASSWORD, a)).toBe(true);
    expect(await verifyPassword(`${PASSWORD}!`, a)).toBe(false);
    expect(await verifyPassword(PASSWORD, { ...a, hash: a.hash.slice(0, 20) })).toBe(false);
  });
});

describe("password policy", () => {
  it("requires 12 characters by default", () => {
    const refused = checkPasswordPolicy("elevenchars");
    expect(refused.take()).toMatchObject({ reason: "password_too_short", limit: 12 });
    expect(refused.isErr() && refused.error.message).toBe("Password must be at least 12 characters long");
    expect(checkPasswordPolicy("twelve chars").ok).toBe(true);
    // Code points, not UTF-16 units.
    expect(checkPasswordPolicy("🔑".repeat(11)).ok).toBe(false);
  });

  it("is configurable down to a floor of 8", () => {
    expect(checkPasswordPolicy("eightchr", passwordPolicy({ minLength: 8 })).ok).toBe(true);
    expect(() => passwordPolicy({ minLength: 7 })).toThrow(InvalidPasswordPolicyError);
  });

  it("is applied when creating local users and setting passwords", async () => {
    expect((await createLocalUser(store, { username: "ada", password: "short" })).take()).toMatchObject({
      reason: "password_too_short",
    });
    expect(store.identities.findLocal("ada")).toBeUndefined();
    const ada = (await createLocalUser(store, { username: "ada", password: PASSWORD })).unwrap();
    const identity = store.identities.findLocalByUser(ada.userId);
    expect(identity?.subject).toBe("ada");
    expect((await createLocalUser(store, { username: "ada", password: PASSWORD })).take()).toMatchObject({
      reason: "username_taken",
    });
    const identityId = identity?.identityId ?? "";
    expect((await setLocalPassword(store, identityId, "short")).take()).toMatchObject({
      reason: "password_too_short",
    });
    (await setLocalPassword(store, identityId, "another long password")).unwrap();
    expect((await localLogin(store, "ada", "another long password", T0)).ok).toBe(true);
  });
});

describe("localLogin", () => {
  beforeEach(async () => {
    (await createLocalUser(store, { username: "ada", password: PASSWORD })).unwrap();
  });

  it("logs in with the right password and records the login", async () => {
    const user = (await localLogin(store, "ada", PASSWORD, minutes(1))).unwrap();
    expect(user.name).toBe("ada");
    expect(store.identities.findLocal("ada")?.lastLoginAt).toBe(minutes(1).toISOString());
  });

  it("does not reveal whether the username or the password was wrong", async () => {
    const unknown = await localLogin(store, "nobody", PASSWORD, T0);
    const wrong = await localLogin(store, "ada", "wrong password!", T0);
    expect(unknown.take()).toMatchObject({ reason: "invalid_credentials" });
    expect(wrong.take()).toMatchObject({ reason: "invalid_credentials" });
    expect(unknown.isErr() && unknown.error.message).toBe(wrong.isErr() && wrong.error.message);
  });

  it("locks after 5 consecutive failures for 15 minutes, then unlocks", async () => {
    for (let i = 0; i < 5; i++) {
      expect((await localLogin(store, "ada", "wrong password!", minutes(0))).take()).toMatchObject({
        reason: "invalid_credentials",
      });
    }
    // Locked: even the right password is refused.
    expect((await localLogin(store, "ada", PASSWORD, minutes(1))).take()).toMatchObject({
      reason: "account_locked",
    });
    expect((await localLogin(store, "ada", PASSWORD, minutes(14.9))).take()).toMatchObject({
      reason: "account_locked",
    });
    // After 15 minutes the lock has run out.
    expect((await localLogin(store, "ada", PASSWORD, minutes(15))).ok).toBe(true);
    expect(store.localCredentials.get(store.identities.findLocal("ada")?.identityId ?? "")).toMatchObject({
      failedLoginCount: 0,
      lockedUntil: null,
    });
  });

  it("starts a fresh count once a lock has run out", async () => {
    for (let i = 0; i < 5; i++) await localLogin(store, "ada", "wrong password!", minutes(0));
    // One failure after the lock expired does not re-lock.
    expect((await localLogin(store, "ada", "wrong password!", minutes(16))).take()).toMatchObject({
      reason: "invalid_credentials",
    });
    expect((await localLogin(store, "ada", PASSWORD, minutes(16))).ok).toBe(true);
  });

  it("resets the counter on success", async () => {
    for (let i = 0; i < 4; i++) await localLogin(store, "ada", "wrong password!", minutes(0));
    expect((await localLogin(store, "ada", PASSWORD, minutes(0))).ok).toBe(true);
    for (let i = 0; i < 4; i++) await localLogin(store, "ada", "wrong password!", minutes(0));
    expect((await localLogin(store, "ada", PASSWORD, minutes(0))).ok).toBe(true);
  });

  it("refuses inactive users with user_inactive (after checking the password)", async () => {
    const identity = store.identities.findLocal("ada");
    store.users.setActive(identity?.userId ?? "", false).unwrap();
    expect((await localLogin(store, "ada", PASSWORD, T0)).take()).toMatchObject({ reason: "user_inactive" });
    expect((await localLogin(store, "ada", "wrong password!", T0)).take()).toMatchObject({
      reason: "invalid_credentials",
    });
  });
});
