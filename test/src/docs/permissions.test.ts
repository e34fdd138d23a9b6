/**
 * The README's permission table must say what the operations of `@flotilla/api` declare: one row
 * per scope (`read repos`, `write clusters`, `public`), listing exactly the operations with that
 * scope, and for each role what the permission table gives it (✓ every object, "own team", — none).
 * A new operation, a changed scope or a changed permission fails here until the README says so.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { operations, PERMISSIONS, PUBLIC_SCOPE, type Reach, ROLES } from "@flotilla/api";
import { describe, expect, it } from "vitest";

const README = resolve(dirname(fileURLToPath(import.meta.url)), "../../../README.md");
const CELL: Record<Reach, string> = { all: "✓", team: "own team", none: "—" };

interface Row {
  operations: string[];
  cells: string[];
}

/** The rows of the table under "Teams and permissions", by their first cell. */
function readmeTable(): Map<string, Row> {
  const text = readFileSync(README, "utf8");
  const section = text.slice(text.indexOf("## Teams and permissions"));
  const lines = section.split("\n");
  const start = lines.findIndex((l) => l.startsWith("| action |"));
  expect(start, "the README has no permission table under 'Teams and permissions'").toBeGreaterThan(0);
  expect(lines[start]).toBe("| action | operations | admin | member | viewer |");
  const rows = new Map<string, Row>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const cells = line
      .slice(1, -1)
      .split("|")
      .map((c) => c.trim());
    const [action = "", ops = "", ...roles] = cells;
    expect(rows.has(action), `the row ${action} appears twice`).toBe(false);
    rows.set(action, { operations: [...ops.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? "").sort(), cells: roles });
  }
  return rows;
}

/** The same table, derived from the operations' scopes and the permission table. */
function declaredTable(): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const op of Object.values(operations)) {
    const scope = op.scope;
    const key = scope === PUBLIC_SCOPE ? "public" : `${scope.action} ${scope.resource}`;
    const cells =
      scope === PUBLIC_SCOPE
        ? ROLES.map(() => "✓")
        : ROLES.map((r) => CELL[PERMISSIONS[r][scope.resource][scope.action]]);
    const row = rows.get(key) ?? { operations: [], cells };
    row.operations.push(`${op.method} ${op.path}`);
    rows.set(key, row);
  }
  for (const row of rows.values()) row.operations.sort();
  return rows;
}

describe("the README's permission table", () => {
  it("has a row for every scope the operations declare, and no other", () => {
    expect([...readmeTable().keys()].sort()).toEqual([...declaredTable().keys()].sort());
  });

  it("lists under each row exactly the operations with that scope, and what each role may do", () => {
    const readme = readmeTable();
    for (const [key, declared] of declaredTable()) {
      const row = readme.get(key);
      expect(row?.operations, `operations of ${key}`).toEqual(declared.operations);
      expect(row?.cells, `roles of ${key}`).toEqual(declared.cells);
    }
  });

  it("covers every operation of @flotilla/api", () => {
    const listed = [...readmeTable().values()].flatMap((r) => r.operations);
    const all = Object.values(operations).map((op) => `${op.method} ${op.path}`);
    expect(listed.sort()).toEqual(all.sort());
  });
});
