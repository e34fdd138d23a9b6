import { execFile } from "node:child_process";
import { generateKeyPair } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { LOOPBACK } from "../ports.js";

const run = promisify(execFile);
const generateKeyPairAsync = promisify(generateKeyPair);

/** First address of the Service CIDR the apiserver is given; the `kubernetes` Service gets it. */
export const SERVICE_CIDR = "10.0.0.0/24";
const KUBERNETES_SERVICE_IP = "10.0.0.1";

/** The only name the front-proxy CA may vouch for (`--requestheader-allowed-names`). */
export const FRONT_PROXY_CLIENT = "front-proxy-client";

/** Validity of every certificate; a test cluster lives minutes, a debugging session days. */
const VALIDITY_DAYS = 365;

/** A certificate and its private key, as PEM file paths. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

/** Who a client certificate says it is: user name (CN) and groups (O). */
export interface ClientIdentity {
  readonly user: string;
  readonly groups: readonly string[];
}

/** The client identities a cluster's own components and its admin use. */
export const CLIENTS = {
  /** The test's user: cluster-admin by group, as kubeadm's admin.conf is. */
  admin: { user: "flotilla-admin", groups: ["system:masters"] },
  "kube-controller-manager": { user: "system:kube-controller-manager", groups: [] },
  "kube-scheduler": { user: "system:kube-scheduler", groups: [] },
  // kwok plays every kubelet, which the Node authorizer would restrict to its
  // own node; the RBAC roles for a node agent do not cover that either.
  kwok: { user: "kwok", groups: ["system:masters"] },
} as const satisfies Record<string, ClientIdentity>;

export type ClientName = keyof typeof CLIENTS;

/** Every file a cluster's control plane needs for TLS and ServiceAccount tokens. */
export interface ClusterPki {
  /** The cluster's own CA: signs the serving and client certificates, and is the client CA. */
  readonly ca: KeyPair;
  /** The apiserver's serving certificate, valid for 127.0.0.1 and the in-cluster names. */
  readonly apiserver: KeyPair;
  /**
   * A second CA for the aggregation layer, as kubeadm sets up: it signs only
   * the certificate the apiserver presents when it proxies to an extension
   * API server, which then trusts the user named in its request headers. The
   * controller-manager and scheduler read it to authenticate such requests.
   */
  readonly frontProxyCa: KeyPair;
  /** The apiserver's client certificate for proxying to extension API servers. */
  readonly frontProxyClient: KeyPair;
  /** Client certificates by name. */
  readonly clients: Readonly<Record<ClientName, KeyPair>>;
  /** RSA key that signs ServiceAccount tokens (PKCS#8 PEM). */
  readonly serviceAccountKey: string;
  /** Its public half, which the apiserver verifies tokens with. */
  readonly serviceAccountPublicKey: string;
}

// Our own config so that the system openssl.cnf's defaults (which make
// `req -x509` certificates CAs) do not leak into leaf certificates.
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

/** Escapes a value for an openssl `-subj` string. */
function rdn(value: string): string {
  return value.replace(/[/\\+=,]/g, (c) => `\\${c}`);
}

/** The kinds of certificate {@link issueCertificate} makes: the extensions of {@link OPENSSL_CONFIG}. */
export type CertificateKind = "ca" | "server" | "client";

/** Writes our openssl config into `dir` (created 0700) and returns its path. */
async function opensslConfig(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const config = join(dir, "openssl.cnf");
  await writeFile(config, OPENSSL_CONFIG);
  return config;
}

/** The certificate and key paths of `name` in `dir`. */
function keyPair(dir: string, name: string): KeyPair {
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/**
 * Issues one certificate with a fresh ECDSA P-256 key into `out` with the `openssl` CLI (Node has
 * no API to issue X.509 certificates): self-signed for a CA, else signed by `issuer`.
 */
async function issueCertificate(
  config: string,
  out: KeyPair,
  subject: string,
  kind: CertificateKind,
  extra: readonly string[],
  issuer: KeyPair | undefined,
): Promise<void> {
  const signer = kind === "ca" || !issuer ? [] : ["-CA", issuer.cert, "-CAkey", issuer.key];
  await run("openssl", [
    "req",
    "-config",
    config,
    "-x509",
    ...signer,
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-noenc",
    "-keyout",
    out.key,
    "-out",
    out.cert,
    "-days",
    String(VALIDITY_DAYS),
    "-subj",
    subject,
    "-extensions",
    kind,
    ...extra,
  ]);
}

/** A CA in a directory of its own, and the certificates it issues there. */
export interface CertificateAuthority {
  readonly ca: KeyPair;
  /**
   * Issues `name.crt` and `name.key`: a server certificate valid for `altNames` (`IP:127.0.0.1`,
   * `DNS:localhost`), or a client certificate whose subject is `CN=<name>`.
   */
  issue(name: string, kind: "server" | "client", altNames?: readonly string[]): Promise<KeyPair>;
}

/**
 * Creates a fresh CA named `name` in `dir`, for TLS fixtures other than a Kubernetes cluster's
 * (the harness's NATS servers): the same openssl config and key type as {@link createPki}.
 */
export async function createCertificateAuthority(dir: string, name: string): Promise<CertificateAuthority> {
  const config = await opensslConfig(dir);
  const ca = keyPair(dir, "ca");
  await issueCertificate(config, ca, `/CN=${rdn(name)}`, "ca", [], undefined);
  return {
    ca,
    async issue(leaf, kind, altNames = []) {
      const out = keyPair(dir, leaf);
      const extra = altNames.length > 0 ? ["-addext", `subjectAltName=${altNames.join(",")}`] : [];
      await issueCertificate(config, out, `/CN=${rdn(leaf)}`, kind, extra, ca);
      return out;
    },
  };
}

/**
 * Creates a fresh PKI for one cluster in `dir` with the `openssl` CLI. ECDSA P-256 keys keep
 * this to a few milliseconds per certificate.
 */
export async function createPki(dir: string, cluster: string): Promise<ClusterPki> {
  const config = await opensslConfig(dir);
  const pair = (name: string): KeyPair => keyPair(dir, name);

  const issue = (
    out: KeyPair,
    subject: string,
    extensions: CertificateKind,
    extra: string[] = [],
    issuer: KeyPair = ca,
  ): Promise<void> => issueCertificate(config, out, subject, extensions, extra, issuer);

  const ca = pair("ca");
  const frontProxyCa = pair("front-proxy-ca");
  await Promise.all([
    issue(ca, `/CN=${rdn(`flotilla-${cluster}-ca`)}`, "ca"),
    issue(frontProxyCa, `/CN=${rdn(`flotilla-${cluster}-front-proxy-ca`)}`, "ca"),
  ]);

  const apiserver = pair("apiserver");
  const altNames = [
    `IP:${LOOPBACK}`,
    `IP:${KUBERNETES_SERVICE_IP}`,
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ];
  const clients = Object.fromEntries(Object.keys(CLIENTS).map((name) => [name, pair(`client-${name}`)])) as Record<
    ClientName,
    KeyPair
  >;

  const serviceAccountKey = join(dir, "service-account.key");
  const serviceAccountPublicKey = join(dir, "service-account.pub");

  const frontProxyClient = pair("front-proxy-client");
  await Promise.all([
    issue(frontProxyClient, `/CN=${FRONT_PROXY_CLIENT}`, "client", [], frontProxyCa),
    issue(apiserver, "/CN=kube-apiserver", "server", ["-addext", `subjectAltName=${altNames.join(",")}`]),
    ...Object.entries(CLIENTS).map(([name, id]) => {
      const groups = id.groups.map((g) => `/O=${rdn(g)}`).join("");
      return issue(clients[name as ClientName], `${groups}/CN=${rdn(id.user)}`, "client");
    }),
    generateKeyPairAsync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    }).then(({ publicKey, privateKey }) =>
      Promise.all([
        writeFile(serviceAccountKey, privateKey, { mode: 0o600 }),
        writeFile(serviceAccountPublicKey, publicKey),
      ]),
    ),
  ]);

  return {
    ca,
    apiserver,
    frontProxyCa,
    frontProxyClient,
    clients,
    serviceAccountKey,
    serviceAccountPublicKey,
  };
}
