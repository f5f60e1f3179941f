/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
/**
 * Incidents: the live feed, one incident with its plan (planner, confidence,
 * fallback), approval state, command and the execution's steps with output
 * excerpts, MTTR and SLA; and the approval queue. Approve and reject forms
 * appear only for roles the API's approve route admits, and post to the
 * dashboard, which calls that same route.
 */
import type { ActionTaken, EvidenceBundle } from "@msp/shared";
import type { CommandRecord, IncidentRecord } from "../../incidents/store.js";
import type { Plan } from "../../planner/plans.js";

const clinicPath = (clinic: string) => `/dashboard/clinics/${encodeURIComponent(clinic)}`;
const incidentHref = (i: { client_id: string; incident_id: string }) =>
  `${clinicPath(i.client_id)}/incidents/${encodeURIComponent(i.incident_id)}`;

function Sla(props: { record: IncidentRecord }) {
  const r = props.record;
  if (r.mttr_seconds === null) return <span>open</span>;
  return (
    <span class={r.sla_met ? "pass" : "fail"}>
      {Math.round(r.mttr_seconds)} s, SLA {r.sla_met ? "met" : "missed"}
    </span>
  );
}

export function IncidentList(props: { incidents: IncidentRecord[] }) {
  return (
    <div id="live">
      {props.incidents.length === 0 ? (
        <p>No incidents.</p>
      ) : (
        <div class="scroll">
          <table>
            <caption>Newest first</caption>
            <thead>
              <tr>
                <th scope="col">Incident</th>
                <th scope="col">Clinic</th>
                <th scope="col" class="hide-narrow">
                  Host
                </th>
                <th scope="col">Type</th>
                <th scope="col">Severity</th>
                <th scope="col">Status</th>
                <th scope="col">MTTR / SLA</th>
              </tr>
            </thead>
            <tbody>
              {props.incidents.map((i) => (
                <tr data-incident-id={i.incident_id}>
                  <th scope="row">
                    <a href={incidentHref(i)}>{i.incident_id}</a>
                  </th>
                  <td>{i.client_id}</td>
                  <td class="hide-narrow">{i.hostname}</td>
                  <td>{i.incident_type}</td>
                  <td>{i.severity}</td>
                  <td class="status">{i.status}</td>
                  <td>
                    <Sla record={i} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** Approve and reject forms for one pending plan. */
export function DecisionForms(props: { plan: Plan; csrf: string }) {
  const base = `${clinicPath(props.plan.client_id)}/approvals/${encodeURIComponent(props.plan.plan_id)}`;
  const rid = `reason-${props.plan.plan_id}`;
  return (
    <div class="actions">
      <form method="post" action={`${base}/approve`}>
        <input type="hidden" name="csrf" value={props.csrf} />
        <button type="submit" id={`approve-${props.plan.plan_id}`}>
          Approve {props.plan.runbook_id}
        </button>
      </form>
      <form method="post" action={`${base}/reject`}>
        <input type="hidden" name="csrf" value={props.csrf} />
        <label for={rid}>Reason for rejecting</label> <input id={rid} name="reason" maxlength={500} />{" "}
        <button type="submit" class="danger">
          Reject
        </button>
      </form>
    </div>
  );
}

function PlanFacts(props: { plan: Plan }) {
  const p = props.plan;
  return (
    <dl class="facts">
      <dt>Plan</dt>
      <dd class="mono">{p.plan_id}</dd>
      <dt>Runbook</dt>
      <dd>{p.runbook_id}</dd>
      <dt>Planner</dt>
      <dd>
        {p.planner.kind}, confidence {p.planner.confidence.toFixed(2)}
      </dd>
      <dt>Fallback</dt>
      <dd>{p.planner.fallback_reason ?? "none"}</dd>
      <dt>Parameters</dt>
      <dd class="mono">{JSON.stringify(p.params)}</dd>
      <dt>Approval</dt>
      <dd>
        {p.status === "pending_approval"
          ? `waiting (${p.approval_reasons.join("; ") || "required"})`
          : p.status === "approved"
            ? p.approval_required
              ? `approved by ${p.approver ?? "?"} at ${p.decided_at ?? "?"}`
              : "not required"
            : `rejected by ${p.approver ?? "?"}: ${p.reject_reason ?? ""}`}
      </dd>
    </dl>
  );
}

function Steps(props: { actions: ActionTaken[] }) {
  return (
    <div class="scroll">
      <table>
        <caption>Execution steps</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Action</th>
            <th scope="col">Result</th>
            <th scope="col">Exit</th>
            <th scope="col">Output (excerpt)</th>
          </tr>
        </thead>
        <tbody>
          {props.actions.map((a) => (
            <tr>
              <td>
                {a.phase} {a.step}
              </td>
              <th scope="row">{a.action}</th>
              <td class={a.result === "ok" ? "pass" : "fail"}>{a.result}</td>
              <td>{a.exit_code ?? a.signal ?? ""}</td>
              <td>
                {a.stdout.excerpt ? <pre>{a.stdout.excerpt}</pre> : null}
                {a.stderr.excerpt ? <pre>{a.stderr.excerpt}</pre> : null}
                {a.stdout.truncated || a.stderr.truncated ? <span>(truncated)</span> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export interface IncidentDetailData {
  incident: IncidentRecord;
  plan: Plan | null;
  command: CommandRecord | null;
  execution: { bundle: EvidenceBundle; sha256: string } | null;
  canDecide: boolean;
  csrf: string;
}

export function IncidentDetail(props: IncidentDetailData) {
  const i = props.incident;
  const exec = props.execution?.bundle.execution ?? null;
  return (
    <div id="live">
      <dl class="facts">
        <dt>Clinic</dt>
        <dd>{i.client_id}</dd>
        <dt>Host</dt>
        <dd>
          {i.hostname}
          {i.agent_id ? ` (agent ${i.agent_id})` : ""}
        </dd>
        <dt>Type</dt>
        <dd>
          {i.incident_type}, {i.severity}, from {i.source}
        </dd>
        <dt>Detected</dt>
        <dd class="mono">{i.detected_at}</dd>
        <dt>Status</dt>
        <dd class="incident-status">
          {i.status}
          {i.status_reason ? `: ${i.status_reason}` : ""}
        </dd>
        <dt>MTTR / SLA</dt>
        <dd>
          <Sla record={i} />
        </dd>
      </dl>
      <h2>Plan</h2>
      {props.plan === null ? <p>No plan yet.</p> : <PlanFacts plan={props.plan} />}
      {props.plan?.status === "pending_approval" && props.canDecide ? (
        <DecisionForms plan={props.plan} csrf={props.csrf} />
      ) : null}
      <h2>Command</h2>
      {props.command === null ? (
        <p>No command sent.</p>
      ) : (
        <dl class="facts">
          <dt>Command</dt>
          <dd class="mono">{props.command.command_id}</dd>
          <dt>State</dt>
          <dd class="command-status">
            {props.command.status}
            {props.command.status_reason ? `: ${props.command.status_reason}` : ""}
          </dd>
          <dt>Requested by</dt>
          <dd>{props.command.requested_by}</dd>
          <dt>Issued</dt>
          <dd class="mono">{props.command.issued_at}</dd>
        </dl>
      )}
      <h2>Execution</h2>
      {props.execution === null || exec === null ? (
        <p>No execution evidence yet.</p>
      ) : (
        <div>
          <p class="execution-outcome">
            Outcome <strong class={exec.outcome === "success" ? "pass" : "fail"}>{exec.outcome}</strong> in{" "}
            {exec.mttr_seconds} s (SLA target {exec.sla_target_seconds} s, {exec.sla_met ? "met" : "missed"}).{" "}
            <a href={`${clinicPath(i.client_id)}/evidence/${props.execution.sha256}`}>
              Evidence {props.execution.bundle.bundle_id}
            </a>
          </p>
          <Steps actions={props.execution.bundle.actions_taken} />
        </div>
      )}
    </div>
  );
}

export function ApprovalsView(props: { plans: Plan[]; canDecide: boolean; csrf: string }) {
  return (
    <div id="live">
      {props.canDecide ? null : <p>Your role can read approvals but not decide them.</p>}
      {props.plans.length === 0 ? (
        <p>No plans are waiting for approval.</p>
      ) : (
        props.plans.map((p) => (
          <section class="card" aria-labelledby={`h-${p.plan_id}`} data-plan-id={p.plan_id}>
            <h2 id={`h-${p.plan_id}`}>
              {p.runbook_id} for{" "}
              <a href={incidentHref({ client_id: p.client_id, incident_id: p.incident_id })}>
                {p.incident_id}
              </a>{" "}
              ({p.client_id})
            </h2>
            <PlanFacts plan={p} />
            {props.canDecide ? <DecisionForms plan={p} csrf={props.csrf} /> : null}
          </section>
        ))
      )}
    </div>
  );
}
