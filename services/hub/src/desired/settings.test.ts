import { appSpecSchema } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import type { AppRecord, RepoRecord } from "../store.js";
import { MASKED, settingsDiff } from "./diff.js";
import { desiredFingerprint, effectiveSettings, resolveDesired, settingsDigest, settingsOf } from "./settings.js";

const REPO: RepoRecord = {
  name: "web",
  team: "shop",
  url: "https://git.example/web.git",
  branches: { prod: "main", dev: "develop" },
  hasCredentials: false,
  hasWebhookSecret: false,
};

const APP: AppRecord = {
  name: "web",
  ...appSpecSchema.parse({
    repo: "web",
    path: "charts/web",
    source: "helm",
    namespace: "shop",
    helm: { set: { replicaCount: "1", "db.password": "hunter2" }, valueFiles: ["values-base.yaml"] },
    overrides: [
      { clusterSelector: { region: "eu" }, helm: { set: { replicaCount: "3" }, valueFiles: ["values-eu.yaml"] } },
      { clusterSelector: { region: "eu", tier: "canary" }, helm: { set: { replicaCount: "2" } } },
    ],
  }),
};

describe("settings snapshots", () => {
  it("digest changes with anything the desired state carries, and per environment only with its branch", () => {
    const prod = settingsOf(APP, REPO, "prod");
    expect(settingsDigest(settingsOf(APP, REPO, "prod"))).toBe(settingsDigest(prod));
    expect(settingsDigest(settingsOf(APP, REPO, "dev"))).not.toBe(settingsDigest(prod));
    expect(settingsDigest(settingsOf({ ...APP, prune: true }, REPO, "prod"))).not.toBe(settingsDigest(prod));
    expect(settingsDigest(settingsOf(APP, { ...REPO, branches: { ...REPO.branches, dev: "next" } }, "prod"))).toBe(
      settingsDigest(prod),
    );
  });

  it("carries health rules and the app's deadline into the snapshot, the desired state and its fingerprint", () => {
    const rule = { group: "example.com", kind: "Widget", current: "status.ready == true" };
    const withRules = { ...APP, healthChecks: [rule], progressDeadlineSeconds: 900 };
    const plain = settingsOf(APP, REPO, "prod");
    const ruled = settingsOf(withRules, REPO, "prod");
    expect(settingsDigest(ruled)).not.toBe(settingsDigest(plain));
    const place = { app: "web", cluster: "c", labels: { env: "prod" }, environment: "prod", revision: "r" };
    const d = resolveDesired(ruled, place);
    expect(d.healthRules).toEqual([
      {
        group: "example.com",
        kind: "Widget",
        current: "status.ready == true",
        failed: "",
        inProgress: "",
        deadlineSeconds: 0,
      },
    ]);
    expect(d.progressDeadlineSeconds).toBe(900);
    expect(desiredFingerprint(d)).not.toBe(desiredFingerprint(resolveDesired(plain, place)));
    // Without rules the fingerprint is what it was before rules existed: no re-publish on upgrade.
    const before = resolveDesired(plain, place);
    expect(desiredFingerprint(before)).toBe(
      desiredFingerprint({ ...before, healthRules: [], progressDeadlineSeconds: 0 }),
    );
  });

  it("carries the team's policy and the adopt choice into the desired state and its fingerprint", () => {
    const place = { app: "web", cluster: "c", labels: { env: "prod" }, environment: "prod", revision: "r" };
    const plain = resolveDesired(settingsOf(APP, REPO, "prod"), place);
    // A team without a policy of its own: its own name space, no cluster-scoped kind.
    expect(plain.policy).toEqual({ team: "shop", namespaces: ["shop", "shop-*"], clusterResources: [] });
    expect(plain.adopt).toBe(false);
    const team = { name: "shop", policy: { namespaces: ["shop", "shop-*", "web"], clusterResources: [] } };
    const widened = resolveDesired(settingsOf(APP, REPO, "prod", team), place);
    expect(widened.policy?.namespaces).toEqual(["shop", "shop-*", "web"]);
    expect(desiredFingerprint(widened)).not.toBe(desiredFingerprint(plain));
    const adopting = resolveDesired(settingsOf({ ...APP, adopt: true }, REPO, "prod"), place);
    expect(adopting.adopt).toBe(true);
    expect(desiredFingerprint(adopting)).not.toBe(desiredFingerprint(plain));
    expect(settingsDigest(settingsOf({ ...APP, adopt: true }, REPO, "prod"))).not.toBe(
      settingsDigest(settingsOf(APP, REPO, "prod")),
    );
  });

  it.each<[labels: Record<string, string>, replicas: string, valueFiles: string[]]>([
    [{ env: "prod" }, "1", ["values-base.yaml"]],
    [{ env: "prod", region: "eu" }, "3", ["values-base.yaml", "values-eu.yaml"]],
    [{ env: "prod", region: "eu", tier: "canary" }, "2", ["values-base.yaml", "values-eu.yaml"]],
    [{ env: "prod", region: "us", tier: "canary" }, "1", ["values-base.yaml"]],
  ])("overrides apply in order on a cluster labelled %j", (labels, replicas, valueFiles) => {
    const s = settingsOf(APP, REPO, "prod");
    expect(effectiveSettings(s, labels).helm).toMatchObject({ set: { replicaCount: replicas }, valueFiles });
    const d = resolveDesired(s, { app: "web", cluster: "c", labels, environment: "prod", revision: "r" });
    expect(d.source).toMatchObject({ branch: "main", path: "charts/web", revision: "r", helm: { valueFiles } });
    expect(d.source?.helm?.set?.replicaCount).toBe(replicas);
  });

  it("refuses overrides it cannot apply, naming the entry", () => {
    const bad = appSpecSchema.safeParse({
      repo: "web",
      namespace: "shop",
      source: "kustomize",
      overrides: [
        { clusterSelector: { region: "eu" }, path: "overlays/eu" },
        { clusterSelector: { region: "us" }, helm: { set: { a: "b" } } },
      ],
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join("."))).toEqual(["overrides.1.helm"]);
    const empty = appSpecSchema.safeParse({
      repo: "web",
      namespace: "shop",
      overrides: [{ clusterSelector: {}, path: "x" }],
    });
    expect(empty.error?.issues.map((i) => i.path.join("."))).toEqual(["overrides.0.clusterSelector"]);
  });
});

describe("settingsDiff", () => {
  it("lists changed fields with secret-looking values masked", () => {
    const before = settingsOf(APP, REPO, "prod");
    const after = settingsOf(
      {
        ...APP,
        namespace: "shop-2",
        helm: { set: { replicaCount: "2", "db.password": "swordfish" }, valueFiles: ["values-base.yaml"] },
      },
      REPO,
      "prod",
    );
    expect(settingsDiff(before, after)).toEqual([
      { path: "helm.set.db.password", from: MASKED, to: MASKED },
      { path: "helm.set.replicaCount", from: '"1"', to: '"2"' },
      { path: "namespace", from: '"shop"', to: '"shop-2"' },
    ]);
    expect(settingsDiff(before, before)).toEqual([]);
    expect(JSON.stringify(settingsDiff(undefined, after))).not.toContain("swordfish");
  });
});
