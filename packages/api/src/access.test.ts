import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ACTIONS, type OperationScope, PERMISSIONS, PUBLIC_SCOPE, RESOURCES, ROLES } from "./access.js";
import { type Operation, operations } from "./operations.js";

const table: [string, Operation][] = Object.entries(operations);

/** The field names a schema's object shape has, through refinements and pipes. */
function fieldsOf(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties?: object };
  return Object.keys(json.properties ?? {});
}

describe("the scope of every operation", () => {
  it("is declared, and public exactly where the document says no token is needed", () => {
    for (const [id, op] of table) {
      expect(op.scope, id).toBeDefined();
      expect(op.schema["x-flotilla-scope"], id).toBe(
        op.scope === PUBLIC_SCOPE ? PUBLIC_SCOPE : `${op.scope.action}:${op.scope.resource}`,
      );
      expect((op.schema as { security?: unknown }).security === undefined, id).toBe(op.scope !== PUBLIC_SCOPE);
    }
  });

  it("names only fields its request has", () => {
    for (const [id, op] of table) {
      const scope: OperationScope = op.scope;
      if (scope === PUBLIC_SCOPE) continue;
      const schema = op.schema as { params?: z.ZodType; body?: z.ZodType; querystring?: z.ZodType };
      const shape = { params: schema.params, body: schema.body, query: schema.querystring, document: undefined };
      for (const ref of [...(scope.object ? [scope.object] : []), ...(scope.also ?? [])]) {
        expect(fieldsOf(shape[ref.in]), `${id} names ${ref.in}.${ref.field}`).toContain(ref.field);
      }
    }
  });

  it("documents 403 exactly when some role could be refused: by its role, or for an object of another team", () => {
    for (const [id, op] of table) {
      const scope: OperationScope = op.scope;
      const names =
        scope !== PUBLIC_SCOPE && (scope.object !== undefined || scope.also !== undefined || scope.documents);
      const refusable =
        scope !== PUBLIC_SCOPE &&
        ROLES.some((r) => {
          const reach = PERMISSIONS[r][scope.resource][scope.action];
          return reach === "none" || (reach === "team" && names);
        });
      expect(Object.keys(op.schema.response).includes("403"), id).toBe(refusable);
    }
  });
});

describe("the permission table", () => {
  it("gives the admin everything anyone has, and the viewer no write", () => {
    const rank = { none: 0, team: 1, all: 2 };
    for (const resource of RESOURCES) {
      for (const action of ACTIONS) {
        const admin = rank[PERMISSIONS.admin[resource][action]];
        for (const role of ROLES) expect(rank[PERMISSIONS[role][resource][action]]).toBeLessThanOrEqual(admin);
        expect(PERMISSIONS.viewer[resource].write).toBe("none");
      }
    }
  });

  it("keeps members off clusters, environments, teams and tokens", () => {
    for (const resource of ["clusters", "environments", "teams", "tokens"] as const) {
      expect(PERMISSIONS.member[resource].write, resource).toBe("none");
    }
  });
});
