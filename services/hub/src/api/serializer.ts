/**
 * Response serialization that holds every route to its schema. fastify-type-provider-zod encodes
 * a body with the route's zod schema, which drops keys the schema lacks without a word; here a
 * dropped key fails the response like a wrong value does, so a hub that grows a field its
 * contract does not describe answers 500 (and logs why) instead of silently hiding it.
 */
import type { FastifySerializerCompiler } from "fastify";
import { z } from "zod";
import { ResponseContractError } from "../errors.js";

/** Paths present in `sent` (as JSON) that `described` lacks, e.g. `items.0.secret`. */
export function undescribedPaths(sent: unknown, described: unknown, path: string[] = []): string[] {
  if (Array.isArray(sent)) {
    const kept = Array.isArray(described) ? described : [];
    return sent.flatMap((item, i) => undescribedPaths(item, kept[i], [...path, String(i)]));
  }
  if (sent === null || typeof sent !== "object") return [];
  const kept = described !== null && typeof described === "object" ? (described as Record<string, unknown>) : {};
  return Object.entries(sent).flatMap(([key, value]) => {
    if (value === undefined) return [];
    if (!Object.hasOwn(kept, key)) return [[...path, key].join(".")];
    return undescribedPaths(value, kept[key], [...path, key]);
  });
}

/**
 * Whether `sent` has a key (holding something other than undefined) that `described` lacks, at
 * any depth: {@link undescribedPaths} without building a path per key, for the common answer
 * "none" (a 500-cluster page has thousands of keys).
 */
export function hasUndescribed(sent: unknown, described: unknown): boolean {
  if (Array.isArray(sent)) {
    const kept = Array.isArray(described) ? described : [];
    for (let i = 0; i < sent.length; i++) if (hasUndescribed(sent[i], kept[i])) return true;
    return false;
  }
  if (sent === null || typeof sent !== "object") return false;
  const kept = described !== null && typeof described === "object" ? (described as Record<string, unknown>) : {};
  for (const key in sent) {
    if (!Object.hasOwn(sent, key)) continue;
    const value = (sent as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (!Object.hasOwn(kept, key) || hasUndescribed(value, kept[key])) return true;
  }
  return false;
}

/** The serializer compiler of every route: encode with the zod schema, then refuse what it dropped. */
export const contractSerializerCompiler: FastifySerializerCompiler<z.ZodType> = ({
  schema,
  method,
  url,
  httpStatus,
}) => {
  return (data) => {
    const status = String(httpStatus ?? "");
    const result = z.safeEncode(schema, data);
    if (!result.success) {
      const problems = result.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`);
      throw new ResponseContractError(method, url, status, problems, { cause: result.error });
    }
    // Compare as JSON: a key holding undefined is not sent either way. The JSON round trip and
    // the paths are only made when something was dropped: they cost more than the encoding.
    const sent: unknown = hasUndescribed(data, result.data) ? JSON.parse(JSON.stringify(data) ?? "null") : undefined;
    const dropped = sent === undefined ? [] : undescribedPaths(sent, result.data);
    if (dropped.length > 0) {
      throw new ResponseContractError(
        method,
        url,
        status,
        dropped.map((p) => `${p}: not in the schema`),
      );
    }
    return JSON.stringify(result.data);
  };
};
