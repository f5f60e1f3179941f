import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, expect, it } from "vitest";
import { migrate, openDatabase } from "../db/index.js";
import { GUARDRAIL_MIGRATIONS } from "./migrations.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./consume-child.fixture.ts", import.meta.url));
const SHARED_SRC = fileURLToPath(new URL("../../../shared/src/index.ts", import.meta.url));

const WORKERS = 4;
const ATTEMPTS = 50;
const LIMIT = 100;

interface ChildReport {
  worker: number;
  admitted: number;
  refusals: string[];
  firstAt: number;
  lastAt: number;
}

let dir: string;
let children: ChildProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "guardrails-race-"));
});
afterEach(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  children = [];
  rmSync(dir, { recursive: true, force: true });
});

/** Starts one child and resolves once it has opened the database and is waiting for "go". */
function start(
  worker: number,
  dbPath: string,
  tsconfig: string,
): Promise<{ child: ChildProcess; report: Promise<ChildReport> }> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: {
      ...process.env,
      GUARD_DB: dbPath,
      WORKER: String(worker),
      ATTEMPTS: String(ATTEMPTS),
      CLINIC_LIMIT: String(LIMIT),
      NOW_MS: String(Date.parse("2026-03-01T10:00:00.000Z")),
      // Map @msp/shared to its source, as vitest does, so the child runs the code under test.
      TSX_TSCONFIG_PATH: tsconfig,
    },
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const report = new Promise<ChildReport>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.startsWith("ready\n")) onReady();
    });
    child.on("exit", (code) => {
      const line = out.split("\n")[1];
      if (code !== 0 || line === undefined || line === "") {
        reject(new Error(`child ${worker} exited ${code}; stderr:\n${err}`));
      } else resolve(JSON.parse(line) as ChildReport);
    });
  });
  return Promise.race([
    ready.then(() => ({ child, report })),
    report.then(() => Promise.reject(new Error("no ready"))),
  ]);
}

it(`${WORKERS} processes x ${ATTEMPTS} concurrent consumes on one file against a limit of ${LIMIT} admit exactly ${LIMIT}`, async () => {
  const dbPath = join(dir, "cp.db");
  const db = openDatabase(dbPath);
  migrate(db, GUARDRAIL_MIGRATIONS);
  const tsconfig = join(dir, "tsconfig.child.json");
  writeFileSync(tsconfig, JSON.stringify({ compilerOptions: { paths: { "@msp/shared": [SHARED_SRC] } } }));

  const started = await Promise.all(Array.from({ length: WORKERS }, (_, w) => start(w, dbPath, tsconfig)));
  for (const s of started) s.child.stdin?.end("go\n");
  const reports = await Promise.all(started.map((s) => s.report));

  const admitted = reports.reduce((n, r) => n + r.admitted, 0);
  const refusals = reports.flatMap((r) => r.refusals);
  expect(admitted).toBe(LIMIT);
  expect(refusals).toHaveLength(WORKERS * ATTEMPTS - LIMIT);
  expect(new Set(refusals)).toEqual(new Set(["clinic"]));
  const stored = db
    .prepare("SELECT count(*) AS n FROM guardrail_actions WHERE client_id = 'clinic-race'")
    .get();
  expect(stored).toEqual({ n: LIMIT });

  // The race was real: at least two processes were consuming at the same time.
  const overlapping = reports.some((a) =>
    reports.some((b) => a.worker !== b.worker && a.firstAt < b.lastAt && b.firstAt < a.lastAt),
  );
  expect(
    overlapping,
    JSON.stringify(reports.map(({ worker, firstAt, lastAt }) => ({ worker, firstAt, lastAt }))),
  ).toBe(true);
  db.close();
});
