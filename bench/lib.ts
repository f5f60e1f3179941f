/**
 * The measuring library every benchmark suite uses, so figures in
 * docs/benchmarks.md are taken the same way and judged by the same rules.
 *
 * Measurements run on the calling thread: a figure is "per core" unless its
 * suite says it spreads work over worker threads or processes.
 */
import { openSync, readSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { isMainThread } from "node:worker_threads";

/** How long to measure one throughput figure. */
export interface MeasureOptions {
  /** Length of one timed window, in ms. */
  minMs: number;
  /** Untimed run first, so the JIT has compiled the hot path and the batch size is calibrated. */
  warmupMs: number;
  /** Timed windows; the median is reported because a noisy neighbour spoils one window, not all. */
  rounds?: number;
  /**
   * `thread` divides by the calling thread's CPU time instead of wall time, so
   * a CPU-bound figure stays "per core" while other processes load the machine.
   * Only for synchronous CPU-bound work: time spent waiting for I/O is not CPU
   * time. Falls back to wall time where {@link threadTimes} is unavailable.
   */
  clock?: "wall" | "thread";
}

/**
 * How a suite is asked to run: budgets are set here, once, so `--quick` shrinks
 * every suite alike. The clock is not among them: it depends on what a suite measures.
 */
export interface SuiteOptions extends Required<Omit<MeasureOptions, "clock">> {
  /** True for CI smoke runs: figures are only indicative. */
  quick: boolean;
  /** Calls timed one by one for a latency distribution. */
  latencySamples: number;
}

/** The budgets of a full run (~3.3 s per throughput figure) or a `--quick` smoke run. */
export function suiteOptions(quick: boolean): SuiteOptions {
  return quick
    ? { quick, minMs: 100, warmupMs: 20, rounds: 1, latencySamples: 200 }
    : { quick, minMs: 600, warmupMs: 300, rounds: 5, latencySamples: 3000 };
}

/**
 * What a figure is judged against. `ref` is a figure measured elsewhere (a
 * prototype, the design notes): shown for comparison, never judged.
 */
export type Target =
  | { kind: "atLeast"; value: number }
  | { kind: "atMost"; value: number }
  | { kind: "within"; min: number; max: number }
  | { kind: "ref"; value: number };

/** One line of a suite's table. */
export interface Row {
  /** Unique within its suite; comparisons refer to rows by it. */
  figure: string;
  value: number;
  unit: string;
  target?: Target;
  /** What bounds this figure, printed under the table when the target is missed. */
  bound?: string;
}

/** A ratio line such as "node:crypto is 113x tweetnacl for sign": value of `a` divided by value of `b`. */
export interface Comparison {
  a: string;
  b: string;
  say: (ratio: string) => string;
}

/** A benchmark suite; register it in `bench/suites/index.ts`. */
export interface Suite {
  /** Stable slug: the `--only` name and the section marker in docs/benchmarks.md. */
  name: string;
  title: string;
  /** One or two sentences on what is measured and how, printed under the title. */
  description?: string;
  comparisons?: readonly Comparison[];
  run(opts: SuiteOptions): Promise<Row[]>;
}

/**
 * Where results land, so V8 cannot prove a measured call useless and drop it.
 * An exported object's property is observable from outside, hence never dead.
 */
export const sink: { value: unknown } = { value: undefined };

/** Keeps a value alive; call it on a result the benchmark would otherwise ignore. */
export function consume(value: unknown): void {
  sink.value = value;
}

/**
 * Calls fn and returns its promise only when it made one: callers await just
 * that, so a sync function pays no microtask per call and its figure is not
 * diluted by the harness.
 */
function call(fn: () => unknown): Promise<unknown> | undefined {
  const result = fn();
  consume(result);
  return result instanceof Promise ? result : undefined;
}

/** Time the calling thread has spent on a CPU and waiting in the run queue for one, in ms. */
export interface ThreadTimes {
  cpuMs: number;
  waitMs: number;
  /** Times the thread has been switched in; a change means it was switched out in between. */
  slices: number;
}

// Opened once and re-read with pread: ~6 µs a read instead of ~25 µs for readFileSync,
// which matters when latency sampling reads it around every call.
let schedstat: { fd: number; buf: Buffer } | null | undefined;

/**
 * The main thread's {@link ThreadTimes} from Linux schedstat, or null on other
 * systems and in worker threads. Run-queue wait is time the thread was ready
 * but another process had the CPU: the measure of how busy the machine was.
 */
export function threadTimes(): ThreadTimes | null {
  if (schedstat === undefined) {
    try {
      schedstat = isMainThread
        ? { fd: openSync("/proc/thread-self/schedstat", "r"), buf: Buffer.alloc(128) }
        : null;
    } catch {
      schedstat = null;
    }
  }
  if (schedstat === null) return null;
  const n = readSync(schedstat.fd, schedstat.buf, 0, schedstat.buf.length, 0);
  // "<ns on cpu> <ns waiting in the run queue> <times switched in>"
  const [cpuNs = Number.NaN, waitNs = Number.NaN, slices = Number.NaN] = schedstat.buf
    .toString("latin1", 0, n)
    .split(" ")
    .map(Number);
  if (Number.isNaN(cpuNs + waitNs + slices)) throw new Error("unexpected /proc/thread-self/schedstat format");
  return { cpuMs: cpuNs / 1e6, waitMs: waitNs / 1e6, slices };
}

/**
 * Throughput of `fn` in operations per second: the median of `rounds` timed
 * windows of at least `minMs`, after `warmupMs` of untimed calls. Calls run in
 * batches of about a millisecond so the clock is read rarely for fast functions.
 */
export async function measureOps(fn: () => unknown, opts: MeasureOptions): Promise<number> {
  let warmCalls = 0;
  const warmStart = performance.now();
  do {
    const pending = call(fn);
    if (pending !== undefined) await pending;
    warmCalls++;
  } while (performance.now() - warmStart < opts.warmupMs);
  const batch = Math.max(1, Math.floor(warmCalls / Math.max(performance.now() - warmStart, 1e-3)));

  const rates: number[] = [];
  for (let r = 0; r < (opts.rounds ?? 1); r++) {
    let calls = 0;
    const cpuStart = opts.clock === "thread" ? threadTimes() : null;
    const start = performance.now();
    let elapsed = 0;
    do {
      for (let i = 0; i < batch; i++) {
        const pending = call(fn);
        if (pending !== undefined) await pending;
      }
      calls += batch;
      elapsed = performance.now() - start;
    } while (elapsed < opts.minMs);
    const cpuEnd = cpuStart === null ? null : threadTimes();
    const ms = cpuStart === null || cpuEnd === null ? elapsed : cpuEnd.cpuMs - cpuStart.cpuMs;
    rates.push((calls / ms) * 1000);
  }
  return median(rates);
}

/** Latency distribution of single calls, in microseconds. */
export interface Latency {
  p50Us: number;
  p99Us: number;
  /** Calls timed (and kept). */
  samples: number;
  /** Calls discarded because another process took the CPU during them (see `dropPreempted`). */
  preempted: number;
}

/** How to sample latency. */
export interface LatencyOptions {
  samples: number;
  /** Untimed calls first; a tenth of `samples` by default. */
  warmup?: number;
  /**
   * Discard calls during which the thread was switched out, and time more until
   * `samples` are kept (at most ten times as many), so percentiles describe a
   * core to itself as thread-clock throughput does. GC pauses still count:
   * they happen on the thread. Needs Linux schedstat; ignored elsewhere.
   */
  dropPreempted?: boolean;
}

/** Times calls one at a time, in wall time, for p50 and p99. */
export async function sampleLatency(fn: () => unknown, opts: LatencyOptions): Promise<Latency> {
  for (let i = 0; i < (opts.warmup ?? Math.ceil(opts.samples / 10)); i++) {
    const pending = call(fn);
    if (pending !== undefined) await pending;
  }
  const drop = opts.dropPreempted === true && threadTimes() !== null;
  const us: number[] = [];
  let preempted = 0;
  for (let tries = 0; us.length < opts.samples && tries < opts.samples * 10; tries++) {
    const before = drop ? threadTimes() : null;
    const start = performance.now();
    const pending = call(fn);
    if (pending !== undefined) await pending;
    const elapsedUs = (performance.now() - start) * 1000;
    // A new time slice means the thread was switched out at some point in between.
    if (before !== null && threadTimes()?.slices !== before.slices) preempted++;
    else us.push(elapsedUs);
  }
  us.sort((x, y) => x - y);
  return { p50Us: percentile(us, 50), p99Us: percentile(us, 99), samples: us.length, preempted };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error("percentile of no samples");
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return percentile(sorted, 50);
}

/** "meets", "misses by X%" or "n/a" (no target, or a reference figure). */
export function verdictOf(row: Row): string {
  const t = row.target;
  if (t === undefined || t.kind === "ref") return "n/a";
  const v = row.value;
  switch (t.kind) {
    case "atLeast":
      return v >= t.value ? "meets" : missBy(t.value - v, t.value);
    case "atMost":
      return v <= t.value ? "meets" : missBy(v - t.value, t.value);
    case "within":
      if (v < t.min) return missBy(t.min - v, t.min);
      if (v > t.max) return missBy(v - t.max, t.max);
      return "meets";
  }
}

function missBy(gap: number, target: number): string {
  const pct = (gap / target) * 100;
  return `misses by ${pct < 10 ? pct.toFixed(1) : Math.round(pct)}%`;
}
