/**
 * HTML to PDF through the system's headless Chromium (Debian `chromium`),
 * driven by playwright-core. No browser build is ever downloaded: the
 * executable must exist, or rendering fails with a typed error naming it
 * (the Markdown and HTML of a packet do not depend on this step).
 *
 * Each render uses a fresh temporary profile and a browser with networking
 * features (sync, component updates, background fetches) switched off; the
 * page is set from a string and loads nothing, since the HTML is
 * self-contained.
 */
import { access, constants, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MspError } from "@msp/shared";

/** Where Debian installs Chromium. */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-crash-reporter",
];

/** Options of {@link renderPdf}. */
export interface PdfOptions {
  /** Chromium executable; default {@link DEFAULT_CHROMIUM}. */
  executablePath?: string;
  /** Upper bound for launch and rendering, ms; default 60 s. */
  timeoutMs?: number;
}

/**
 * Renders a self-contained HTML document to an A4 PDF. Throws `unavailable`
 * (not retryable) naming the executable when Chromium is missing, `timeout`
 * when rendering takes longer than allowed.
 */
export async function renderPdf(html: string, options: PdfOptions = {}): Promise<Buffer> {
  const executablePath = options.executablePath ?? DEFAULT_CHROMIUM;
  const timeout = options.timeoutMs ?? 60_000;
  try {
    await access(executablePath, constants.X_OK);
  } catch (e) {
    throw new MspError(
      "unavailable",
      `cannot render the PDF: Chromium executable ${executablePath} not found`,
      {
        cause: e,
        retryable: false,
        details: { executable: executablePath },
      },
    );
  }
  const profile = await mkdtemp(join(tmpdir(), "msp-packet-chromium-"));
  try {
    // Loaded here, not at startup: every msp-cp command would otherwise pay ~1.7 s for it.
    const { chromium } = await import("playwright-core");
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      // Chromium writes crash reports and dconf caches under HOME: keep them in the throwaway profile.
      env: { ...process.env, HOME: profile },
      headless: true,
      args: ARGS,
      timeout,
      offline: true,
    });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(timeout);
      await page.setContent(html, { waitUntil: "load" });
      return await page.pdf({
        format: "A4",
        printBackground: true,
        margin: { top: "12mm", bottom: "12mm", left: "10mm", right: "10mm" },
      });
    } finally {
      await context.close();
    }
  } catch (e) {
    if (e instanceof MspError) throw e;
    const timedOut = e instanceof Error && e.name === "TimeoutError";
    throw new MspError(timedOut ? "timeout" : "internal", `PDF rendering failed: ${String(e)}`, { cause: e });
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
