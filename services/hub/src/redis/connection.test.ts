import { describe, expect, it } from "vitest";
import { redactRedisUrl } from "./connection.js";

describe("redactRedisUrl", () => {
  it("drops username and password, keeps host, port and database", () => {
    expect(redactRedisUrl("redis://user:secret@redis.example:6380/2")).toBe("redis://redis.example:6380/2");
    expect(redactRedisUrl("rediss://:secret@10.0.0.1:6379")).toBe("rediss://10.0.0.1:6379");
    expect(redactRedisUrl("redis://127.0.0.1:6379")).toBe("redis://127.0.0.1:6379");
  });

  it("prints nothing of a URL it cannot parse, which might hold a password", () => {
    expect(redactRedisUrl("not a url:secret")).not.toContain("secret");
  });
});
