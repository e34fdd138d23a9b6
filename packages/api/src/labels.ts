/**
 * Names and labels: the two grammars every object of the contract uses. A name becomes a NATS
 * subject token and a KV key, so it is an RFC 1123 DNS label; labels follow Kubernetes.
 */
import { isDnsLabel } from "@flotilla/proto";
import { z } from "zod";

/** Why a name was refused: the DNS label rule in words. */
export const DNS_LABEL_REASON =
  "must be a DNS label: 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit";

/** A label key: an optional DNS-subdomain prefix and `/`, then a name (`env`, `example.com/tier`). */
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** A label value: empty, or at most 63 letters, digits, `-`, `_` or `.`, alphanumeric at both ends. */
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** A resource name: an RFC 1123 DNS label, since it becomes a NATS subject token and a KV key. */
export const nameSchema = z
  .string()
  .refine(isDnsLabel, { message: DNS_LABEL_REASON })
  .meta({ description: "RFC 1123 DNS label" });

/** Kubernetes-style labels. */
export const labelsSchema = z
  .record(
    z.string().regex(LABEL_KEY, "label keys look like Kubernetes label keys (e.g. env, example.com/tier)"),
    z.string().regex(LABEL_VALUE, "label values are at most 63 letters, digits, '-', '_' or '.'"),
  )
  .meta({ description: "Kubernetes-style labels", example: { env: "prod", tier: "canary" } });
