/**
 * Prometheus text-format metrics. Counters are incremented where things
 * happen; gauges are read at scrape time from a callback, so a queue depth is
 * never stale. Label values are escaped per the exposition format.
 */

type Labels = Record<string, string>;

/** A monotonically increasing counter with optional labels. */
export interface Counter {
  inc(labels?: Labels, by?: number): void;
  get(labels?: Labels): number;
}

export interface Metrics {
  counter(name: string, help: string): Counter;
  /** A gauge whose samples are read from `collect` at scrape time. */
  gauge(name: string, help: string, collect: () => number | { labels: Labels; value: number }[]): void;
  /** The exposition text. */
  render(): string;
}

const NAME = /^[a-z_][a-z0-9_]*$/;
const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? "" : `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? "")}"`).join(",")}}`;
};

export function createMetrics(): Metrics {
  const families: {
    name: string;
    help: string;
    type: "counter" | "gauge";
    samples: () => [string, number][];
  }[] = [];
  const register = (name: string) => {
    if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
    if (families.some((f) => f.name === name)) throw new Error(`metric ${name} registered twice`);
  };
  return {
    counter(name, help) {
      register(name);
      const values = new Map<string, number>();
      families.push({ name, help, type: "counter", samples: () => [...values.entries()] });
      return {
        inc(labels = {}, by = 1) {
          const key = labelText(labels);
          values.set(key, (values.get(key) ?? 0) + by);
        },
        get(labels = {}) {
          return values.get(labelText(labels)) ?? 0;
        },
      };
    },
    gauge(name, help, collect) {
      register(name);
      families.push({
        name,
        help,
        type: "gauge",
        samples: () => {
          const v = collect();
          return typeof v === "number" ? [["", v]] : v.map((s) => [labelText(s.labels), s.value]);
        },
      });
    },
    render() {
      const lines: string[] = [];
      for (const f of families) {
        lines.push(`# HELP ${f.name} ${f.help.replace(/\n/g, " ")}`, `# TYPE ${f.name} ${f.type}`);
        for (const [labels, value] of f.samples()) lines.push(`${f.name}${labels} ${value}`);
      }
      return `${lines.join("\n")}\n`;
    },
  };
}
