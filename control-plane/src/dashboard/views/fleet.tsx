/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
/**
 * The fleet: every agent of the clinics in scope with its live connection,
 * last contact, version and the latest result of each drift check, filterable
 * by clinic, connection, failing drift and a text match, one page of
 * {@link FLEET_PAGE_SIZE} agents at a time.
 */
import type { DriftLatest } from "../../evidence/index.js";
import type { AgentRecord, Clinic } from "../../registry/index.js";

export type Connection = "online" | "offline" | "revoked";

/** Agents on one fleet page. */
export const FLEET_PAGE_SIZE = 200;

export interface FleetRow {
  agent: AgentRecord;
  connection: Connection;
  drift: DriftLatest[];
}

export interface FleetFilter {
  clinic: string;
  connection: "" | Connection;
  drift: "" | "failing";
  q: string;
}

export interface FleetData {
  clinics: Clinic[];
  filter: FleetFilter;
  /** This page's rows. */
  rows: FleetRow[];
  /** Agents matching the filter, over all pages. */
  matching: number;
  /** Agents of the selected clinic (or of every clinic in scope), before the other filters. */
  total: number;
  /** 1-based page number and the number of pages (at least 1). */
  page: number;
  pages: number;
}

/** The fleet URL of `page` with the same filters (empty ones left out). */
export function fleetHref(filter: FleetFilter, page: number): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== "") params.set(k, v);
  if (page > 1) params.set("page", String(page));
  const query = params.toString();
  return query === "" ? "/dashboard/fleet" : `/dashboard/fleet?${query}`;
}

/** First, previous, next and last links; plain links, so they work by keyboard and without script. */
function Pager(props: { filter: FleetFilter; page: number; pages: number }) {
  const { filter, page, pages } = props;
  if (pages <= 1) return null;
  const link = (target: number, label: string, rel?: string) =>
    target < 1 || target > pages || target === page ? (
      <li>
        <span aria-disabled="true">{label}</span>
      </li>
    ) : (
      <li>
        <a href={fleetHref(filter, target)} {...(rel ? { rel } : {})}>
          {label}
        </a>
      </li>
    );
  return (
    <nav class="pager" aria-label="Fleet pages">
      <ul>
        {link(1, "First")}
        {link(page - 1, "Previous", "prev")}
        <li aria-current="page">
          Page {page} of {pages}
        </li>
        {link(page + 1, "Next", "next")}
        {link(pages, "Last")}
      </ul>
    </nav>
  );
}

function DriftCell(props: { drift: DriftLatest[] }) {
  if (props.drift.length === 0) return <span class="badge none">no results</span>;
  return (
    <span>
      {props.drift.map((d) => (
        <span class={`badge ${d.status === "pass" ? "pass" : d.status === "fail" ? "fail" : "none"}`}>
          {d.check_id}: {d.status}
        </span>
      ))}
    </span>
  );
}

export function FleetView(props: FleetData) {
  const f = props.filter;
  return (
    <div>
      <form class="filters" method="get" action="/dashboard/fleet" aria-label="Filter agents">
        <div>
          <label for="f-clinic">Clinic</label>
          <select id="f-clinic" name="clinic">
            <option value="">All in scope</option>
            {props.clinics.map((c) => (
              <option value={c.client_id} selected={c.client_id === f.clinic}>
                {c.name} ({c.client_id})
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-conn">Connection</label>
          <select id="f-conn" name="connection">
            <option value="">Any</option>
            {(["online", "offline", "revoked"] as const).map((v) => (
              <option value={v} selected={v === f.connection}>
                {v}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-drift">Drift</label>
          <select id="f-drift" name="drift">
            <option value="">Any</option>
            <option value="failing" selected={f.drift === "failing"}>
              failing checks
            </option>
          </select>
        </div>
        <div>
          <label for="f-q">Agent or host</label>
          <input id="f-q" name="q" value={f.q} type="search" />
        </div>
        <button type="submit">Filter</button>
      </form>
      <div id="live">
        <p id="fleet-count">
          {props.rows.length} of {props.matching} agents shown
          {props.rows.length > 0 && props.pages > 1
            ? ` (${(props.page - 1) * FLEET_PAGE_SIZE + 1}–${(props.page - 1) * FLEET_PAGE_SIZE + props.rows.length})`
            : ""}
          {props.matching !== props.total
            ? `; ${props.total} in ${f.clinic === "" ? "scope" : f.clinic} before the filters`
            : ""}
          .
        </p>
        <Pager filter={f} page={props.page} pages={props.pages} />
        <div class="scroll">
          <table>
            <caption>Agents</caption>
            <thead>
              <tr>
                <th scope="col">Clinic</th>
                <th scope="col">Agent</th>
                <th scope="col">Connection</th>
                <th scope="col">Last seen</th>
                <th scope="col" class="hide-narrow">
                  Version
                </th>
                <th scope="col">Drift (latest per check)</th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((r) => (
                <tr data-agent-id={r.agent.agent_id} data-client-id={r.agent.client_id}>
                  <td>
                    <a href={`/dashboard/posture?clinic=${encodeURIComponent(r.agent.client_id)}`}>
                      {r.agent.client_id}
                    </a>
                  </td>
                  <th scope="row">
                    <a
                      href={`/dashboard/evidence?clinic=${encodeURIComponent(r.agent.client_id)}&agent=${encodeURIComponent(r.agent.agent_id)}`}
                    >
                      {r.agent.agent_id}
                    </a>
                    {r.agent.hostname !== r.agent.agent_id ? (
                      <div class="mono">{r.agent.hostname}</div>
                    ) : null}
                  </th>
                  <td class="conn" data-state={r.connection}>
                    {r.connection}
                  </td>
                  <td class="last-seen mono">
                    {r.connection === "online" ? "now" : (r.agent.last_seen_at ?? "never")}
                  </td>
                  <td class="hide-narrow mono">{r.agent.agent_version}</td>
                  <td>
                    <DriftCell drift={r.drift} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <Pager filter={f} page={props.page} pages={props.pages} />
      </div>
    </div>
  );
}
