/**
 * The packet as one self-contained HTML page (inline CSS, the heatmap as
 * inline SVG, no external resources), drawing the same blocks of
 * {@link packetDocument} as the Markdown and escaping for HTML. It is also
 * the input of the PDF.
 */
import type { PacketContent } from "./content.js";
import { type Block, type Cell, headingText, packetDocument, STATUS_LABEL, type Table } from "./document.js";
import type { ControlPosture } from "./posture.js";

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
/** Escapes text for HTML content and attribute values. */
export const esc = (v: unknown) => String(v ?? "").replace(/[&<>"']/g, (c) => ESC[c] ?? c);

const COLOR = { pass: "#2e7d32", fail: "#c62828", not_covered: "#9e9e9e" } as const;
const DIGEST = /^[0-9a-f]{64}$/;

function table(t: Table): string {
  const th = t.headers.map((h) => `<th>${esc(h)}</th>`).join("");
  const td = (c: Cell) =>
    t.digests && DIGEST.test(String(c)) ? `<td class="hash">${esc(c)}</td>` : `<td>${esc(c)}</td>`;
  const body = t.rows.map((r) => `<tr>${r.map(td).join("")}</tr>`).join("\n");
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
      `<text x="6" y="${y + 15}" fill="#fff" font-size="12">${esc(STATUS_LABEL[c.status])}</text>`,
      `<text x="160" y="${y + 15}" font-size="12">${esc(c.citation)}</text>`,
      `<text x="300" y="${y + 15}" font-size="12">${esc(c.title.slice(0, 52))}</text>`,
      `<text x="${width - 6}" y="${y + 15}" font-size="11" text-anchor="end">${checks.pass} pass / ${checks.fail} fail</text>`,
    ].join("");
  });
  const height = controls.length * rowH;
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Control posture heatmap" width="100%" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">${rows.join("\n")}</svg>`;
}

function block(b: Block): string {
  switch (b.kind) {
    case "heading":
      return `<h2>${esc(headingText(b))}</h2>`;
    case "paragraph":
      return `<p>${esc(b.text)}</p>`;
    case "not_covered":
      return `<p class="nc">${esc(b.text)}</p>`;
    case "table":
      return table(b.table);
    case "heatmap":
      return `${heatmapSvg(b.controls)}\n${table(b.table)}`;
  }
}

const CSS = `
body { font-family: sans-serif; font-size: 11px; color: #222; margin: 24px; }
h1 { font-size: 20px; } h2 { font-size: 15px; margin-top: 22px; border-bottom: 1px solid #ccc; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { border: 1px solid #ccc; padding: 2px 4px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
th { background: #f0f0f0; } .nc { color: #555; font-style: italic; }
.hash { font-family: monospace; font-size: 8px; white-space: nowrap; word-break: normal; }
`;

/** Renders the packet as a self-contained HTML document. */
export function renderHtml(p: PacketContent): string {
  const doc = packetDocument(p);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(doc.title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(doc.title)}</h1>
${doc.blocks.map(block).join("\n")}
</body></html>
`;
}
