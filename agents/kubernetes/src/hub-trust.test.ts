import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  announceNextKey,
  CREDENTIALS_REQUEST,
  CREDENTIALS_RESPONSE,
  DESIRED_STATE,
  type DesiredStateInit,
  generateSigningKey,
  initialKeySet,
  KeyRing,
  open,
  publicKeyToPem,
  retireOldKeys,
  SourceType,
  seal,
  switchSigningKey,
} from "@flotilla/proto";
import { nkeys } from "nats";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { formatCreds, renewCreds } from "./creds.js";
import { ConfigMapHubKeysStore, HUB_KEYS_CONFIGMAP, HubTrust, SAVED_HUB_KEYS_FILE } from "./hub-trust.js";
import { FakeKube } from "./testing/fake-kube.js";

const log = pino({ level: "silent" });
const oldKey = generateSigningKey();
const newKey = generateSigningKey();
const agentKey = generateSigningKey();
const pem = (k: typeof oldKey) => publicKeyToPem(k.publicKey);

const steady = initialKeySet(pem(oldKey));
const announced = announceNextKey(steady, pem(newKey));
const switched = switchSigningKey(announced, newKey.keyId);
const retired = retireOldKeys(switched);

const desired: DesiredStateInit = {
  cluster: "a",
  app: "web",
  generation: 3,
  rolloutId: "r-1",
  environment: "prod",
  source: {
    repoUrl: "https://git.example/team/web.git",
    revision: "0123456789abcdef0123456789abcdef01234567",
    branch: "main",
    path: "overlays/prod",
    type: SourceType.SOURCE_TYPE_KUSTOMIZE,
  },
  targetNamespace: "web",
  issuedAtMs: 1_760_000_000_000,
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function cacheFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-hub-trust-"));
  dirs.push(dir);
  return join(dir, SAVED_HUB_KEYS_FILE);
}

describe("agent hub trust", () => {
  it("walks a rotation, keeps the set across a restart and refuses the retired key after it", () => {
    const path = cacheFile();
    const ring = new KeyRing();
    const trust = new HubTrust(ring, path, pem(oldKey), log);
    expect(ring.keyIds()).toEqual([oldKey.keyId]);

    // The next key is learnt only from a set signed by a key already trusted.
    expect(trust.offer(announced, newKey.keyId)).toBe(false);
    expect(ring.keyIds()).toEqual([oldKey.keyId]);
    expect(trust.offer(announced, oldKey.keyId)).toBe(true);
    expect(ring.keyIds().sort()).toEqual([oldKey.keyId, newKey.keyId].sort());
    expect(open(DESIRED_STATE, seal(DESIRED_STATE, desired, newKey), ring).keyId).toBe(newKey.keyId);

    // A restart keeps the next key: the saved set wins over the bundle's single key.
    const ring2 = new KeyRing();
    const restarted = new HubTrust(ring2, path, pem(oldKey), log);
    expect(restarted.held.version).toBe(announced.version);
    expect(ring2.keyIds().sort()).toEqual([oldKey.keyId, newKey.keyId].sort());

    expect(restarted.offer(switched, newKey.keyId)).toBe(true);
    expect(restarted.offer(retired, newKey.keyId)).toBe(true);
    expect(ring2.keyIds()).toEqual([newKey.keyId]);
    expect(() => open(DESIRED_STATE, seal(DESIRED_STATE, desired, oldKey), ring2)).toThrow(/not trusted/);

    // A replay of the older set, or one signed by the retired key, brings nothing back.
    expect(restarted.offer(announced, newKey.keyId)).toBe(false);
    expect(restarted.offer({ ...announced, version: 99 }, oldKey.keyId)).toBe(false);
    expect(ring2.keyIds()).toEqual([newKey.keyId]);

    // And after another restart the retired key is still not trusted, though the bundle names it.
    const ring3 = new KeyRing();
    new HubTrust(ring3, path, pem(oldKey), log);
    expect(ring3.keyIds()).toEqual([newKey.keyId]);
    expect(JSON.parse(readFileSync(path, "utf8")).set.version).toBe(retired.version);

    // A bundle key it has never heard of was given by hand: it replaces the saved set.
    const byHand = generateSigningKey();
    const ring4 = new KeyRing();
    new HubTrust(ring4, path, pem(byHand), log);
    expect(ring4.keyIds()).toEqual([byHand.keyId]);
  });

  it("keeps the held set in a ConfigMap, so a rescheduled agent with an empty cache refuses the retired key", async () => {
    const kube = new FakeKube();
    const store = new ConfigMapHubKeysStore(kube, "flotilla-system");
    const trust = await HubTrust.open(new KeyRing(), cacheFile(), pem(oldKey), log, store);
    expect(trust.offer(announced, oldKey.keyId)).toBe(true);
    expect(trust.offer(switched, newKey.keyId)).toBe(true);
    expect(trust.offer(retired, newKey.keyId)).toBe(true);
    await trust.flush();
    expect(kube.has({ group: "", kind: "ConfigMap", namespace: "flotilla-system", name: HUB_KEYS_CONFIGMAP })).toBe(
      true,
    );

    // A new pod: a fresh, empty cache directory, the same bundle naming the retired key.
    const ring = new KeyRing();
    const rescheduled = await HubTrust.open(ring, cacheFile(), pem(oldKey), log, store);
    expect(rescheduled.held.version).toBe(retired.version);
    expect(ring.keyIds()).toEqual([newKey.keyId]);
    expect(() => open(DESIRED_STATE, seal(DESIRED_STATE, desired, oldKey), ring)).toThrow(/not trusted/);
  });

  it("copies a set from the cache file into the cluster when the cluster holds none", async () => {
    const path = cacheFile();
    const first = new HubTrust(new KeyRing(), path, pem(oldKey), log);
    first.offer(announced, oldKey.keyId);
    const kube = new FakeKube();
    const store = new ConfigMapHubKeysStore(kube, "flotilla-system");
    await HubTrust.open(new KeyRing(), path, pem(oldKey), log, store);
    expect((await store.load())?.set.version).toBe(announced.version);
  });

  it("refuses to start when the cluster's saved set cannot be read, rather than trust the bundle's key", async () => {
    const kube = new FakeKube();
    kube.put({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: HUB_KEYS_CONFIGMAP, namespace: "flotilla-system" },
      data: { [SAVED_HUB_KEYS_FILE]: "{not json" },
    });
    const store = new ConfigMapHubKeysStore(kube, "flotilla-system");
    await expect(HubTrust.open(new KeyRing(), cacheFile(), pem(oldKey), log, store)).rejects.toThrow(
      /flotilla-system\/flotilla-hub-keys .*delete it/,
    );
  });

  it("falls back to the bundle's key when the saved set is unreadable", () => {
    const path = cacheFile();
    writeFileSync(path, "{not json");
    const ring = new KeyRing();
    new HubTrust(ring, path, pem(oldKey), log);
    expect(ring.keyIds()).toEqual([oldKey.keyId]);
  });

  it("learns the set from a credentials answer signed by a trusted key", async () => {
    const ring = new KeyRing();
    const trust = new HubTrust(ring, cacheFile(), pem(oldKey), log);
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const jwt = (sub: string) => `e30.${Buffer.from(JSON.stringify({ sub, iat: 1, exp: 9 })).toString("base64url")}.x`;
    const request = (signer: typeof oldKey) => async (_subject: string, data: Uint8Array) => {
      const req = open(CREDENTIALS_REQUEST, data, new KeyRing([agentKey.publicKey])).message;
      return seal(CREDENTIALS_RESPONSE, { cluster: "a", jwt: jwt(req.userPublicKey), hubKeys: announced }, signer);
    };
    const current = formatCreds({ jwt: jwt(user.getPublicKey()), seed });
    const base = { cluster: "a", current, agentKey, hubKeys: ring, onHubKeys: trust.offer.bind(trust) };

    // Signed by a key the agent does not trust: the whole answer is refused, the set with it.
    await expect(renewCreds({ ...base, request: request(newKey) })).rejects.toThrow(/not trusted/);
    expect(ring.keyIds()).toEqual([oldKey.keyId]);

    await renewCreds({ ...base, request: request(oldKey) });
    expect(trust.held.version).toBe(announced.version);
    expect(ring.keyIds().sort()).toEqual([oldKey.keyId, newKey.keyId].sort());
  });
});
