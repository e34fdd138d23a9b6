import { join } from "node:path";
import type { Component } from "../errors.js";
import { LOOPBACK } from "../ports.js";
import { type ClientName, type ClusterPki, FRONT_PROXY_CLIENT, SERVICE_CIDR } from "./pki.js";

/** Annotation that marks the Nodes kwok plays the kubelet for. */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";
export const KWOK_NODE_ANNOTATION_VALUE = "fake";

/** Pod IPs kwok hands out; apart from the Service CIDR so the two cannot be confused. */
const POD_CIDR = "10.244.0.0/16";

/** Where one cluster's files are and which loopback ports its servers listen on. */
export interface ClusterLayout {
  readonly name: string;
  readonly dir: string;
  readonly ports: {
    readonly etcdClient: number;
    readonly etcdPeer: number;
    readonly apiserver: number;
    readonly controllerManager: number;
    readonly scheduler: number;
  };
  readonly pki: ClusterPki;
  /** A kubeconfig per client identity. */
  readonly kubeconfigs: Readonly<Record<ClientName, string>>;
  /** kwok's Stage definitions: upstream's (see scripts/fixtures.sh), then ours (stages.ts). */
  readonly kwokStages: readonly string[];
}

/** URL the apiserver is reached at. */
export function serverUrl(layout: ClusterLayout): string {
  return `https://${LOOPBACK}:${layout.ports.apiserver}`;
}

/** URL etcd serves clients (only the apiserver) at. */
export function etcdUrl(layout: ClusterLayout): string {
  return `http://${LOOPBACK}:${layout.ports.etcdClient}`;
}

/** Command-line arguments of each component, in start order. */
export function componentArgs(layout: ClusterLayout): Record<Component, string[]> {
  const { name, dir, ports, pki, kubeconfigs } = layout;
  const peer = `http://${LOOPBACK}:${ports.etcdPeer}`;
  // The controllers' and scheduler's own HTTPS endpoints: on loopback, with a
  // port of their own (the defaults would clash between clusters), checking
  // callers against the apiserver.
  const serving = (kubeconfig: string, port: number) => [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    `--bind-address=${LOOPBACK}`,
    `--secure-port=${port}`,
    // One instance per cluster: leader election would only add Lease writes.
    "--leader-elect=false",
  ];
  return {
    etcd: [
      `--name=${name}`,
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl(layout)}`,
      `--advertise-client-urls=${etcdUrl(layout)}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${name}=${peer}`,
      "--initial-cluster-state=new",
      `--initial-cluster-token=flotilla-${name}`,
      // The data lives as long as the test; fsync only costs time on a shared disk.
      "--unsafe-no-fsync",
      "--log-level=warn",
    ],
    "kube-apiserver": [
      `--etcd-servers=${etcdUrl(layout)}`,
      `--bind-address=${LOOPBACK}`,
      `--advertise-address=${LOOPBACK}`,
      `--secure-port=${ports.apiserver}`,
      `--cert-dir=${join(dir, "apiserver")}`,
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      "--authorization-mode=Node,RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--requestheader-client-ca-file=${pki.frontProxyCa.cert}`,
      `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
      "--requestheader-username-headers=X-Remote-User",
      "--requestheader-group-headers=X-Remote-Group",
      "--requestheader-extra-headers-prefix=X-Remote-Extra-",
      `--proxy-client-cert-file=${pki.frontProxyClient.cert}`,
      `--proxy-client-key-file=${pki.frontProxyClient.key}`,
      // The reconciler would publish 127.0.0.1 as the endpoint of the
      // `kubernetes` Service, which Endpoints validation rejects (loopback),
      // every 10 s. Nothing runs in-cluster that could dial it anyway.
      "--endpoint-reconciler-type=none",
      "--allow-privileged=true",
      "--profiling=false",
    ],
    "kube-controller-manager": [
      ...serving(kubeconfigs["kube-controller-manager"], ports.controllerManager),
      `--cluster-name=${name}`,
      // Each controller acts as its own ServiceAccount, as in a real cluster,
      // so RBAC is exercised the same way.
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.ca.cert}`,
      `--cluster-signing-cert-file=${pki.ca.cert}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      "--profiling=false",
    ],
    "kube-scheduler": [...serving(kubeconfigs["kube-scheduler"], ports.scheduler), "--profiling=false"],
    kwok: [
      `--kubeconfig=${kubeconfigs.kwok}`,
      ...layout.kwokStages.map((file) => `--config=${file}`),
      "--manage-all-nodes=false",
      `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=${KWOK_NODE_ANNOTATION_VALUE}`,
      // Lease heartbeats every 10 s keep the node lifecycle controller from
      // tainting the fake Nodes, without status writes every few seconds.
      "--node-lease-duration-seconds=40",
      `--cidr=${POD_CIDR}`,
    ],
  };
}
