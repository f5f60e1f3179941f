/**
 * The dashboard's stylesheet (served as /dashboard/assets/style.css). Colours
 * meet WCAG AA contrast on white; every status is also written as text, so
 * colour is never the only signal. One breakpoint turns the navigation into
 * a wrapping row and lets wide tables scroll inside their own box on phones.
 */
export const STYLE_CSS = `
:root { --fg: #1a1a1a; --muted: #4a4a4a; --line: #c8c8c8; --bg: #fff; --accent: #0b4f8a;
  --pass: #0a6b2d; --pass-bg: #dff3e4; --fail: #a00f0f; --fail-bg: #fbe3e3; --none: #4a4a4a; --none-bg: #ececec; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 8px; z-index: 10; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px; padding: 8px 16px; border-bottom: 1px solid var(--line); }
header.top nav ul { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; margin: 0; padding: 0; }
header.top nav a[aria-current="page"] { font-weight: 700; text-decoration: none; border-bottom: 3px solid var(--accent); }
.who { margin-left: auto; display: flex; gap: 12px; align-items: center; color: var(--muted); font-size: 14px; }
main { padding: 16px; max-width: 1400px; }
h1 { font-size: 24px; margin: 8px 0 16px; }
h2 { font-size: 19px; margin: 24px 0 8px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: #f4f4f4; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: end; margin-bottom: 12px; }
form.filters label, .field label { display: block; font-size: 14px; color: var(--muted); }
input, select, button { font: inherit; padding: 6px 8px; border: 1px solid #767676; border-radius: 4px; background: #fff; color: var(--fg); }
button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--fail); border-color: var(--fail); }
.inline { display: inline; }
[data-state="online"], [data-verdict="valid"], .pass { color: var(--pass); font-weight: 600; }
[data-state="offline"], [data-state="revoked"], [data-verdict="invalid"], [data-verdict="error"], .fail { color: var(--fail); font-weight: 600; }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 13px; margin: 1px; }
.badge.pass { background: var(--pass-bg); } .badge.fail { background: var(--fail-bg); }
.badge.none { background: var(--none-bg); color: var(--none); }
.heatmap { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 6px; list-style: none; padding: 0; }
.heatmap a { display: block; padding: 8px; border-radius: 4px; text-decoration: none; min-height: 72px; border: 1px solid var(--line); }
.heatmap a.pass { background: var(--pass-bg); color: var(--pass); }
.heatmap a.fail { background: var(--fail-bg); color: var(--fail); }
.heatmap a.not_covered { background: var(--none-bg); color: var(--none); font-weight: 400; }
.heatmap .cite { display: block; font-weight: 700; font-size: 14px; }
.heatmap .title { display: block; font-size: 13px; color: var(--fg); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; padding: 8px; border-radius: 4px; font-size: 13px; max-height: 320px; overflow: auto; }
.verdicts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 12px; }
.error { border-left: 4px solid var(--fail); padding: 8px 12px; background: var(--fail-bg); }
.login { max-width: 420px; margin: 48px auto; }
.login input { width: 100%; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; overflow-wrap: anywhere; }
.actions form { display: inline-block; margin: 2px 4px 2px 0; }
.pager ul { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; margin: 8px 0; padding: 0; }
.pager [aria-disabled="true"] { color: var(--muted); }
.pager li[aria-current="page"] { font-weight: 600; }
@media (max-width: 700px) {
  main { padding: 8px; }
  .who { margin-left: 0; }
  .verdicts { grid-template-columns: 1fr; }
  table { font-size: 13px; }
  .hide-narrow { display: none; }
}
`;
