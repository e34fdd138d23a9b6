import { describe, expect, it } from "vitest";
import { parseConfigFile } from "./config.js";
import { contextNameFor, deleteContext, listContexts, setContext, useContext } from "./contexts.js";
import { SettingsError, UsageError } from "./errors.js";

const PATH = "/home/me/.config/flotilla/config.yaml";

describe("contexts of the config file", () => {
  it("adds contexts, keeps comments and other keys, switches, and the chosen one gives hub and token", () => {
    let text = "# my settings\noutput: json\n";
    text = setContext(text, PATH, "prod", { hub: "https://prod.example", token: "prod-token" }, true);
    text = setContext(text, PATH, "staging", { hub: "http://127.0.0.1:8080", token: "stg-token" }, false);
    expect(text).toContain("# my settings");
    expect(listContexts(text, PATH)).toEqual([
      { name: "prod", hub: "https://prod.example", hasToken: true, current: true },
      { name: "staging", hub: "http://127.0.0.1:8080", hasToken: true, current: false },
    ]);
    expect(parseConfigFile(text, PATH)).toEqual({
      output: "json",
      hub: "https://prod.example",
      token: "prod-token",
      context: "prod",
    });
    expect(parseConfigFile(text, PATH, "staging")).toMatchObject({ hub: "http://127.0.0.1:8080", token: "stg-token" });
    text = useContext(text, PATH, "staging");
    expect(parseConfigFile(text, PATH).context).toBe("staging");
    text = deleteContext(text, PATH, "staging");
    expect(listContexts(text, PATH).map((c) => c.name)).toEqual(["prod"]);
    expect(parseConfigFile(text, PATH).context).toBeUndefined();
  });

  it("a context's token never goes to another hub; a new address without a token keeps none", () => {
    let text = setContext("", PATH, "a", { hub: "https://a.example", token: "t" }, true);
    text = setContext(text, PATH, "a", { hub: "https://a.example" }, true);
    expect(parseConfigFile(text, PATH).token).toBe("t");
    text = setContext(text, PATH, "a", { hub: "https://b.example" }, true);
    expect(parseConfigFile(text, PATH).token).toBeUndefined();
    // The top-level token is not sent to a context's hub either.
    const mixed = `token: top\ncurrentContext: a\ncontexts:\n  a: { hub: "https://b.example" }\n`;
    expect(parseConfigFile(mixed, PATH)).toEqual({ hub: "https://b.example", context: "a" });
  });

  it("unknown contexts and bad names are refused, saying what to run", () => {
    const text = setContext("", PATH, "prod", { hub: "https://prod.example" }, false);
    expect(() => parseConfigFile(text, PATH, "nope")).toThrow(SettingsError);
    expect(() => parseConfigFile(text, PATH, "nope")).toThrow(
      /has no context "nope" \(known: prod\); add it with 'flotilla context add nope/,
    );
    expect(() => useContext(text, PATH, "nope")).toThrow(UsageError);
    expect(() => setContext(text, PATH, "bad name!", { hub: "http://x" }, false)).toThrow(/is not valid/);
    expect(() => parseConfigFile("contexts:\n  a: { hub: x, hubb: x }\n", PATH)).toThrow(/unknown key "hubb"/);
  });

  it("names a context after the hub's host and port", () => {
    expect(contextNameFor("https://flotilla.example.com")).toBe("flotilla.example.com");
    expect(contextNameFor("http://127.0.0.1:8080")).toBe("127.0.0.1-8080");
  });
});
