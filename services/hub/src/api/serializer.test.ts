import Fastify from "fastify";
import { validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { sendError } from "./errors.js";
import { contractSerializerCompiler, hasUndescribed, undescribedPaths } from "./serializer.js";

describe("undescribedPaths", () => {
  it.each([
    [{ a: 1 }, { a: 1 }, []],
    [{ a: 1, b: 2 }, { a: 1 }, ["b"]],
    [{ a: { b: 1, c: 2 } }, { a: { b: 1 } }, ["a.c"]],
    [{ items: [{ x: 1 }, { x: 1, y: 2 }] }, { items: [{ x: 1 }, { x: 1 }] }, ["items.1.y"]],
    [{ a: null }, { a: null }, []],
    [[1, 2], [1, 2], []],
    ["text", "text", []],
  ])("%j against %j → %j", (sent, described, paths) => {
    expect(undescribedPaths(sent, described)).toEqual(paths);
  });
});

describe("hasUndescribed", () => {
  it.each([
    [{ a: 1 }, { a: 1 }, false],
    [{ a: 1, b: 2 }, { a: 1 }, true],
    [{ a: 1, b: undefined }, { a: 1 }, false],
    [{ a: { b: 1, c: 2 } }, { a: { b: 1 } }, true],
    [{ items: [{ x: 1 }, { x: 1, y: 2 }] }, { items: [{ x: 1 }, { x: 1 }] }, true],
    [{ items: [{ x: 1 }, { x: 1 }] }, { items: [{ x: 1 }, { x: 1 }] }, false],
    [{ a: null }, { a: null }, false],
    ["text", "text", false],
  ])("%j against %j → %j, as undescribedPaths finds paths or none", (sent, described, has) => {
    expect(hasUndescribed(sent, described)).toBe(has);
    expect(undescribedPaths(JSON.parse(JSON.stringify(sent)), described).length > 0).toBe(has);
  });
});

/** A server like the hub's, with one route whose handler answers `body`. */
async function serverAnswering(body: unknown) {
  const lines: string[] = [];
  const app = Fastify({
    loggerInstance: pino({ level: "error" }, { write: (line: string) => lines.push(line) }),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(contractSerializerCompiler);
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  const error = z.object({ error: z.string(), message: z.string() });
  app.withTypeProvider<ZodTypeProvider>().route({
    method: "GET",
    url: "/thing",
    schema: { response: { 200: z.object({ name: z.string(), count: z.number().optional() }), default: error } },
    // The handler's type would refuse most wrong bodies; this one comes from outside the types.
    handler: async () => z.looseObject({ name: z.string() }).parse(body),
  });
  return { app, lines };
}

describe("contractSerializerCompiler", () => {
  it("sends a body its schema describes, as is", async () => {
    const { app, lines } = await serverAnswering({ name: "a", count: 2 });
    const res = await app.inject({ method: "GET", url: "/thing" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ name: "a", count: 2 });
    expect(lines).toEqual([]);
  });

  it("answers 500 and logs the field when a body carries one its schema lacks", async () => {
    const { app, lines } = await serverAnswering({ name: "a", secret: "x" });
    const res = await app.inject({ method: "GET", url: "/thing" });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: "internal", message: "internal error; see the hub logs" });
    expect(res.body).not.toContain("secret");
    expect(lines.join("")).toContain(
      "GET /thing answered 200 with a body its schema does not describe: secret: not in the schema",
    );
  });

  it("answers 500 and logs the field when a value breaks its schema", async () => {
    const { app, lines } = await serverAnswering({ name: "a", count: "two" });
    const res = await app.inject({ method: "GET", url: "/thing" });
    expect(res.statusCode).toBe(500);
    expect(lines.join("")).toContain("count: Invalid input: expected number");
  });
});
