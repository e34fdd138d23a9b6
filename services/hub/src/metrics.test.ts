import { describe, expect, it } from "vitest";
import { HubMetrics, hubVersion } from "./metrics.js";

describe("HubMetrics", () => {
  it("exports the build info and names the repo of every Git poll", async () => {
    const m = new HubMetrics();
    m.gitPollErrors.inc({ repo: "web" });
    m.gitPollDuration.observe({ repo: "web" }, 0.2);
    const text = await m.registry.metrics();
    expect(hubVersion()).toMatch(/^\d+\.\d+\.\d+/);
    expect(text).toContain(
      `flotilla_build_info{component="hub",version="${hubVersion()}",commit="${process.env.FLOTILLA_BUILD_COMMIT || "unknown"}"} 1`,
    );
    expect(text).toContain('flotilla_hub_git_poll_errors_total{repo="web"} 1');
    expect(text).toContain('flotilla_hub_git_poll_duration_seconds_count{repo="web"} 1');
  });
});
