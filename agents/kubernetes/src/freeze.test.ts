import { describe, expect, it } from "vitest";
import { FREEZE_LABEL, FREEZE_REASON_MAX, freezeRequest } from "./freeze.js";
import type { KubeObject } from "./objects.js";

const cm = (name: string, labels?: Record<string, string>, data?: Record<string, string>): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: "flotilla-system", ...(labels ? { labels } : {}) },
    ...(data ? { data } : {}),
  }) as KubeObject;

describe("freezeRequest", () => {
  const cases: { name: string; setting: string; configMaps: KubeObject[]; want: ReturnType<typeof freezeRequest> }[] = [
    { name: "nothing asked", setting: "", configMaps: [], want: undefined },
    { name: "blank setting", setting: "  ", configMaps: [], want: undefined },
    {
      name: "the setting",
      setting: " disk migration ",
      configMaps: [],
      want: { reason: "disk migration", source: "setting" },
    },
    {
      name: "the setting wins over a ConfigMap",
      setting: "node upgrade",
      configMaps: [cm("hold", { [FREEZE_LABEL]: "true" }, { reason: "other" })],
      want: { reason: "node upgrade", source: "setting" },
    },
    {
      name: "a labelled ConfigMap with a reason",
      setting: "",
      configMaps: [cm("maintenance", { [FREEZE_LABEL]: "true" }, { reason: "etcd defrag" })],
      want: { reason: "etcd defrag", source: "configmap flotilla-system/maintenance" },
    },
    {
      name: "a labelled ConfigMap without a reason names itself",
      setting: "",
      configMaps: [cm("maintenance", { [FREEZE_LABEL]: "" })],
      want: {
        reason: `ConfigMap flotilla-system/maintenance is labelled ${FREEZE_LABEL}`,
        source: "configmap flotilla-system/maintenance",
      },
    },
    {
      name: "label value false does not freeze",
      setting: "",
      configMaps: [cm("maintenance", { [FREEZE_LABEL]: "False" }, { reason: "x" })],
      want: undefined,
    },
    {
      name: "an unlabelled ConfigMap does not freeze",
      setting: "",
      configMaps: [cm("inventory", { "flotilla.dev/inventory": "web" }, { reason: "x" })],
      want: undefined,
    },
    {
      name: "the first by name of several",
      setting: "",
      configMaps: [
        cm("zz", { [FREEZE_LABEL]: "true" }, { reason: "later" }),
        cm("aa", { [FREEZE_LABEL]: "true" }, { reason: "first" }),
      ],
      want: { reason: "first", source: "configmap flotilla-system/aa" },
    },
  ];
  it.each(cases)("$name", ({ setting, configMaps, want }) => {
    expect(freezeRequest(setting, configMaps)).toEqual(want);
  });

  it("cuts a long reason", () => {
    const got = freezeRequest("", [cm("m", { [FREEZE_LABEL]: "1" }, { reason: "x".repeat(2000) })]);
    expect(got?.reason).toHaveLength(FREEZE_REASON_MAX);
  });
});
