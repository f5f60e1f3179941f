/**
 * The packet as one self-contained HTML page (inline CSS, the heatmap as
 * inline SVG, no external resources), formatted from the same
 * {@link PacketContent} as the Markdown. It is also the input of the PDF.
 */
import type { PacketContent } from "./content.js";
import { duration, fig, MAX_LISTED_BUNDLES, notCovered, SECTION_TITLES } from "./markdown.js";
import type { ControlPosture } from "./posture.js";
import type { HostChecks } from "./sections.js";

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
/** Escapes text for HTML content and attribute values. */
export const esc = (v: unknown) => String(v ?? "").replace(/[&<>"']/g, (c) => ESC[c] ?? c);

const COLOR = { pass: "#2e7d32", fail: "#c62828", not_covered: "#9e9e9e" } as const;
const LABEL = { pass: "PASS", fail: "FAIL", not_covered: "NOT COVERED" } as const;

function table(head: string[], rows: unknown[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** The posture heatmap: one row per catalog control, coloured by status. */
export function heatmapSvg(controls: readonly ControlPosture[]): string {
  const rowH = 22;
  const width = 760;
  const rows = controls.map((c, i) => {
    const y = i * rowH;
    const checks = c.checks.reduce((s, x) => ({ pass: s.pass + x.pass, fail: s.fail + x.fail }), {
      pass: 0,
      fail: 0,
    });
    return [
      `<rect x="0" y="${y}" width="150" height="${rowH - 2}" fill="${COLOR[c.status]}"/>`,
      `<text x="6" y="${y + 15}" fill="#fff" font-size="12">${esc(LABEL[c.status])}</text>`,
      `<text x="160" y="${y + 15}" font-size="12">${esc(c.citation)}</text>`,
      `<text x="300" y="${y + 15}" font-size="12">${esc(c.title.slice(0, 52))}</text>`,
      `<text x="${width - 6}" y="${y + 15}" font-size="11" text-anchor="end">${checks.pass} pass / ${checks.fail} fail</text>`,
    ].join("");
  });
  const height = controls.length * rowH;
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Control posture heatmap" width="100%" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">${rows.join("\n")}</svg>`;
}

const hostTable = (hosts: HostChecks[]) =>
  table(
    ["Host", "Agent", "Pass", "Fail", "Undecided", "Last status", "Last observed", "Last bundle"],
    hosts.map((h) => [
      h.hostname,
      h.agent_id,
      h.pass,
      h.fail,
      h.undecided,
      h.last_status,
      h.last_observed,
      h.last_bundle_id,
    ]),
  );

const CSS = `
body { font-family: sans-serif; font-size: 11px; color: #222; margin: 24px; }
h1 { font-size: 20px; } h2 { font-size: 15px; margin-top: 22px; border-bottom: 1px solid #ccc; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { border: 1px solid #ccc; padding: 2px 4px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f0f0f0; } .nc { color: #555; font-style: italic; }
.hash { font-family: monospace; font-size: 8px; white-space: nowrap; word-break: normal; }
`;

/** Renders the packet as a self-contained HTML document. */
export function renderHtml(p: PacketContent): string {
  const out: string[] = [];
  const h2 = (i: number) => out.push(`<h2>${esc(SECTION_TITLES[i])}</h2>`);
  const para = (s: string) => out.push(`<p>${esc(s)}</p>`);
  const nc = (s: string) => out.push(`<p class="nc">${esc(s)}</p>`);
  const k = p.kpis;

  h2(0);
  out.push(
    table(
      ["KPI", "Value"],
      [
        ["Compliance (drift results passing)", fig(k.compliance_percent, " %")],
        [
          "Drift results pass / fail / undecided",
          `${k.drift_results.pass} / ${k.drift_results.fail} / ${k.drift_results.undecided}`,
        ],
        [
          "Controls pass / fail / not covered",
          `${k.controls.pass} / ${k.controls.fail} / ${k.controls.not_covered}`,
        ],
        [
          "Mean time to remediate",
          k.mttr_seconds === null ? "n/a (no remediation)" : duration(k.mttr_seconds),
        ],
        ["Backup success (freshness checks passing)", fig(k.backup_success_percent, " %")],
        ["Incidents", k.incidents_total],
        ["Incidents auto-fixed", k.incidents_auto_fixed],
        ["SLA met / missed", `${k.sla_met} / ${k.sla_missed}`],
      ],
    ),
  );

  h2(1);
  para(
    "Status at the end of the month: FAIL when the latest result of any check citing the control failed, PASS when every such latest result passed, NOT COVERED when no evidence cites the control.",
  );
  out.push(heatmapSvg(p.posture.controls));
  out.push(
    table(
      ["Citation", "Control", "Status", "Checks (pass/fail)", "Evidence (latest)"],
      p.posture.controls.map((c) => [
        c.citation,
        c.title,
        LABEL[c.status],
        c.checks.map((x) => `${x.check_id} ${x.pass}/${x.fail}`).join(", ") || "none",
        c.evidence.map((e) => `${e.bundle_id} (${e.agent_id})`).join(", ") || "none",
      ]),
    ),
  );

  h2(2);
  const b = p.backups;
  if (b.freshness.length === 0 && b.runs.length === 0 && b.restore_tests.length === 0) {
    nc(notCovered("backup checks, backup runs or restore tests"));
  } else {
    out.push(
      table(
        ["Week", "Days", "Freshness pass/fail", "Backup runs ok/total", "Restore tests ok/total"],
        b.weeks.map((w) => [
          w.week,
          `${w.from} to ${w.to}`,
          `${w.freshness.pass}/${w.freshness.fail}`,
          `${w.backup_runs.succeeded}/${w.backup_runs.total}`,
          `${w.restore_tests.succeeded}/${w.restore_tests.total}`,
        ]),
      ),
    );
    if (b.runs.length > 0)
      out.push(
        "<p>Backup runs:</p>",
        table(
          ["Time", "Agent", "Outcome", "Backup", "Archive sha256", "Bundle"],
          b.runs.map((r) => [r.time, r.agent_id, r.outcome, r.backup_id, r.archive_sha256, r.bundle_id]),
        ),
      );
    if (b.restore_tests.length === 0) nc(notCovered("a restore test"));
    else
      out.push(
        "<p>Restore tests:</p>",
        table(
          [
            "Time",
            "Agent",
            "Outcome",
            "Backup",
            "Archive sha256",
            "Files verified",
            "Mismatches",
            "Status",
            "Bundle",
          ],
          b.restore_tests.map((r) => [
            r.time,
            r.agent_id,
            r.outcome,
            r.backup_id,
            r.archive_sha256,
            r.files_verified,
            r.mismatches,
            r.restore_status,
            r.bundle_id,
          ]),
        ),
      );
  }

  h2(3);
  if (p.time_sync.length === 0) nc(notCovered("a time synchronisation check"));
  else
    out.push(
      table(
        ["Host", "Agent", "Pass", "Fail", "Offsets reported", "Max |offset|", "Last offset", "Last status"],
        p.time_sync.map((h) => [
          h.hostname,
          h.agent_id,
          h.pass,
          h.fail,
          h.offsets_reported,
          h.max_abs_offset_ms === null ? "not reported" : `${h.max_abs_offset_ms} ms`,
          h.last_offset_ms === null ? "not reported" : `${h.last_offset_ms} ms`,
          h.last_status,
        ]),
      ),
    );

  h2(4);
  out.push("<p>SSH server configuration:</p>");
  if (p.access.ssh.length === 0) nc(notCovered("an SSH configuration check"));
  else out.push(hostTable(p.access.ssh));
  out.push("<p>Audit logging (auditd):</p>");
  if (p.access.audit.length === 0) nc(notCovered("an audit logging check"));
  else out.push(hostTable(p.access.audit));
  nc(
    notCovered(
      "failed logins, SSH certificate use or dormant accounts (the agents' checks do not collect them)",
    ),
  );

  h2(5);
  nc(notCovered("patch status (the agents' checks do not collect pending or installed updates)"));

  h2(6);
  out.push("<p>At rest (dm-crypt / LUKS):</p>");
  if (p.encryption.at_rest.length === 0) nc(notCovered("a disk encryption check"));
  else out.push(hostTable(p.encryption.at_rest));
  out.push("<p>In transit (TLS certificate validity):</p>");
  if (p.encryption.in_transit.length === 0) nc(notCovered("a TLS certificate check"));
  else out.push(hostTable(p.encryption.in_transit));

  h2(7);
  if (p.incidents.length === 0) para("No incidents were recorded this month.");
  else
    out.push(
      table(
        [
          "Detected",
          "Incident",
          "Type",
          "Severity",
          "Agent",
          "Runbook",
          "Outcome",
          "Trigger",
          "MTTR",
          "SLA met",
          "Bundle",
        ],
        p.incidents.map((i) => [
          i.detected_at,
          i.incident_id,
          i.event_type,
          i.severity,
          i.agent_id,
          i.runbook_id ?? "none",
          i.source === "evidence" ? i.outcome : `${i.outcome} (no execution evidence)`,
          i.trigger ?? "n/a",
          duration(i.mttr_seconds),
          i.sla_met === null ? "n/a" : i.sla_met ? "yes" : "no",
          i.bundle_id ?? "none",
        ]),
      ),
    );

  h2(8);
  if (p.exceptions.length === 0)
    para("No failing result was covered by an exception or allowed drift this month.");
  else {
    para(
      "Risk and owner of each exception are recorded in the baseline file named below; drift results carry the exception id, kind and expiry.",
    );
    out.push(
      table(
        [
          "Id",
          "Kind",
          "Check",
          "Expires",
          "Agents",
          "Results covered",
          "First seen",
          "Last seen",
          "Baseline",
        ],
        p.exceptions.map((e) => [
          e.id,
          e.kind,
          e.check_id,
          e.expires ?? "never",
          e.agents.join(", "),
          e.results_covered,
          e.first_seen,
          e.last_seen,
          e.baseline,
        ]),
      ),
    );
  }

  h2(9);
  const m = p.manifest;
  para(
    `${m.totals.bundles} bundles; ${m.totals.body_intact} were read from bytes that hash to their recorded sha256; ${m.totals.uploaded} uploaded to WORM storage; ${m.totals.in_checkpoint} covered by a daily checkpoint.`,
  );
  if (m.checkpoints.length > 0)
    out.push(
      table(
        ["Checkpoint day", "Bundles", "Merkle root", "WORM state", "WORM version"],
        m.checkpoints.map((c) => [c.day, c.bundle_count, c.root, c.worm_state, c.worm_version_id ?? "none"]),
      ),
    );
  if (m.entries.length > MAX_LISTED_BUNDLES)
    para(
      `The month has more than ${MAX_LISTED_BUNDLES} bundles; each is listed in packet.json (covered by the packet signature).`,
    );
  else if (m.entries.length > 0)
    out.push(
      table(
        ["Bundle", "Agent", "Seq", "Kind", "sha256", "Intact", "WORM version", "Checkpoint"],
        m.entries.map((e) => [
          e.bundle_id,
          e.agent_id,
          e.seq,
          e.kind,
          e.sha256,
          e.body_intact ? "yes" : "NO",
          e.worm_version_id ?? e.worm_state,
          e.checkpoint_day ?? "not yet",
        ]),
      ).replace(/<td>([0-9a-f]{64})<\/td>/g, '<td class="hash">$1</td>'),
    );

  const title = `HIPAA compliance packet: ${p.clinic.name} (${p.clinic.id}), ${p.month}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(title)}</h1>
<p>${esc(`Period ${p.period.from} to ${p.period.to} (UTC, end exclusive). Generated ${p.generated_at} from ${p.manifest.totals.bundles} signed evidence bundles.`)}</p>
${out.join("\n")}
</body></html>
`;
}
