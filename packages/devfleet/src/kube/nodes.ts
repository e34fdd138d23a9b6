import type { CoreV1Api, V1Node } from "@kubernetes/client-node";
import { KWOK_NODE_ANNOTATION, KWOK_NODE_ANNOTATION_VALUE } from "./components.js";

/** Resources of each fake Node: far more than tests schedule, so nothing stays Pending. */
const NODE_CAPACITY = { cpu: "32", memory: "256Gi", pods: "110" } as const;

/** Names of the fake Nodes of a cluster with `count` nodes. */
export function fakeNodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `kwok-node-${i}`);
}

/**
 * A Node that kwok manages (by the annotation it is started with) instead of a
 * kubelet: kwok marks it Ready, renews its Lease and runs the Pods bound to it.
 */
export function fakeNode(name: string): V1Node {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: KWOK_NODE_ANNOTATION_VALUE },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        type: "kwok",
      },
    },
    status: {
      capacity: { ...NODE_CAPACITY },
      allocatable: { ...NODE_CAPACITY },
      nodeInfo: {
        architecture: "amd64",
        operatingSystem: "linux",
        kubeletVersion: "fake",
        kubeProxyVersion: "fake",
        containerRuntimeVersion: "fake",
        kernelVersion: "",
        osImage: "",
        bootID: "",
        machineID: "",
        systemUUID: "",
      },
    },
  };
}

/** Whether every named Node exists and reports Ready=True. */
export async function nodesReady(core: CoreV1Api, names: readonly string[]): Promise<boolean> {
  const { items } = await core.listNode({});
  return names.every((name) =>
    items
      .find((node) => node.metadata?.name === name)
      ?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
}
