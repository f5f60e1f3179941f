/**
 * The packet as Markdown: draws the blocks of {@link packetDocument} (the ten
 * sections in a fixed order, a "not covered" sentence where a section has no
 * evidence) and escapes table cells for Markdown. What the packet says is
 * decided in document.ts, not here.
 */
import type { PacketContent } from "./content.js";
import { type Block, type Cell, headingText, packetDocument, type Table } from "./document.js";

export { SECTION_TITLES } from "./document.js";

/** Escapes a table cell: a pipe would end the cell, a newline the row. */
const cell = (v: Cell) =>
  String(v ?? "")
    .replaceAll("|", "\\|")
    .replaceAll("\n", " ");

function table(t: Table): string {
  return [
    `| ${t.headers.join(" | ")} |`,
    `| ${t.headers.map(() => "---").join(" | ")} |`,
    ...t.rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

function block(b: Block): string {
  switch (b.kind) {
    case "heading":
      return `## ${headingText(b)}`;
    case "paragraph":
    case "not_covered":
      return b.text;
    case "table":
      return table(b.table);
    case "heatmap":
      // Markdown has no chart: the heatmap is its table.
      return table(b.table);
  }
}

/** Renders the packet as Markdown. */
export function renderMarkdown(p: PacketContent): string {
  const doc = packetDocument(p);
  return [`# ${doc.title}`, "", ...doc.blocks.flatMap((b) => [block(b), ""])].join("\n");
}
