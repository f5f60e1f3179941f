/**
 * Disk and CPU headroom readings. A narrow interface over systeminformation so
 * the two headroom checks depend on two numbers, not on a library.
 */
import si from "systeminformation";

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

/**
 * The real readings. The CPU sample waits on a real timer, not the injected
 * Clock: load is CPU time over wall time, so only real time measures it.
 */
export function createSystemInfo(): SystemInfo {
  return {
    async fsSize() {
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
      // systeminformation reports load since its previous call, so the first
      // call opens the window and the second closes it.
      await si.currentLoad();
      await new Promise((resolve) => setTimeout(resolve, sampleMs));
      return (await si.currentLoad()).currentLoad;
    },
  };
}
