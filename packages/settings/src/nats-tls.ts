/**
 * How every Flotilla NATS client (hub, agent, load generator) reaches NATS over TLS: the same
 * five settings, the nats.js `tls` option built from them, and one line that says which setting
 * to change when a connection fails for a TLS reason.
 *
 * TLS is required unless `FLOTILLA_NATS_INSECURE=true`: a client then refuses a server that does
 * not offer TLS, whatever the URL's scheme. Without `FLOTILLA_NATS_CA_FILE` the system's CAs
 * verify the server's certificate. Plaintext is an explicit choice for a trusted network (a
 * laptop, a sidecar), never a fallback.
 */
import { z } from "zod";
import type { Setting } from "./loader.js";
import { flagSchema } from "./values.js";

/** The environment variables of the NATS TLS settings, for messages and charts. */
export const NATS_TLS_ENV = {
  ca: "FLOTILLA_NATS_CA_FILE",
  cert: "FLOTILLA_NATS_CERT_FILE",
  key: "FLOTILLA_NATS_KEY_FILE",
  serverName: "FLOTILLA_NATS_SERVER_NAME",
  insecure: "FLOTILLA_NATS_INSECURE",
} as const;

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----/;

/** PEM text (a file's content): the message never quotes the text, which may be a private key. */
const pemSchema = (what: string) => z.string().refine((text) => PEM_BLOCK.test(text), `must be a PEM file (${what})`);

/** The fields of the NATS TLS settings, spread into a program's own schema. */
export const natsTlsShape = {
  /**
   * `FLOTILLA_NATS_CA_FILE` / `--nats-ca`: PEM of the CA(s) that signed the NATS server's
   * certificate. @default the system's CAs
   */
  natsCa: pemSchema("one or more CERTIFICATE blocks").optional(),
  /**
   * `FLOTILLA_NATS_CERT_FILE` / `--nats-cert`: PEM of this client's certificate, for a NATS
   * server that verifies clients (mutual TLS). Needs `FLOTILLA_NATS_KEY_FILE`. @default none
   */
  natsCert: pemSchema("a CERTIFICATE block").optional(),
  /** `FLOTILLA_NATS_KEY_FILE` / `--nats-key`: PEM of that certificate's private key. @default none */
  natsKey: pemSchema("a PRIVATE KEY block").optional(),
  /**
   * `FLOTILLA_NATS_SERVER_NAME` / `--nats-server-name`: the name the server's certificate must
   * carry when it is not the URL's host (a NATS reached through an IP address or a tunnel).
   * @default the URL's host
   */
  natsServerName: z.string().trim().min(1).optional(),
  /**
   * `FLOTILLA_NATS_INSECURE` / `--nats-insecure`: connect without TLS. Only for a NATS on a
   * network nobody else can read (loopback, a pod's sidecar); TLS settings are refused with it.
   * @default false: TLS required
   */
  natsInsecure: flagSchema.default(false),
};

/** The NATS TLS settings after parsing. */
export interface NatsTlsSettings {
  natsCa?: string | undefined;
  natsCert?: string | undefined;
  natsKey?: string | undefined;
  natsServerName?: string | undefined;
  natsInsecure: boolean;
}

/** Where the NATS TLS settings come from; the same names in every program. */
export const NATS_TLS_SETTINGS: readonly Setting<keyof typeof natsTlsShape>[] = [
  { field: "natsCa", fileEnv: NATS_TLS_ENV.ca, fileFlag: "nats-ca" },
  { field: "natsCert", fileEnv: NATS_TLS_ENV.cert, fileFlag: "nats-cert" },
  { field: "natsKey", fileEnv: NATS_TLS_ENV.key, fileFlag: "nats-key" },
  { field: "natsServerName", env: NATS_TLS_ENV.serverName, flag: "nats-server-name" },
  { field: "natsInsecure", env: NATS_TLS_ENV.insecure, flag: "nats-insecure" },
];

/**
 * The checks across fields, for a schema's `superRefine`: a certificate needs its key, and
 * plaintext with TLS settings is a contradiction to resolve, not to guess at.
 */
export function checkNatsTls(value: NatsTlsSettings, ctx: z.RefinementCtx): void {
  if (Boolean(value.natsCert) !== Boolean(value.natsKey)) {
    ctx.addIssue({
      code: "custom",
      path: [value.natsCert ? "natsKey" : "natsCert"],
      message: `is needed too: ${NATS_TLS_ENV.cert} and ${NATS_TLS_ENV.key} are a client certificate and its key`,
    });
  }
  const tlsSettings = (
    [
      [value.natsCa, NATS_TLS_ENV.ca],
      [value.natsCert, NATS_TLS_ENV.cert],
      [value.natsServerName, NATS_TLS_ENV.serverName],
    ] as const
  )
    .filter(([v]) => v)
    .map(([, name]) => name);
  if (value.natsInsecure && tlsSettings.length > 0) {
    ctx.addIssue({
      code: "custom",
      path: ["natsInsecure"],
      message: `is true but ${tlsSettings.join(", ")} set TLS up: unset one or the other`,
    });
  }
}

/**
 * The `tls` option of nats.js's `connect` (its `TlsOptions` shape): an object, which makes TLS
 * required, or null for plaintext, which makes a TLS-only server refuse the connection.
 */
export interface NatsTlsOption {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/** The nats.js `tls` option for these settings. */
export function natsTlsOption(settings: NatsTlsSettings): NatsTlsOption | null {
  if (settings.natsInsecure) return null;
  return {
    ...(settings.natsCa ? { ca: settings.natsCa } : {}),
    ...(settings.natsCert ? { cert: settings.natsCert } : {}),
    ...(settings.natsKey ? { key: settings.natsKey } : {}),
    ...(settings.natsServerName ? { servername: settings.natsServerName } : {}),
  };
}

/** Node's codes for a server certificate no trusted CA signed. */
const UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
]);

/** The error and the errors it wraps (nats.js's `chainedError`, `cause`). */
function chain(err: unknown): { code?: unknown; message?: unknown }[] {
  const out: { code?: unknown; message?: unknown }[] = [];
  let e = err as { code?: unknown; message?: unknown; chainedError?: unknown; cause?: unknown } | undefined;
  while (e && typeof e === "object" && out.length < 5) {
    out.push(e);
    e = (e.chainedError ?? e.cause) as typeof e;
  }
  return out;
}

/**
 * One line naming the setting to change when connecting to NATS at `servers` failed for a TLS
 * reason; undefined for any other failure (NATS down, authentication), which the caller reports
 * as it is.
 */
export function explainNatsTlsError(err: unknown, servers: string, settings: NatsTlsSettings): string | undefined {
  const at = `NATS at ${servers}`;
  for (const e of chain(err)) {
    const code = typeof e.code === "string" ? e.code : "";
    const message = typeof e.message === "string" ? e.message : "";
    // nats.js without a `tls` option still starts TLS when the server demands it, and fails there.
    if (settings.natsInsecure && (code === "TLS" || (code === "SERVER_OPT_NA" && message === "tls"))) {
      return `${at} requires TLS: unset ${NATS_TLS_ENV.insecure} and set ${NATS_TLS_ENV.ca} to the CA of its certificate`;
    }
    if (code === "SERVER_OPT_NA" && message === "tls") {
      return `${at} does not offer TLS: turn TLS on in the server's config (tls { cert_file, key_file }), or set ${NATS_TLS_ENV.insecure}=true to connect in plaintext on a network nobody else can read`;
    }
    if (UNTRUSTED.has(code)) {
      return settings.natsCa
        ? `${at} presented a certificate that ${NATS_TLS_ENV.ca} did not sign (${code}): give the CA that signed the server's certificate`
        : `${at} presented a certificate no system CA trusts (${code}): set ${NATS_TLS_ENV.ca} to the CA that signed it`;
    }
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
      return `${at} presented a certificate for other names (${message}): connect by a name it carries, or set ${NATS_TLS_ENV.serverName}`;
    }
    if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
      return `${at} presented a certificate that is not valid now (${code}): renew the server's certificate`;
    }
    if (/CERTIFICATE_REQUIRED|alert certificate required/i.test(`${code} ${message}`)) {
      return `${at} requires a client certificate: set ${NATS_TLS_ENV.cert} and ${NATS_TLS_ENV.key}`;
    }
    if (/UNKNOWN_CA|BAD_CERTIFICATE|alert unknown ca|alert bad certificate/i.test(`${code} ${message}`)) {
      return `${at} refused this client's certificate (${code || message}): use a certificate signed by a CA the server trusts (${NATS_TLS_ENV.cert})`;
    }
  }
  return undefined;
}
