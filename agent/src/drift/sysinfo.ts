/**
 * Disk and CPU headroom readings. A narrow interface over systeminformation so
 * the two headroom checks depend on two numbers, not on a library.
 *
 * systeminformation is loaded on the first reading, not at import: it is the
 * largest library in the agent (about 420 KB of the bundle) and initialising it
 * costs an idle daemon several MB of memory for checks that run once an hour.
 * The esbuild bundle still contains it (a dynamic import of a bare specifier is
 * bundled; `test/agent-binary` runs the headroom checks from the executable).
 */

/** One mounted filesystem, as the headroom check needs it. */
export interface FsUsage {
  mount: string;
  fs: string;
  sizeBytes: number;
  usedBytes: number;
  usedPercent: number;
}

/** What the headroom checks read from the host. */
export interface SystemInfo {
  fsSize(): Promise<FsUsage[]>;
  /** Average CPU load in percent (all cores) over the next `sampleMs` milliseconds. */
  cpuLoadPercent(sampleMs: number): Promise<number>;
}

type Si = typeof import("systeminformation");
let loading: Promise<Si> | undefined;

/** The library, loaded once by whichever reading comes first. */
function systeminformation(): Promise<Si> {
  loading ??= import("systeminformation").then((m) => (m as { default?: Si }).default ?? m);
  return loading;
}

/**
 * The real readings. The CPU sample waits on a real timer, not the injected
 * Clock: load is CPU time over wall time, so only real time measures it.
 */
export function createSystemInfo(): SystemInfo {
  return {
    async fsSize() {
      const si = await systeminformation();
      const list = await si.fsSize();
      return list.map((f) => ({
        mount: f.mount,
        fs: f.fs,
        sizeBytes: f.size,
        usedBytes: f.used,
        // df's Use%: used over (used + available), so root-reserved blocks count as full.
        usedPercent: Number.isFinite(f.use) ? f.use : f.size > 0 ? (f.used / f.size) * 100 : 0,
      }));
    },
    async cpuLoadPercent(sampleMs) {
      const si = await systeminformation();
      // systeminformation reports load since its previous call, so the first
      // call opens the window and the second closes it.
      await si.currentLoad();
      await new Promise((resolve) => setTimeout(resolve, sampleMs));
      return (await si.currentLoad()).currentLoad;
    },
  };
}
