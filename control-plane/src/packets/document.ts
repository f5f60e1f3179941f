/**
 * The packet as a format-neutral document: the ten sections' headings,
 * sentences, "not covered" notices and tables, decided once from
 * {@link PacketContent}. The Markdown and HTML renderers only draw these
 * blocks (and escape for their format), so the two outputs cannot differ in
 * what they say, only in how it looks.
 */
import type { PacketContent } from "./content.js";
import type { ControlPosture } from "./posture.js";
import type { HostChecks } from "./sections.js";

/** A table cell; null is an empty cell. */
export type Cell = string | number | null;

/** A table: a header row and rows of cells, one per header. */
export interface Table {
  headers: readonly string[];
  rows: Cell[][];
  /**
   * Cells holding a sha256 digest (64 lowercase hex) are digests: the HTML
   * sets them in a small monospace face that does not wrap.
   */
  digests?: boolean;
}

/** One block of the document, in reading order. */
export type Block =
  /** A section heading; `number` is its place among the ten sections (1-based). */
  | { kind: "heading"; number: number; title: string }
  | { kind: "paragraph"; text: string }
  /** A sentence saying what the packet cannot show and why, set apart from the figures. */
  | { kind: "not_covered"; text: string }
  | { kind: "table"; table: Table }
  /** The posture heatmap: every renderer shows `table`; the HTML also draws `controls` as a chart. */
  | { kind: "heatmap"; controls: readonly ControlPosture[]; table: Table };

/** The whole packet document. */
export interface PacketDocument {
  title: string;
  blocks: Block[];
}

/**
 * At most this many bundles are listed one by one in the documents; a larger
 * month lists per-agent chain ranges there and every bundle in packet.json,
 * which the packet signature covers too.
 */
export const MAX_LISTED_BUNDLES = 1_000;

/** How a control's status is written, in the heatmap and its table. */
export const STATUS_LABEL = { pass: "PASS", fail: "FAIL", not_covered: "NOT COVERED" } as const;

/** Formats a possibly-null figure. */
const fig = (v: number | null, unit = "") => (v === null ? "n/a (no evidence)" : `${v}${unit}`);

/** Human-readable duration. */
function duration(seconds: number | null): string {
  if (seconds === null) return "n/a";
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

/** The "not covered" sentence for a family no agent reported. */
const notCovered = (what: string) => `Not covered: no agent reported ${what} this month.`;

const para = (text: string): Block => ({ kind: "paragraph", text });
const nc = (what: string): Block => ({ kind: "not_covered", text: notCovered(what) });
const table = (headers: readonly string[], rows: Cell[][], digests?: boolean): Block => ({
  kind: "table",
  table: digests ? { headers, rows, digests } : { headers, rows },
});

const HOST_HEADERS = [
  "Host",
  "Agent",
  "Pass",
  "Fail",
  "Undecided",
  "Last status",
  "Last observed",
  "Last bundle",
];

/** One host family's results, or the notice that no agent reported `what`. */
const hosts = (list: HostChecks[], what: string): Block =>
  list.length === 0
    ? nc(what)
    : table(
        HOST_HEADERS,
        list.map((h) => [
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

function summary(p: PacketContent): Block[] {
  const k = p.kpis;
  return [
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
  ];
}

function posture(p: PacketContent): Block[] {
  const controls = p.posture.controls;
  return [
    para(
      "Status at the end of the month: FAIL when the latest result of any check citing the control failed, PASS when every such latest result passed, NOT COVERED when no evidence cites the control.",
    ),
    {
      kind: "heatmap",
      controls,
      table: {
        headers: ["Citation", "Control", "Status", "Checks (pass/fail)", "Evidence (latest)"],
        rows: controls.map((c) => [
          c.citation,
          c.title,
          STATUS_LABEL[c.status],
          c.checks.map((x) => `${x.check_id} ${x.pass}/${x.fail}`).join(", ") || "none",
          c.evidence.map((e) => `${e.bundle_id} (${e.agent_id})`).join(", ") || "none",
        ]),
      },
    },
  ];
}

function backups(p: PacketContent): Block[] {
  const b = p.backups;
  if (b.freshness.length === 0 && b.runs.length === 0 && b.restore_tests.length === 0)
    return [nc("backup checks, backup runs or restore tests")];
  const out = [
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
  ];
  if (b.runs.length > 0)
    out.push(
      para("Backup runs:"),
      table(
        ["Time", "Agent", "Outcome", "Backup", "Archive sha256", "Bundle"],
        b.runs.map((r) => [r.time, r.agent_id, r.outcome, r.backup_id, r.archive_sha256, r.bundle_id]),
      ),
    );
  if (b.restore_tests.length === 0) out.push(nc("a restore test"));
  else
    out.push(
      para("Restore tests:"),
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
  return out;
}

const ms = (v: number | null) => (v === null ? "not reported" : `${v} ms`);

function timeSync(p: PacketContent): Block[] {
  if (p.time_sync.length === 0) return [nc("a time synchronisation check")];
  return [
    table(
      ["Host", "Agent", "Pass", "Fail", "Offsets reported", "Max |offset|", "Last offset", "Last status"],
      p.time_sync.map((h) => [
        h.hostname,
        h.agent_id,
        h.pass,
        h.fail,
        h.offsets_reported,
        ms(h.max_abs_offset_ms),
        ms(h.last_offset_ms),
        h.last_status,
      ]),
    ),
  ];
}

const access = (p: PacketContent): Block[] => [
  para("SSH server configuration:"),
  hosts(p.access.ssh, "an SSH configuration check"),
  para("Audit logging (auditd):"),
  hosts(p.access.audit, "an audit logging check"),
  nc("failed logins, SSH certificate use or dormant accounts (the agents' checks do not collect them)"),
];

const patches = (): Block[] => [
  nc("patch status (the agents' checks do not collect pending or installed updates)"),
];

const encryption = (p: PacketContent): Block[] => [
  para("At rest (dm-crypt / LUKS):"),
  hosts(p.encryption.at_rest, "a disk encryption check"),
  para("In transit (TLS certificate validity):"),
  hosts(p.encryption.in_transit, "a TLS certificate check"),
];

function incidents(p: PacketContent): Block[] {
  if (p.incidents.length === 0) return [para("No incidents were recorded this month.")];
  return [
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
  ];
}

function exceptions(p: PacketContent): Block[] {
  if (p.exceptions.length === 0)
    return [para("No failing result was covered by an exception or allowed drift this month.")];
  return [
    para(
      "Risk and owner of each exception are recorded in the baseline file named below; drift results carry the exception id, kind and expiry.",
    ),
    table(
      ["Id", "Kind", "Check", "Expires", "Agents", "Results covered", "First seen", "Last seen", "Baseline"],
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
  ];
}

function manifest(p: PacketContent): Block[] {
  const m = p.manifest;
  const out = [
    para(
      `${m.totals.bundles} bundles; ${m.totals.body_intact} were read from bytes that hash to their recorded sha256; ${m.totals.uploaded} uploaded to WORM storage; ${m.totals.in_checkpoint} covered by a daily checkpoint.`,
    ),
  ];
  if (m.checkpoints.length > 0)
    out.push(
      table(
        ["Checkpoint day", "Bundles", "Merkle root", "WORM state", "WORM version"],
        m.checkpoints.map((c) => [c.day, c.bundle_count, c.root, c.worm_state, c.worm_version_id ?? "none"]),
      ),
    );
  if (m.entries.length > MAX_LISTED_BUNDLES)
    out.push(
      para(
        `The month has more than ${MAX_LISTED_BUNDLES} bundles; each is listed in packet.json (covered by the packet signature).`,
      ),
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
        true,
      ),
    );
  return out;
}

/** The ten sections in their fixed order: title and the blocks under it. */
const SECTIONS: readonly (readonly [string, (p: PacketContent) => Block[]])[] = [
  ["Executive summary", summary],
  ["Control posture heatmap", posture],
  ["Backups and test restores", backups],
  ["Time synchronisation", timeSync],
  ["Access controls", access],
  ["Patch posture", patches],
  ["Encryption status", encryption],
  ["Incidents", incidents],
  ["Baseline exceptions", exceptions],
  ["Evidence manifest", manifest],
];

/** Section headings as every renderer writes them ("1. Executive summary"). */
export const SECTION_TITLES: readonly string[] = SECTIONS.map(([title], i) => `${i + 1}. ${title}`);

/** The heading text of a heading block. */
export const headingText = (b: { number: number; title: string }) => `${b.number}. ${b.title}`;

/** Builds the document of a packet: a title, the period sentence, then the ten sections. */
export function packetDocument(p: PacketContent): PacketDocument {
  return {
    title: `HIPAA compliance packet: ${p.clinic.name} (${p.clinic.id}), ${p.month}`,
    blocks: [
      para(
        `Period ${p.period.from} to ${p.period.to} (UTC, end exclusive). Generated ${p.generated_at} from ${p.manifest.totals.bundles} signed evidence bundles.`,
      ),
      ...SECTIONS.flatMap(([title, blocks], i): Block[] => [
        { kind: "heading", number: i + 1, title },
        ...blocks(p),
      ]),
    ],
  };
}
