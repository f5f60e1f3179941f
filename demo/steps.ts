/**
 * The demo's output: one line per step with its duration and the time since
 * the start, followed by a few indented detail lines. A failing step prints
 * which step failed and why, and the error propagates.
 */
import { DemoError } from "./errors.js";

/** A step's result: detail lines to print under it, and a value for later steps. */
export interface StepResult<T> {
  lines: string[];
  value: T;
}

/** The step runner. */
export interface Steps {
  run<T>(title: string, fn: () => Promise<StepResult<T>>): Promise<T>;
  /** Milliseconds per step title, in order. */
  timings(): { step: string; ms: number }[];
  elapsedMs(): number;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Creates the runner writing to `out`. */
export function createSteps(out: (line: string) => void): Steps {
  const started = performance.now();
  const done: { step: string; ms: number }[] = [];
  return {
    async run(title, fn) {
      const n = done.length + 1;
      const t0 = performance.now();
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        result = await fn();
      } catch (e) {
        const why =
          e instanceof DemoError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
        out(`${String(n).padStart(2)}. FAILED  ${title}`);
        out(`      ${why.split("\n").join("\n      ")}`);
        throw e;
      }
      const ms = performance.now() - t0;
      done.push({ step: title, ms: Math.round(ms) });
      const head = `${String(n).padStart(2)}. ${title}`;
      out(`${head.padEnd(78)} ${secs(ms).padStart(7)}  [${secs(performance.now() - started)}]`);
      for (const line of result.lines) out(`      ${line}`);
      return result.value;
    },
    timings: () => [...done],
    elapsedMs: () => Math.round(performance.now() - started),
  };
}
