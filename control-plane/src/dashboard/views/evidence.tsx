/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
/**
 * Evidence search (clinic, agent, kind, time) and one bundle with the
 * server's verification (signature, body, chain link, checkpoint, WORM
 * retention) beside the browser's own: the raw stored body and the agent's
 * public key go to the page, and app.js canonicalizes and verifies there.
 */
import type { BundleSummary, StoredBundle } from "../../evidence/index.js";
import type { PacketRecord } from "../../packets/index.js";
import type { Clinic } from "../../registry/index.js";
import type { CheckpointStatus, WormStatus } from "../queries.js";

export const KINDS = [
  "drift_check",
  "runbook_execution",
  "restore_test",
  "runbook_refusal",
  "runbook_interrupted",
  "local_alert",
] as const;

export interface EvidenceFilter {
  clinic: string;
  agent: string;
  kind: string;
  from: string;
  to: string;
}

function Packets(props: { packets: PacketRecord[] }) {
  if (props.packets.length === 0) return <p>No compliance packets generated for this clinic yet.</p>;
  return (
    <div class="scroll">
      <table>
        <caption>Signed monthly compliance packets</caption>
        <thead>
          <tr>
            <th scope="col">Month</th>
            <th scope="col">Generated</th>
            <th scope="col">Files</th>
            <th scope="col">WORM</th>
          </tr>
        </thead>
        <tbody>
          {props.packets.map((p) => (
            <tr>
              <th scope="row">{p.month}</th>
              <td class="mono">{p.generated_at}</td>
              <td>
                {[...p.files.map((f) => f.name), "signature.json"].map((name) => (
                  <a
                    class="badge none"
                    download
                    href={`/dashboard/clinics/${encodeURIComponent(p.client_id)}/packets/${encodeURIComponent(p.packet_id)}/${name}`}
                  >
                    {name}
                  </a>
                ))}
                {p.pdf_error ? <span> (no PDF: {p.pdf_error})</span> : null}
              </td>
              <td>{p.worm.every((w) => w.state === "uploaded") ? "uploaded" : "pending"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function EvidenceSearch(props: {
  packets: PacketRecord[];
  clinics: Clinic[];
  filter: EvidenceFilter;
  bundles: BundleSummary[];
  next: string | null;
  nextHref: string | null;
}) {
  const f = props.filter;
  return (
    <div>
      <form class="filters" method="get" action="/dashboard/evidence" aria-label="Search evidence">
        <div>
          <label for="e-clinic">Clinic</label>
          <select id="e-clinic" name="clinic">
            {props.clinics.map((c) => (
              <option value={c.client_id} selected={c.client_id === f.clinic}>
                {c.name} ({c.client_id})
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="e-agent">Agent</label>
          <input id="e-agent" name="agent" value={f.agent} />
        </div>
        <div>
          <label for="e-kind">Kind</label>
          <select id="e-kind" name="kind">
            <option value="">Any</option>
            {KINDS.map((k) => (
              <option value={k} selected={k === f.kind}>
                {k}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="e-from">From (UTC)</label>
          <input id="e-from" name="from" type="datetime-local" value={f.from} />
        </div>
        <div>
          <label for="e-to">Before (UTC)</label>
          <input id="e-to" name="to" type="datetime-local" value={f.to} />
        </div>
        <button type="submit">Search</button>
      </form>
      <div class="scroll">
        <table>
          <caption>Bundles, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Bundle</th>
              <th scope="col">Agent</th>
              <th scope="col">Seq</th>
              <th scope="col">Kind</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {props.bundles.map((b) => (
              <tr>
                <th scope="row">
                  <a href={`/dashboard/clinics/${encodeURIComponent(b.client_id)}/evidence/${b.sha256}`}>
                    {b.bundle_id}
                  </a>
                </th>
                <td>{b.agent_id}</td>
                <td>{b.seq}</td>
                <td>{b.kind}</td>
                <td class="mono">{b.created_at}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {props.bundles.length === 0 ? <p>No bundles match.</p> : null}
      {props.nextHref ? (
        <p>
          <a href={props.nextHref}>Older bundles</a>
        </p>
      ) : null}
      <h2>Compliance packets</h2>
      <Packets packets={props.packets} />
    </div>
  );
}

const yes = (ok: boolean | null, text: [string, string, string?]) =>
  ok === null ? (
    <span>{text[2] ?? "unknown"}</span>
  ) : (
    <span class={ok ? "pass" : "fail"}>{ok ? text[0] : text[1]}</span>
  );

/** Embeds JSON in a script element: `<` is escaped so the text cannot close the element. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

export interface BundlePageData {
  stored: StoredBundle;
  raw: string;
  publicKey: string | null;
  serverSigningText: string;
  worm: WormStatus | null;
  wormStorage: "s3" | "local";
  checkpoint: CheckpointStatus;
  downloadHref: string;
}

export function BundleView(props: BundlePageData) {
  const s = props.stored;
  const v = s.verification;
  const w = props.worm;
  const cp = props.checkpoint;
  return (
    <div>
      <dl class="facts">
        <dt>Clinic / agent</dt>
        <dd>
          {s.client_id} / {s.agent_id} (seq {s.seq})
        </dd>
        <dt>Kind</dt>
        <dd>{s.kind}</dd>
        <dt>Created</dt>
        <dd class="mono">{s.created_at}</dd>
        <dt>sha256</dt>
        <dd class="mono">{s.sha256}</dd>
        <dt>Previous</dt>
        <dd class="mono">{s.prev_hash}</dd>
      </dl>
      <div class="verdicts">
        <section class="card" aria-labelledby="server-h">
          <h2 id="server-h">Server verification</h2>
          <dl class="facts">
            <dt>Signature</dt>
            <dd id="server-signature" class={v.signature === "valid" ? "pass" : "fail"}>
              {v.signature}
            </dd>
            <dt>Stored body</dt>
            <dd>{yes(v.body_intact, ["intact (hash matches)", "ALTERED (hash differs)"])}</dd>
            <dt>Chain</dt>
            <dd>
              {yes(v.linked_to_previous, [
                "linked to the previous bundle",
                "BROKEN link",
                "previous bundle missing",
              ])}
              {v.acknowledged ? ", acknowledged" : ", not yet covered by an ack"}
              {v.anomalies.length > 0 ? `; anomalies: ${v.anomalies.map((a) => a.kind).join(", ")}` : ""}
            </dd>
            <dt>Checkpoint</dt>
            <dd id="checkpoint">
              {cp.state === "none" ? (
                <span>
                  {cp.day === null
                    ? "not in WORM yet"
                    : `no checkpoint yet for ${cp.day} (made after the day ends)`}
                </span>
              ) : (
                <span class={cp.state === "covered" ? "pass" : "fail"}>
                  {cp.state === "covered"
                    ? `in the signed checkpoint of ${cp.day} (${cp.bundle_count} bundles, root recomputed and equal; upload ${cp.upload})`
                    : `checkpoint of ${cp.day} does NOT match the day's bundles`}
                </span>
              )}
            </dd>
            <dt>WORM</dt>
            <dd id="worm">
              {w === null ? (
                <span>not queued</span>
              ) : (
                <span class={w.state === "uploaded" ? "pass" : w.state === "failed" ? "fail" : ""}>
                  {w.state}
                  {w.state === "uploaded" ? `, version ${w.version_id}` : ""}, retained until {w.retain_until}
                </span>
              )}
              {props.wormStorage === "local" ? (
                <span class="fail"> (local demo directory: NOT tamper-proof)</span>
              ) : (
                <span> (S3 Object Lock, COMPLIANCE mode)</span>
              )}
            </dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="browser-h">
          <h2 id="browser-h">Verified in this browser</h2>
          <p>
            Signature:{" "}
            <strong id="browser-verdict" role="status">
              checking…
            </strong>
          </p>
          <p id="browser-detail">
            Needs JavaScript: tweetnacl checks the signature here, independently of the server.
          </p>
          <p>
            Agent public key: <span class="mono">{props.publicKey ?? "none registered"}</span>
          </p>
        </section>
      </div>
      <p>
        <a href={props.downloadHref} download>
          Download bundle (JSON, as stored)
        </a>
      </p>
      <details>
        <summary>Bundle contents</summary>
        <pre>{JSON.stringify(s.bundle, null, 2)}</pre>
      </details>
      <script
        type="application/json"
        id="bundle-data"
        dangerouslySetInnerHTML={{
          __html: jsonForScript({
            raw: props.raw,
            public_key: props.publicKey,
            server_signing_text: props.serverSigningText,
          }),
        }}
      />
    </div>
  );
}
