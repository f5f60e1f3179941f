import { describe, expect, it } from "vitest";
import { createMetrics } from "./index.js";

describe("metrics", () => {
  it("renders counters and gauges in Prometheus text format with escaped labels", () => {
    const m = createMetrics();
    const c = m.counter("msp_rejections_total", "Frames rejected, by reason.");
    c.inc({ reason: "malformed" });
    c.inc({ reason: "malformed" });
    c.inc({ reason: 'a"b\\c' });
    m.gauge("msp_agents_connected", "Agents connected now.", () => 3);
    m.gauge("msp_queue_depth", "Queue depth.", () => [{ labels: { queue: "worm" }, value: 7 }]);
    expect(m.render()).toBe(
      [
        "# HELP msp_rejections_total Frames rejected, by reason.",
        "# TYPE msp_rejections_total counter",
        'msp_rejections_total{reason="malformed"} 2',
        'msp_rejections_total{reason="a\\"b\\\\c"} 1',
        "# HELP msp_agents_connected Agents connected now.",
        "# TYPE msp_agents_connected gauge",
        "msp_agents_connected 3",
        "# HELP msp_queue_depth Queue depth.",
        "# TYPE msp_queue_depth gauge",
        'msp_queue_depth{queue="worm"} 7',
        "",
      ].join("\n"),
    );
    expect(c.get({ reason: "malformed" })).toBe(2);
  });

  it("refuses bad and duplicate names", () => {
    const m = createMetrics();
    m.counter("ok_total", "x");
    expect(() => m.counter("ok_total", "x")).toThrow(/twice/);
    expect(() => m.counter("Bad-Name", "x")).toThrow(/bad metric name/);
  });
});
