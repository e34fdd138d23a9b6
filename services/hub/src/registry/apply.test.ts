import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { type ApplyCurrent, keepWriteOnly, parseApplyDocuments, planApply } from "./apply.js";

const FLEET = `
apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: payments }
---
apiVersion: flotilla.dev/v1
kind: Repo
metadata: { name: web }
spec:
  team: payments
  url: https://git.example/payments/web.git
  branches: { dev: develop, prod: main }
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: web-frontend }
spec:
  repo: web
  path: overlays/{env}
  source: kustomize
  namespace: web
---
apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: dev }
spec:
  policy: { waves: [] }
---
apiVersion: flotilla.dev/v1
kind: Cluster
metadata: { name: dev-1 }
spec:
  labels: { env: dev }
`;

const empty: ApplyCurrent = { spec: () => undefined, exists: () => false };

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error("expected a ValidationError");
}

describe("parseApplyDocuments", () => {
  it("validates and normalises every document, filling defaults", () => {
    const docs = parseApplyDocuments(FLEET);
    expect(docs.map((d) => `${d.index}:${d.kind}/${d.name}`)).toEqual([
      "1:Team/payments",
      "2:Repo/web",
      "3:App/web-frontend",
      "4:Environment/dev",
      "5:Cluster/dev-1",
    ]);
    const app = docs[2];
    expect(app?.kind === "App" && app.spec).toMatchObject({ prune: false, selfHeal: false, source: "kustomize" });
  });

  it.each([
    [
      "an unknown kind",
      "apiVersion: flotilla.dev/v1\nkind: Widget\nmetadata: { name: x }\n",
      "kind",
      /document 1 \(Widget "x"\)/,
    ],
    [
      "a wrong apiVersion",
      "apiVersion: v1\nkind: Team\nmetadata: { name: a }\n",
      "apiVersion",
      /document 1 \(Team "a"\)/,
    ],
    [
      "a bad name",
      "apiVersion: flotilla.dev/v1\nkind: Team\nmetadata: { name: Bad_Name }\n",
      "metadata.name",
      /DNS label/,
    ],
    [
      "a bad branch map",
      "apiVersion: flotilla.dev/v1\nkind: Repo\nmetadata: { name: web }\nspec: { team: t, url: 'https://g/x.git', branches: {} }\n",
      "spec.branches",
      /document 1 \(Repo "web"\)/,
    ],
    [
      "an unknown spec field",
      "apiVersion: flotilla.dev/v1\nkind: Team\nmetadata: { name: a }\nspec: { colour: red }\n",
      "spec",
      /colour/,
    ],
    [
      "a path escaping the repo",
      "apiVersion: flotilla.dev/v1\nkind: App\nmetadata: { name: a }\nspec: { repo: r, path: '../x', namespace: n }\n",
      "spec.path",
      /relative path/,
    ],
  ])("refuses %s, naming the document and field", (_what, text, field, message) => {
    const err = validationError(() => parseApplyDocuments(text));
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it("names the right document when a later one is bad", () => {
    const bad = `${FLEET}---\napiVersion: flotilla.dev/v1\nkind: App\nmetadata: { name: api }\nspec: { repo: web }\n`;
    const err = validationError(() => parseApplyDocuments(bad));
    expect(err.where).toBe('document 6 (App "api")');
    expect(err.field).toBe("spec.namespace");
  });

  it("validates an environment's rollout policy, naming the field, and fills its defaults", () => {
    const env = (policy: string) =>
      `apiVersion: flotilla.dev/v1\nkind: Environment\nmetadata: { name: prod }\nspec:\n  policy: ${policy}\n`;
    const bad = validationError(() =>
      parseApplyDocuments(env('{ waves: [{ name: canary, maxConcurrency: "120%" }] }')),
    );
    expect(bad.field).toBe("spec.policy.waves.0.maxConcurrency");
    expect(bad.where).toBe('document 1 (Environment "prod")');
    expect(validationError(() => parseApplyDocuments(env("{ bakeTime: 5 }"))).field).toBe("spec.policy");
    const [doc] = parseApplyDocuments(env("{ waves: [{ name: canary, selector: tier=canary }] }"));
    expect(doc?.spec).toMatchObject({
      policy: { autoRollback: true, offlineClusters: "block", waves: [{ name: "canary", selector: "tier=canary" }] },
    });
  });

  it("refuses the same object twice in one file", () => {
    const err = validationError(() => parseApplyDocuments(`${FLEET}---\n${FLEET.split("---")[0]}`));
    expect(err.message).toMatch(/appears twice/);
  });

  it("skips empty documents but keeps counting them", () => {
    const docs = parseApplyDocuments(`---\n---\napiVersion: flotilla.dev/v1\nkind: Team\nmetadata: { name: a }\n`);
    expect(docs).toHaveLength(1);
    expect(docs[0]?.index).toBe(2);
  });

  it("refuses YAML that does not parse", () => {
    expect(validationError(() => parseApplyDocuments("kind: [unclosed")).message).toMatch(/document 1.*not valid YAML/);
  });

  it("refuses YAML whose aliases cannot be resolved (no anchor, or an alias bomb) as bad input", () => {
    const team = "apiVersion: flotilla.dev/v1\nkind: Team\nmetadata: { name: a }\n";
    expect(validationError(() => parseApplyDocuments(`${team}---\nkind: *nope\n`)).message).toMatch(
      /document 2.*not valid YAML.*nope/,
    );
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (const n of ["b", "c", "d", "e"])
      bomb.push(
        `${n}: &${n} [${Array(10)
          .fill(`*${bomb.at(-1)?.[0]}`)
          .join(", ")}]`,
      );
    expect(validationError(() => parseApplyDocuments(bomb.join("\n"))).message).toMatch(/document 1.*not valid YAML/);
  });
});

describe("planApply", () => {
  it("creates everything in dependency order the first time", () => {
    const plan = planApply(parseApplyDocuments(FLEET), empty);
    expect(plan.map((c) => `${c.doc.kind}:${c.action}`)).toEqual([
      "Team:created",
      "Environment:created",
      "Cluster:created",
      "Repo:created",
      "App:created",
    ]);
  });

  it("reports every object unchanged when the registry already holds the same specs", () => {
    const docs = parseApplyDocuments(FLEET);
    const stored = new Map(docs.map((d) => [`${d.kind}/${d.name}`, JSON.parse(JSON.stringify(d.spec))]));
    const plan = planApply(docs, {
      spec: (kind, name) => stored.get(`${kind}/${name}`),
      exists: (kind, name) => stored.has(`${kind}/${name}`),
    });
    expect(plan.every((c) => c.action === "unchanged")).toBe(true);
  });

  it("reports a changed object configured", () => {
    const docs = parseApplyDocuments(FLEET);
    const stored = new Map(docs.map((d) => [`${d.kind}/${d.name}`, JSON.parse(JSON.stringify(d.spec))]));
    stored.set("Cluster/dev-1", { labels: { env: "prod" } });
    const plan = planApply(docs, {
      spec: (kind, name) => stored.get(`${kind}/${name}`),
      exists: (kind, name) => stored.has(`${kind}/${name}`),
    });
    expect(plan.filter((c) => c.action === "configured").map((c) => c.doc.name)).toEqual(["dev-1"]);
  });

  it("refuses a reference to a team that is neither in the file nor in the registry", () => {
    const docs = parseApplyDocuments(FLEET).filter((d) => d.kind !== "Team");
    const err = validationError(() => planApply(docs, empty));
    expect(err.field).toBe("spec.team");
    expect(err.where).toBe('document 2 (Repo "web")');
  });

  it("accepts a reference to an object already in the registry", () => {
    const docs = parseApplyDocuments(FLEET).filter((d) => d.kind === "App");
    const plan = planApply(docs, { spec: () => undefined, exists: (kind, name) => kind === "Repo" && name === "web" });
    expect(plan).toHaveLength(1);
  });
});

describe("keepWriteOnly", () => {
  const stored = {
    team: "payments",
    url: "https://git.example/web.git",
    branches: { prod: "main" },
    credentials: { username: "ci", password: "s3cret" },
    webhookSecret: "a-webhook-secret-0123",
  };
  it("a Repo document without the write-only fields keeps the stored ones, so it plans unchanged", () => {
    const [doc] = parseApplyDocuments(
      "apiVersion: flotilla.dev/v1\nkind: Repo\nmetadata: { name: web }\nspec: { team: payments, url: https://git.example/web.git, branches: { prod: main } }\n",
    );
    if (doc?.kind !== "Repo") throw new Error("expected a Repo document");
    keepWriteOnly(doc.spec, stored);
    expect(doc.spec).toEqual(stored);
    const current: ApplyCurrent = { spec: () => stored, exists: () => true };
    expect(planApply([doc], current).map((c) => c.action)).toEqual(["unchanged"]);
  });
  it("a document that gives them replaces them; a new repo has nothing to keep", () => {
    const spec = { ...stored, credentials: { username: "ci", password: "rotated" } };
    keepWriteOnly(spec, stored);
    expect(spec.credentials.password).toBe("rotated");
    const fresh = { team: "payments", url: "https://git.example/web.git", branches: { prod: "main" } };
    keepWriteOnly(fresh, undefined);
    expect(fresh).not.toHaveProperty("credentials");
  });
});
