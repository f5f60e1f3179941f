/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
/**
 * The page frame (skip link, navigation, who is signed in, sign-out form, a
 * polite live region for update announcements), the sign-in page and the
 * error page. Everything is server-rendered; the only script is app.js.
 */
import type { Child } from "hono/jsx";
import type { Principal } from "../../auth/index.js";

export type Section = "fleet" | "posture" | "incidents" | "approvals" | "evidence";

const NAV: { id: Section; label: string; href: string }[] = [
  { id: "fleet", label: "Fleet", href: "/dashboard/fleet" },
  { id: "posture", label: "Posture", href: "/dashboard/posture" },
  { id: "incidents", label: "Incidents", href: "/dashboard/incidents" },
  { id: "approvals", label: "Approvals", href: "/dashboard/approvals" },
  { id: "evidence", label: "Evidence", href: "/dashboard/evidence" },
];

export interface PageProps {
  title: string;
  principal: Principal;
  csrf: string;
  section: Section;
  /** Space-separated event kinds this page refreshes on (`agents`, `incidents`); none when absent. */
  live?: string;
  /** Loads tweetnacl for in-browser signature verification. */
  verify?: boolean;
  children?: Child;
}

function Head(props: { title: string }) {
  return (
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{props.title} · MSP compliance dashboard</title>
      <link rel="stylesheet" href="/dashboard/assets/style.css" />
    </head>
  );
}

/** A signed-in page. */
export function Page(props: PageProps) {
  const p = props.principal;
  return (
    <html lang="en">
      <Head title={props.title} />
      <body data-live={props.live}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <strong>MSP compliance</strong>
          <nav aria-label="Sections">
            <ul>
              {NAV.map((n) => (
                <li>
                  <a href={n.href} aria-current={n.id === props.section ? "page" : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <div class="who">
            <span>
              {p.name} ({p.role}
              {p.client_id === null ? ", all clinics" : `, ${p.client_id}`})
            </span>
            <span>
              Updates: <span id="stream-state">{props.live ? "connecting" : "off"}</span>
            </span>
            <form method="post" action="/dashboard/logout" class="inline">
              <input type="hidden" name="csrf" value={props.csrf} />
              <button type="submit" class="secondary">
                Sign out
              </button>
            </form>
          </div>
        </header>
        <main id="main" tabindex={-1}>
          <h1>{props.title}</h1>
          <p id="live-status" role="status" aria-live="polite" class="skip"></p>
          {props.children}
        </main>
        {props.verify ? <script src="/dashboard/assets/nacl-fast.min.js" defer></script> : null}
        <script src="/dashboard/assets/app.js" defer></script>
      </body>
    </html>
  );
}

/** The sign-in form; `csrf` is the value of the pre-session cookie. */
export function LoginPage(props: { csrf: string; error?: string }) {
  return (
    <html lang="en">
      <Head title="Sign in" />
      <body>
        <main id="main" class="login">
          <h1>Sign in</h1>
          <p>
            Sign in with your API key. The key is exchanged for a session and is not stored in the browser.
          </p>
          {props.error ? (
            <p class="error" role="alert">
              {props.error}
            </p>
          ) : null}
          <form method="post" action="/dashboard/login">
            <input type="hidden" name="csrf" value={props.csrf} />
            <div class="field">
              <label for="api_key">API key</label>
              <input
                id="api_key"
                name="api_key"
                type="password"
                autocomplete="off"
                required
                spellcheck={false}
                aria-describedby="key-help"
              />
              <p id="key-help">It starts with msp_key_.</p>
            </div>
            <button type="submit">Sign in</button>
          </form>
        </main>
      </body>
    </html>
  );
}

/** An error page; signed-in errors keep the frame when a principal is known. */
export function ErrorPage(props: { status: number; message: string; principal?: Principal; csrf?: string }) {
  const body = (
    <div>
      <p class="error" role="alert">
        {props.message}
      </p>
      <p>
        <a href="/dashboard/fleet">Back to the fleet</a>
      </p>
    </div>
  );
  if (props.principal && props.csrf) {
    return (
      <Page title={`Error ${props.status}`} principal={props.principal} csrf={props.csrf} section="fleet">
        {body}
      </Page>
    );
  }
  return (
    <html lang="en">
      <Head title={`Error ${props.status}`} />
      <body>
        <main id="main">
          <h1>Error {props.status}</h1>
          {body}
        </main>
      </body>
    </html>
  );
}
