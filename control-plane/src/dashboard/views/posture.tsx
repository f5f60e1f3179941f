/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
/**
 * A clinic's HIPAA control heatmap for one month (computed by
 * packets/posture, the same function the monthly packet uses) with a
 * drill-down from each cell to the checks and the bundles that decide it.
 */
import type { ControlPosture, Posture } from "../../packets/posture.js";
import type { Clinic } from "../../registry/index.js";

export interface PostureData {
  clinics: Clinic[];
  clinic: string;
  month: string;
  posture: Posture | null;
  selected: ControlPosture | null;
}

const STATUS_TEXT = { pass: "pass", fail: "fail", not_covered: "not covered" } as const;

export function PostureView(props: PostureData) {
  const link = (citation: string) =>
    `/dashboard/posture?clinic=${encodeURIComponent(props.clinic)}&month=${props.month}&control=${encodeURIComponent(citation)}#detail`;
  const counts = { pass: 0, fail: 0, not_covered: 0 };
  for (const c of props.posture?.controls ?? []) counts[c.status] += 1;
  return (
    <div>
      <form class="filters" method="get" action="/dashboard/posture" aria-label="Choose clinic and month">
        <div>
          <label for="p-clinic">Clinic</label>
          <select id="p-clinic" name="clinic">
            {props.clinics.map((c) => (
              <option value={c.client_id} selected={c.client_id === props.clinic}>
                {c.name} ({c.client_id})
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="p-month">Month</label>
          <input id="p-month" name="month" type="month" value={props.month} required />
        </div>
        <button type="submit">Show</button>
      </form>
      {props.posture === null ? (
        <p>No clinic in scope.</p>
      ) : (
        <div id="live">
          <p>
            {props.posture.clinic_id}, {props.posture.month}: {counts.pass} pass, {counts.fail} fail,{" "}
            {counts.not_covered} not covered. A control passes only on evidence; nothing is passed for lack of
            it.
          </p>
          <ul class="heatmap" aria-label="HIPAA controls">
            {props.posture.controls.map((c) => (
              <li>
                <a
                  href={link(c.citation)}
                  class={c.status}
                  aria-current={props.selected?.citation === c.citation ? "true" : undefined}
                >
                  <span class="cite">{c.citation}</span>
                  <span class="title">{c.title}</span>
                  <span>{STATUS_TEXT[c.status]}</span>
                </a>
              </li>
            ))}
          </ul>
          {props.selected ? <ControlDetail clinic={props.clinic} control={props.selected} /> : null}
        </div>
      )}
    </div>
  );
}

function ControlDetail(props: { clinic: string; control: ControlPosture }) {
  const c = props.control;
  return (
    <section id="detail" aria-labelledby="detail-h">
      <h2 id="detail-h">
        {c.citation} {c.title}:{" "}
        <span class={c.status === "pass" ? "pass" : c.status === "fail" ? "fail" : ""}>
          {STATUS_TEXT[c.status]}
        </span>
      </h2>
      <p>Family: {c.family}</p>
      {c.checks.length === 0 ? (
        <p>No check or runbook cited this control this month.</p>
      ) : (
        <div class="scroll">
          <table>
            <caption>Results this month</caption>
            <thead>
              <tr>
                <th scope="col">Check</th>
                <th scope="col">Passed</th>
                <th scope="col">Failed</th>
              </tr>
            </thead>
            <tbody>
              {c.checks.map((k) => (
                <tr>
                  <th scope="row">{k.check_id}</th>
                  <td>{k.pass}</td>
                  <td>{k.fail}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {c.evidence.length > 0 ? (
        <div class="scroll">
          <table>
            <caption>Deciding evidence (latest result per agent and check)</caption>
            <thead>
              <tr>
                <th scope="col">Bundle</th>
                <th scope="col">Agent</th>
                <th scope="col">Kind</th>
                <th scope="col">Time</th>
              </tr>
            </thead>
            <tbody>
              {c.evidence.map((e) => (
                <tr>
                  <th scope="row">
                    <a href={`/dashboard/clinics/${encodeURIComponent(props.clinic)}/evidence/${e.sha256}`}>
                      {e.bundle_id}
                    </a>
                  </th>
                  <td>
                    {e.agent_id} #{e.seq}
                  </td>
                  <td>{e.kind}</td>
                  <td class="mono">{e.time}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
