/**
 * The registry of benchmark suites, in the order `pnpm bench` runs them and
 * docs/benchmarks.md lists them.
 *
 * To add a suite: write `bench/suites/<name>.ts` exporting a `Suite` (see
 * `bench/lib.ts`; measure with `measureOps` and `sampleLatency`, take budgets
 * from the options so `--quick` stays quick, put the target on each
 * row), then add it to the list below. Its name is the `--only` argument and
 * the `<!-- suite:<name> -->` marker of its section in docs/benchmarks.md.
 */
import type { Suite } from "../lib.js";
import { agentSuite } from "./agent.js";
import { connectionsSuite } from "./connections.js";
import { cryptoSuite } from "./crypto.js";
import { dashboardSuite } from "./dashboard.js";
import { executorSuite } from "./executor.js";
import { guardrailsSuite } from "./guardrails.js";
import { ingestSuite } from "./ingest.js";
import { packetsSuite } from "./packets.js";
import { plannerSuite } from "./planner.js";
import { wormSuite } from "./worm.js";

/** Every registered suite, in run order. */
export const SUITES: readonly Suite[] = [
  cryptoSuite,
  executorSuite,
  agentSuite,
  guardrailsSuite,
  ingestSuite,
  connectionsSuite,
  plannerSuite,
  wormSuite,
  packetsSuite,
  dashboardSuite,
];
