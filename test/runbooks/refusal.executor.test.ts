/**
 * Refusals with the real library: a runbook script modified after
 * cataloguing is never run and yields a signed runbook_refusal bundle naming
 * the file and both hashes, and parameter injection attempts against the real
 * runbooks are rejected before any script starts, leaving the target as it was.
 */
import {
  appendFileSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUNBOOKS_DIR } from "../../runbooks/build-catalog.js";
import {
  expectPinned,
  expectSealed,
  incident,
  type LibraryExecutor,
  libraryExecutor,
} from "./executor-harness.js";
import { sandbox } from "./helpers.js";

const box = sandbox("msp-rbx-refusal-");
let sources: string;
let targets: string;
let data: string;
let marker: string;

beforeAll(() => {
  sources = box.mkdir("sources");
  targets = box.mkdir("targets");
  data = box.mkdir("sources", "clinic");
  writeFileSync(join(data, "visit-notes.txt"), "patient 17\n");
  marker = join(box.dir, "tampered-script-ran");
});
afterAll(() => box.cleanup());

/** A private copy of the real library (YAML, scripts, catalog), which a test may then tamper with. */
function libraryCopy(name: string): string {
  const dir = box.mkdir(name);
  cpSync(RUNBOOKS_DIR, dir, { recursive: true, filter: (src) => !/\.(ts|md)$/.test(src) });
  return dir;
}

const roots = () => ({ backup_sources: [sources], backup_targets: [targets] });
const backupParams = () => ({ source_dir: data, repository_dir: join(targets, "clinic") });

describe("a modified runbook script", () => {
  it("is refused when changed after the executor loaded the library, with signed evidence naming both hashes", async () => {
    const lib = libraryCopy("lib-after");
    const h = libraryExecutor({ path_roots: roots() }, lib);
    try {
      const script = join(lib, "scripts", "backup_run.sh");
      const pinned = sha256Hex(readFileSync(script));
      appendFileSync(script, `touch ${JSON.stringify(marker)}\n`);
      const actual = sha256Hex(readFileSync(script));

      const b = await h.run({
        runbookId: "RB-BACKUP-001",
        params: backupParams(),
        incident: incident("backup_failure", 1),
      });
      expectSealed(h, b);
      expectPinned(h, b, "RB-BACKUP-001", 60);
      expect(b.kind).toBe("runbook_refusal");
      expect(b.actions_taken).toEqual([]);
      expect(b.runbook?.steps_executed).toBe(0);
      expect(b.execution).toMatchObject({
        outcome: "refused",
        reason: `scripts/backup_run.sh does not match its pin: catalog sha256 ${pinned}, file has sha256 ${actual}`,
      });
      // Nothing ran: not the tampered script, not even the steps before it.
      expect(existsSync(marker)).toBe(false);
      expect(readdirSync(targets)).toEqual([]);
    } finally {
      h.close();
    }
  });

  it("makes its runbook refused at load, and a request for it yields a signed refusal", async () => {
    const lib = libraryCopy("lib-before");
    appendFileSync(join(lib, "scripts", "backup_verify.sh"), `touch ${JSON.stringify(marker)}\n`);
    const h = libraryExecutor({ path_roots: roots() }, lib);
    try {
      expect(h.exec.list().find((r) => r.id === "RB-BACKUP-001")).toMatchObject({
        status: "refused",
        reason: expect.stringMatching(/^scripts\/backup_verify\.sh does not match its pin/),
      });
      expect(h.exec.list().filter((r) => r.status === "ready")).toHaveLength(5);
      const b = await h.run({ runbookId: "RB-BACKUP-001", params: backupParams() });
      expectSealed(h, b);
      expect(b.kind).toBe("runbook_refusal");
      expect(b.actions_taken).toEqual([]);
      expect(b.runbook).toMatchObject({ runbook_id: "RB-BACKUP-001", steps_executed: 0 });
      expect(b.execution?.reason).toMatch(
        /^runbook RB-BACKUP-001 is refused: scripts\/backup_verify\.sh does not match its pin/,
      );
      expect(existsSync(marker)).toBe(false);
      expect(readdirSync(targets)).toEqual([]);
    } finally {
      h.close();
    }
  });
});

describe("parameter injection against the real runbooks", () => {
  let h: LibraryExecutor;
  beforeAll(() => {
    symlinkSync("/etc", join(targets, "escape"));
    h = libraryExecutor({
      path_roots: roots(),
      service_allowlist: ["clinic-api"],
      service_manager: "supervisor",
      supervisorConf: join(box.dir, "no-supervisor.conf"),
    });
  });
  afterAll(() => h?.close());

  it.each<[string, string, Record<string, unknown>, RegExp]>([
    [
      "command separator",
      "RB-SERVICE-001",
      { service_name: "clinic-api; rm -rf /" },
      /service_name: contains a shell metacharacter/,
    ],
    [
      "command substitution",
      "RB-SERVICE-001",
      { service_name: "$(touch /tmp/msp-pwned)" },
      /service_name: contains a shell metacharacter/,
    ],
    ["backticks", "RB-CPU-001", { process_name: "`reboot`" }, /process_name: contains a shell metacharacter/],
    [
      "traversal in a name",
      "RB-SERVICE-001",
      { service_name: "../../etc" },
      /service_name: "\.\.\/\.\.\/etc" does not match/,
    ],
    [
      "relative traversal path",
      "RB-BACKUP-001",
      { source_dir: "../../etc", repository_dir: "/x" },
      /source_dir: must be an absolute path/,
    ],
    [
      "traversal out of a root",
      "RB-RESTORE-001",
      { repository_dir: "TARGETS/../../../etc" },
      /repository_dir: must not contain "\.\." segments/,
    ],
    [
      "symlink out of a root",
      "RB-RESTORE-001",
      { repository_dir: "TARGETS/escape" },
      /repository_dir: .* resolves to "\/etc", outside the "backup_targets" roots/,
    ],
    [
      "undeclared parameter",
      "RB-DISK-001",
      { target_dir: "/", command: "rm -rf /" },
      /"command" is not a declared parameter/,
    ],
    [
      "injection in an integer",
      "RB-CERT-001",
      { cert_path: "/c", key_path: "/k", validity_days: "1; reboot" },
      /validity_days: must be an integer/,
    ],
  ])("rejects %s before any script runs", async (_label, runbookId, raw, why) => {
    const params = Object.fromEntries(
      Object.entries(raw).map(([k, v]) => [k, typeof v === "string" ? v.replace("TARGETS", targets) : v]),
    );
    const before = h.sink.bundles.length;
    const b = await h.run({ runbookId, params });
    expect(h.sink.bundles).toHaveLength(before + 1);
    expectSealed(h, b);
    expectPinned(h, b, runbookId, 0);
    expect(b.kind).toBe("runbook_refusal");
    expect(b.actions_taken).toEqual([]);
    expect(b.execution?.outcome).toBe("refused");
    expect(b.execution?.reason).toMatch(/^invalid parameters: /);
    expect(b.execution?.reason).toMatch(why);
    // Nothing was started: no run directory was even made, and nothing changed on the target.
    expect(readdirSync(join(h.stateDir, "runbooks", "runs"))).toEqual([]);
    expect(readdirSync(join(h.stateDir, "runbooks", "state"))).toEqual([]);
    expect(readdirSync(targets)).toEqual(["escape"]);
    expect(existsSync("/tmp/msp-pwned")).toBe(false);
  });
});
