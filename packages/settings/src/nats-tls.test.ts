import { describe, expect, it } from "vitest";
import { z } from "zod";
import { SettingsError } from "./errors.js";
import { parseSettings } from "./loader.js";
import {
  checkNatsTls,
  explainNatsTlsError,
  NATS_TLS_SETTINGS,
  type NatsTlsSettings,
  natsTlsOption,
  natsTlsShape,
} from "./nats-tls.js";

const schema = z.object(natsTlsShape).superRefine(checkNatsTls);
const parse = (input: Record<string, unknown>) => parseSettings(schema, NATS_TLS_SETTINGS, input);
const pem = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
const CA = pem("CERTIFICATE");
const KEY = pem("PRIVATE KEY");

function problem(input: Record<string, unknown>): string {
  try {
    parse(input);
  } catch (err) {
    if (err instanceof SettingsError) return err.message;
    throw err;
  }
  throw new Error("expected a SettingsError");
}

describe("NATS TLS settings", () => {
  it("require TLS by default, verified with the system's CAs", () => {
    const settings = parse({});
    expect(settings.natsInsecure).toBe(false);
    expect(natsTlsOption(settings)).toEqual({});
  });

  it("pass CA, client certificate, key and server name to nats.js", () => {
    const settings = parse({ natsCa: CA, natsCert: CA, natsKey: KEY, natsServerName: "nats.internal" });
    expect(natsTlsOption(settings)).toEqual({ ca: CA, cert: CA, key: KEY, servername: "nats.internal" });
  });

  it("turn TLS off only when told to", () => {
    expect(natsTlsOption(parse({ natsInsecure: "true" }))).toBeNull();
  });

  it.each([
    [{ natsCert: CA }, "FLOTILLA_NATS_KEY_FILE: is needed too"],
    [{ natsKey: KEY }, "FLOTILLA_NATS_CERT_FILE: is needed too"],
    [{ natsInsecure: "true", natsCa: CA }, "FLOTILLA_NATS_INSECURE: is true but FLOTILLA_NATS_CA_FILE set TLS up"],
    [{ natsCa: "not a pem" }, "FLOTILLA_NATS_CA_FILE: must be a PEM file"],
    [{ natsInsecure: "yes" }, "FLOTILLA_NATS_INSECURE:"],
  ])("refuse %j naming the setting", (input, message) => {
    expect(problem(input)).toContain(message);
  });

  it("never quote a key that is not PEM", () => {
    expect(problem({ natsCert: CA, natsKey: "secret-seed-text" })).not.toContain("secret-seed-text");
  });
});

describe("explainNatsTlsError", () => {
  const secure: NatsTlsSettings = { natsInsecure: false };
  const withCa: NatsTlsSettings = { natsInsecure: false, natsCa: CA };
  const insecure: NatsTlsSettings = { natsInsecure: true };
  const tlsError = (code: string, message = code) => Object.assign(new Error(message), { code });
  const natsError = (code: string, message: string, chainedError?: unknown) =>
    Object.assign(new Error(message), { code, chainedError });
  const url = "nats://127.0.0.1:4222";

  it.each([
    ["an untrusted self-signed chain", tlsError("SELF_SIGNED_CERT_IN_CHAIN"), secure, "set FLOTILLA_NATS_CA_FILE"],
    [
      "a certificate another CA signed",
      tlsError("UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
      withCa,
      "FLOTILLA_NATS_CA_FILE did not sign",
    ],
    [
      "a wrapped untrusted certificate",
      natsError("TLS", "TLS", tlsError("DEPTH_ZERO_SELF_SIGNED_CERT")),
      secure,
      "set FLOTILLA_NATS_CA_FILE",
    ],
    [
      "a name mismatch",
      tlsError("ERR_TLS_CERT_ALTNAME_INVALID", "Host: x. is not in the cert's altnames"),
      withCa,
      "FLOTILLA_NATS_SERVER_NAME",
    ],
    ["a server without TLS", natsError("SERVER_OPT_NA", "tls"), secure, "does not offer TLS"],
    [
      "a TLS server for a plaintext client",
      natsError("TLS", "Cannot destructure"),
      insecure,
      "requires TLS: unset FLOTILLA_NATS_INSECURE",
    ],
    [
      "a missing client certificate",
      tlsError("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"),
      withCa,
      "set FLOTILLA_NATS_CERT_FILE and FLOTILLA_NATS_KEY_FILE",
    ],
    ["an expired certificate", tlsError("CERT_HAS_EXPIRED"), withCa, "renew the server's certificate"],
  ])("names the setting for %s", (_, err, settings, want) => {
    const line = explainNatsTlsError(err, url, settings);
    expect(line).toContain(`NATS at ${url}`);
    expect(line).toContain(want);
  });

  it.each([
    ["a refused connection", natsError("CONNECTION_REFUSED", "CONNECTION_REFUSED")],
    ["an authorization failure", natsError("AUTHORIZATION_VIOLATION", "Authorization Violation")],
    ["not an error at all", undefined],
  ])("leaves %s to the caller", (_, err) => {
    expect(explainNatsTlsError(err, url, secure)).toBeUndefined();
  });
});
