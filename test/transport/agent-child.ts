/**
 * A real agent process for kill tests: the real SQLite outbox plus the real
 * transport. It announces `{"ready":true}`, then appends `produce` drift
 * bundles, printing `seq=N` after each durable append, and streams them to the
 * control plane at `url` (which may be down). Config is one JSON argument.
 */
import { readFileSync } from "node:fs";
import { createOutbox } from "../../agent/src/outbox/index.js";
import { createTransport } from "../../agent/src/transport/index.js";
import { signingKeyFromSeed, systemClock } from "../../shared/src/index.js";

interface ChildConfig {
  dbPath: string;
  evidenceSeed: string;
  controlPlanePublicKey: string;
  url: string;
  ca: string;
  cert: string;
  key: string;
  who: { agent_id: string; client_id: string };
  produce: number;
}

const config = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as ChildConfig;
const outbox = createOutbox({
  dbPath: config.dbPath,
  signingKey: signingKeyFromSeed(Buffer.from(config.evidenceSeed, "base64")),
  identity: { ...config.who, hostname: config.who.agent_id },
  maxBytes: 256 << 20,
  clock: systemClock,
  controlPlanePublicKey: config.controlPlanePublicKey,
});
const transport = createTransport({
  url: config.url,
  ca: Buffer.from(config.ca),
  cert: Buffer.from(config.cert),
  key: Buffer.from(config.key),
  hello: {
    ...config.who,
    hostname: config.who.agent_id,
    agent_version: "0.1.0-test",
    catalog_sha256: "d".repeat(64),
  },
  outbox,
  onCommand: async () => {},
  sendWindow: 32,
  backoff: { initialMs: 20, maxMs: 200 },
});
process.stdout.write(`${JSON.stringify({ ready: true, head: outbox.head() })}\n`);
transport.start();
for (let i = 0; i < config.produce; i++) {
  const bundle = await outbox.append({
    kind: "drift_check",
    incident: null,
    runbook: null,
    actions_taken: [],
    drift: {
      baseline_id: "hipaa-v1",
      baseline_version: "1.0.0",
      results: [
        {
          check_id: "backup_fresh",
          status: "pass",
          citation: ["164.308(a)(7)(ii)(A)"],
          observed: `cycle ${i}`,
          expected: "< 24h",
          reason: null,
          exception: null,
          event_type: null,
        },
      ],
    },
    hipaa_controls: ["164.308(a)(7)(ii)(A)"],
    execution: null,
    outputs: {},
  });
  process.stdout.write(`seq=${bundle.seq}\n`);
  transport.notify();
}
process.stdout.write("produced\n");
