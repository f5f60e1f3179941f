/**
 * The packet as Markdown: the ten sections in a fixed order, formatting the
 * figures of {@link PacketContent} and nothing else. A section without
 * evidence says "not covered" and why, in words an auditor can quote.
 */
import type { PacketContent } from "./content.js";
import type { HostChecks } from "./sections.js";

/** Section titles, shared by every renderer so the outputs have the same structure. */
export const SECTION_TITLES = [
  "1. Executive summary",
  "2. Control posture heatmap",
  "3. Backups and test restores",
  "4. Time synchronisation",
  "5. Access controls",
  "6. Patch posture",
  "7. Encryption status",
  "8. Incidents",
  "9. Baseline exceptions",
  "10. Evidence manifest",
] as const;

/**
 * At most this many bundles are listed one by one in the documents; a larger
 * month lists per-agent chain ranges there and every bundle in packet.json,
 * which the packet signature covers too.
 */
export const MAX_LISTED_BUNDLES = 1_000;

const STATUS_LABEL = { pass: "PASS", fail: "FAIL", not_covered: "NOT COVERED" } as const;

/** Formats a possibly-null figure. */
export const fig = (v: number | null, unit = "") => (v === null ? "n/a (no evidence)" : `${v}${unit}`);

/** Escapes a table cell. */
const cell = (v: unknown) =>
  String(v ?? "")
    .replaceAll("|", "\\|")
    .replaceAll("\n", " ");

function table(head: string[], rows: unknown[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

/** Human-readable duration. */
export function duration(seconds: number | null): string {
  if (seconds === null) return "n/a";
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

/** The "not covered" sentence for a family no agent reported. */
export const notCovered = (what: string) => `Not covered: no agent reported ${what} this month.`;

function hostTable(hosts: HostChecks[]): string {
  return table(
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
}

/** Renders the packet as Markdown. */
export function renderMarkdown(p: PacketContent): string {
  const out: string[] = [];
  const h2 = (i: number) => out.push(`## ${SECTION_TITLES[i]}`, "");
  const para = (s: string) => out.push(s, "");
  const k = p.kpis;

  out.push(`# HIPAA compliance packet: ${p.clinic.name} (${p.clinic.id}), ${p.month}`, "");
  para(
    `Period ${p.period.from} to ${p.period.to} (UTC, end exclusive). Generated ${p.generated_at} from ${p.manifest.totals.bundles} signed evidence bundles.`,
  );

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
    "",
  );

  h2(1);
  para(
    "Status at the end of the month: FAIL when the latest result of any check citing the control failed, PASS when every such latest result passed, NOT COVERED when no evidence cites the control.",
  );
  out.push(
    table(
      ["Citation", "Control", "Status", "Checks (pass/fail)", "Evidence (latest)"],
      p.posture.controls.map((c) => [
        c.citation,
        c.title,
        STATUS_LABEL[c.status],
        c.checks.map((x) => `${x.check_id} ${x.pass}/${x.fail}`).join(", ") || "none",
        c.evidence.map((e) => `${e.bundle_id} (${e.agent_id})`).join(", ") || "none",
      ]),
    ),
    "",
  );

  h2(2);
  const b = p.backups;
  if (b.freshness.length === 0 && b.runs.length === 0 && b.restore_tests.length === 0) {
    para(notCovered("backup checks, backup runs or restore tests"));
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
      "",
    );
    if (b.runs.length > 0) {
      out.push("Backup runs:", "");
      out.push(
        table(
          ["Time", "Agent", "Outcome", "Backup", "Archive sha256", "Bundle"],
          b.runs.map((r) => [r.time, r.agent_id, r.outcome, r.backup_id, r.archive_sha256, r.bundle_id]),
        ),
        "",
      );
    }
    if (b.restore_tests.length === 0) para(notCovered("a restore test"));
    else {
      out.push("Restore tests:", "");
      out.push(
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
        "",
      );
    }
  }

  h2(3);
  if (p.time_sync.length === 0) para(notCovered("a time synchronisation check"));
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
      "",
    );

  h2(4);
  out.push("SSH server configuration:", "");
  if (p.access.ssh.length === 0) para(notCovered("an SSH configuration check"));
  else out.push(hostTable(p.access.ssh), "");
  out.push("Audit logging (auditd):", "");
  if (p.access.audit.length === 0) para(notCovered("an audit logging check"));
  else out.push(hostTable(p.access.audit), "");
  para(
    notCovered(
      "failed logins, SSH certificate use or dormant accounts (the agents' checks do not collect them)",
    ),
  );

  h2(5);
  para(notCovered("patch status (the agents' checks do not collect pending or installed updates)"));

  h2(6);
  out.push("At rest (dm-crypt / LUKS):", "");
  if (p.encryption.at_rest.length === 0) para(notCovered("a disk encryption check"));
  else out.push(hostTable(p.encryption.at_rest), "");
  out.push("In transit (TLS certificate validity):", "");
  if (p.encryption.in_transit.length === 0) para(notCovered("a TLS certificate check"));
  else out.push(hostTable(p.encryption.in_transit), "");

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
      "",
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
      "",
    );
  }

  h2(9);
  const m = p.manifest;
  para(
    `${m.totals.bundles} bundles; ${m.totals.body_intact} were read from bytes that hash to their recorded sha256; ${m.totals.uploaded} uploaded to WORM storage; ${m.totals.in_checkpoint} covered by a daily checkpoint.`,
  );
  if (m.checkpoints.length > 0) {
    out.push(
      table(
        ["Checkpoint day", "Bundles", "Merkle root", "WORM state", "WORM version"],
        m.checkpoints.map((c) => [c.day, c.bundle_count, c.root, c.worm_state, c.worm_version_id ?? "none"]),
      ),
      "",
    );
  }
  if (m.entries.length > MAX_LISTED_BUNDLES) {
    para(
      `The month has more than ${MAX_LISTED_BUNDLES} bundles; each is listed in packet.json (covered by the packet signature).`,
    );
  } else if (m.entries.length > 0) {
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
      ),
      "",
    );
  }
  return out.join("\n");
}
