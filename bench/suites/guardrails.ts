/**
 * Guardrails: what the incident pipeline pays per request before planning.
 * Validation is pure CPU; the rate limiter and the breakers run on a real
 * database file (WAL, synchronous = FULL), so `consume`, which commits, pays
 * an fsync each time. Targets are the seed's (validation < 5 ms, rate-limit
 * check < 10 ms); the seed's observed figures are shown as references.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase } from "../../control-plane/src/db/index.js";
import {
  createBreakers,
  createRateLimiter,
  createValidator,
  GUARDRAIL_MIGRATIONS,
} from "../../control-plane/src/guardrails/index.js";
import { parseYamlText, RunbookDefinition } from "../../shared/src/index.js";
import { measureOps, type Row, type Suite, sampleLatency } from "../lib.js";

/** Figure names, shared by rows and comparisons. */
export const F = {
  incidentP50: "validate incident (3 details) p50",
  incidentP99: "validate incident (3 details) p99",
  incidentMaxP99: "validate incident (32 details of 500 chars, the largest allowed) p99",
  paramsP50: "validate RB-SERVICE-001 params p50",
  paramsP99: "validate RB-SERVICE-001 params p99",
  paramsOps: "validate RB-SERVICE-001 params",
  hostileP99: "refuse hostile params (`$(curl x|sh)`) p99",
  consumeP50: "rate limit consume (file DB, ~1,000 actions in window) p50",
  consumeP99: "rate limit consume (file DB, ~1,000 actions in window) p99",
  checkP50: "rate limit check, read-only (file DB) p50",
  checkP99: "rate limit check, read-only (file DB) p99",
  breakerP99: "breaker allow + recordSuccess, closed (file DB) p99",
} as const;

/** The guardrails suite. */
export const guardrailsSuite: Suite = {
  name: "guardrails",
  title: "Guardrails (one core, file-backed SQLite)",
  description:
    "Validator on the real RB-SERVICE-001 definition; rate limiter with the default limits on a database file " +
    "whose window holds ~1,000 actions (the global hourly limit), one action every 3.7 s of fake time over 100 " +
    "clinics, so every consume is admitted and commits (fsync). Latencies are single calls in wall time; " +
    "validation drops calls preempted by other processes, database calls cannot (an fsync always switches out).",
  comparisons: [
    { a: F.consumeP50, b: F.checkP50, say: (r) => `a committing consume costs ${r}x a read-only check` },
  ],
  async run(opts) {
    const file = new URL("../../runbooks/RB-SERVICE-001.yaml", import.meta.url);
    const service = RunbookDefinition.parse(parseYamlText(readFileSync(file, "utf8"), file.pathname));
    const validator = createValidator({ allowedServices: () => ["nginx", "postgresql@14", "backup-agent"] });
    const incident = {
      incident_id: "INC-20260301-0001",
      client_id: "clinic-a",
      hostname: "srv1",
      incident_type: "service_crash",
      severity: "high",
      detected_at: "2026-03-01T10:00:00Z",
      source: "drift_check",
      check_id: "services",
      details: { service_name: "nginx", exit_code: 137, message: 'unit "nginx" exited (code=killed)' },
    };
    const largest = {
      ...incident,
      details: Object.fromEntries(
        Array.from({ length: 32 }, (_, i) => [
          `detail_${i}`,
          `line ${i}: ${"backup of /srv/ehr took too long ".repeat(15)}`.slice(0, 500),
        ]),
      ),
    };
    const params = { service_name: "postgresql@14", log_lines: 50 };
    const hostile = { service_name: "$(curl x|sh)", log_lines: 50 };

    // Benchmark the intended paths only, and prove each is that path before timing it.
    const checks: [string, boolean][] = [
      ["incident passes", validator.incident(incident).ok],
      ["largest incident passes", validator.incident(largest).ok],
      ["params pass", validator.params("clinic-a", service, params).ok],
      ["hostile params refused", !validator.params("clinic-a", service, hostile).ok],
    ];

    const dir = mkdtempSync(join(tmpdir(), "bench-guardrails-"));
    const db = openDatabase(join(dir, "cp.db"));
    try {
      migrate(db, GUARDRAIL_MIGRATIONS);
      let nowMs = Date.parse("2026-03-01T00:00:00.000Z");
      const clock = { now: () => new Date(nowMs), sleep: async () => {} };
      const limiter = createRateLimiter({ db, clock });
      let n = 0;
      const nextAction = () => {
        n++;
        nowMs += 3700;
        return { clientId: `clinic-${n % 100}`, hostname: `host-${n}`, runbookId: "RB-DISK-001" };
      };
      // Fill the window first, so counts run over as many rows as the global limit allows.
      for (let i = 0; i < 1000; i++) limiter.consume(nextAction());
      checks.push(["window is full", limiter.state("clinic-1").global.used > 900]);
      checks.push(["consume admits", limiter.consume(nextAction()).allowed]);
      const breakers = createBreakers({ clock, db });
      const breaker = breakers.get("runbook:RB-DISK-001");
      checks.push(["breaker closed", breaker.allow().allowed]);
      const failed = checks.filter(([, ok]) => !ok).map(([name]) => name);
      if (failed.length > 0) throw new Error(`guardrails suite sanity checks failed: ${failed.join(", ")}`);

      const cpu = (fn: () => unknown) =>
        sampleLatency(fn, { samples: opts.latencySamples, dropPreempted: true });
      // Database calls block in fsync, which always switches the thread out: keep every sample.
      const io = (fn: () => unknown) => sampleLatency(fn, { samples: Math.min(opts.latencySamples, 1000) });

      const inc = await cpu(() => validator.incident(incident));
      const incMax = await cpu(() => validator.incident(largest));
      const par = await cpu(() => validator.params("clinic-a", service, params));
      const bad = await cpu(() => validator.params("clinic-a", service, hostile));
      const consume = await io(() => {
        const d = limiter.consume(nextAction());
        if (!d.allowed) throw new Error(`benchmark action refused by ${d.limit}`);
        return d;
      });
      const probe = { clientId: "clinic-7", hostname: "host-probe", runbookId: "RB-DISK-001" };
      const check = await io(() => limiter.check(probe));
      const br = await io(() => {
        breaker.allow();
        breaker.recordSuccess();
      });

      const rows: Row[] = [
        { figure: F.incidentP50, value: inc.p50Us, unit: "µs", target: { kind: "ref", value: 1000 } },
        { figure: F.incidentP99, value: inc.p99Us, unit: "µs", target: { kind: "atMost", value: 5000 } },
        {
          figure: F.incidentMaxP99,
          value: incMax.p99Us,
          unit: "µs",
          target: { kind: "atMost", value: 5000 },
        },
        { figure: F.paramsP50, value: par.p50Us, unit: "µs", target: { kind: "ref", value: 1000 } },
        { figure: F.paramsP99, value: par.p99Us, unit: "µs", target: { kind: "atMost", value: 5000 } },
        {
          figure: F.paramsOps,
          value: await measureOps(() => validator.params("clinic-a", service, params), {
            ...opts,
            clock: "thread",
          }),
          unit: "ops/s",
        },
        { figure: F.hostileP99, value: bad.p99Us, unit: "µs", target: { kind: "atMost", value: 5000 } },
        { figure: F.consumeP50, value: consume.p50Us, unit: "µs", target: { kind: "ref", value: 2000 } },
        {
          figure: F.consumeP99,
          value: consume.p99Us,
          unit: "µs",
          target: { kind: "atMost", value: 10_000 },
          bound: "one fsync per commit (synchronous = FULL): the disk's flush latency, not the queries",
        },
        { figure: F.checkP50, value: check.p50Us, unit: "µs", target: { kind: "ref", value: 2000 } },
        { figure: F.checkP99, value: check.p99Us, unit: "µs", target: { kind: "atMost", value: 10_000 } },
        { figure: F.breakerP99, value: br.p99Us, unit: "µs" },
      ];
      return rows;
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
