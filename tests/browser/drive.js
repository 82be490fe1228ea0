// Drives a headless Chromium for tests/integration/browser.rs, one command at a time.
//
// The Rust test owns the servers (it kills and restarts them); this script owns the browser.
// Each line on stdin is a JSON command; each gets exactly one JSON line on stdout in reply,
// {"ok":true,...} or {"ok":false,"error":"..."}. Diagnostics go to stderr.
//
// Usage: node drive.js   (CHROMIUM overrides /usr/bin/chromium)
"use strict";

const { chromium } = require("playwright-core");
const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const readline = require("readline");

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

// Installed before any script of the page runs: records every value the page shows in #seq and
// every state it shows, so that a repeat or a gap cannot hide between two polls.
function observe() {
  // Each chart's id, its width on screen, and how many of its pixels are in its series' colour
  // (its baseline is grey): a chart with nothing drawn has none.
  window.__charts = () => [...document.querySelectorAll("#charts canvas")].map((canvas) => {
    const [r, g, b] = canvas.dataset.color.match(/[0-9a-f]{2}/gi).map((hex) => parseInt(hex, 16));
    const near = (x, y) => Math.abs(x - y) < 24;
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width || 1, canvas.height || 1);
    let painted = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && near(data[i], r) && near(data[i + 1], g) && near(data[i + 2], b)) painted++;
    }
    return { id: canvas.id, width: canvas.clientWidth, painted };
  });
  window.__seen = [];
  window.__states = [];
  document.addEventListener("DOMContentLoaded", () => {
    const seq = document.getElementById("seq");
    const state = document.getElementById("state");
    if (!seq || !state) return;
    window.__states.push(state.dataset.state);
    // One record per change: changes made in one task reach the callback together.
    new MutationObserver((records) => records.forEach((record) => {
      if (record.type === "characterData") window.__seen.push(record.target.data);
      record.addedNodes.forEach((node) => window.__seen.push(node.textContent));
    }))
      .observe(seq, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => window.__states.push(state.dataset.state))
      .observe(state, { attributes: true, attributeFilter: ["data-state"] });
  });
}

// A page from another site that tries to open a WebSocket to `target` and reports how it went.
function foreignPage(target) {
  return `<!doctype html><title>elsewhere</title><script>
    window.__result = new Promise((done) => {
      const ws = new WebSocket(${JSON.stringify(target)}, "prodcon.v1");
      ws.onopen = () => { done({ opened: true }); ws.close(); };
      ws.onclose = (e) => done({ opened: false, code: e.code });
    });
  </script>`;
}

let context, dataDir, page, foreign, sockets = [];

const commands = {
  // Opens `url` in the one page the tests watch, at a phone or desktop size.
  async open({ url, width = 900, height = 700 }) {
    page = await context.newPage();
    await page.setViewportSize({ width, height });
    page.on("console", (m) => console.error(`page console: ${m.text()}`));
    // Every WebSocket the page opens, as the browser asked for it (with its ?from=).
    sockets = [];
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await page.addInitScript(observe);
    await page.goto(url);
    return {};
  },

  // Waits until the page shows a sequence number of at least `atLeast`.
  async waitSeq({ atLeast, timeoutMs }) {
    await page.waitForFunction(
      (n) => Number(document.getElementById("seq").textContent) >= n, atLeast,
      { timeout: timeoutMs, polling: 20 });
    return { seq: Number(await page.textContent("#seq")) };
  },

  // Waits until the page shows connection state `state`.
  async waitState({ state, timeoutMs }) {
    await page.waitForFunction(
      (s) => document.getElementById("state").dataset.state === s, state,
      { timeout: timeoutMs, polling: 20 });
    return {};
  },

  // Everything the page has shown: every seq in order, every state, and the figures now; and
  // the URL of every WebSocket it opened.
  async observed() {
    return page.evaluate(() => ({
      seen: window.__seen,
      states: window.__states,
      rate: document.getElementById("rate").textContent,
      latency: document.getElementById("latency").textContent,
      data: document.getElementById("data").textContent,
      lost: document.getElementById("lost-box").hidden ? null : document.getElementById("lost").textContent,
      log: [...document.querySelectorAll("#log li")].map((li) => li.textContent),
    })).then((shown) => ({ ...shown, sockets }));
  },

  // Waits until every chart shows data, then reports each (see `__charts` in `observe`), and
  // whether the page is wider than the window (a phone would scroll sideways).
  async waitCharts({ timeoutMs }) {
    await page.waitForFunction(() => window.__charts().every((chart) => chart.painted > 0), null,
      { timeout: timeoutMs, polling: 50 });
    return page.evaluate(() => ({
      charts: window.__charts(),
      overflows: document.documentElement.scrollWidth > window.innerWidth,
    }));
  },

  // Hands `frames` (texts) to the page as if the server had sent them, for the cases a live
  // server does not produce on demand (repeats, lost ranges).
  async inject({ frames }) {
    await page.evaluate((texts) => texts.forEach((text) => receive(text)), frames);
    return {};
  },

  async screenshot({ file }) {
    await page.screenshot({ path: file });
    return {};
  },

  // Serves a page from another origin (this script's own HTTP server on another port) that tries
  // to connect to `target`; reports its origin and whether the WebSocket opened.
  async foreign({ target, timeoutMs }) {
    foreign = http.createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(foreignPage(target));
    });
    await new Promise((ready) => foreign.listen(0, "127.0.0.1", ready));
    const origin = `http://127.0.0.1:${foreign.address().port}`;
    const other = await context.newPage();
    await other.goto(`${origin}/`);
    const result = await other.evaluate(
      (ms) => Promise.race([window.__result, new Promise((_, no) => setTimeout(() => no(new Error("no answer")), ms))]),
      timeoutMs);
    await other.close();
    return { origin, ...result };
  },
};

async function main() {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "prodcon-chromium-"));
  context = await chromium.launchPersistentContext(dataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // The TLS test serves the page with a certificate from an authority the test made, which
    // this profile cannot be told to trust.
    ignoreHTTPSErrors: true,
    args: ARGS,
  });
  reply({ ok: true, ready: true });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    if (command.cmd === "quit") break;
    try {
      const run = commands[command.cmd];
      if (!run) throw new Error(`unknown command ${command.cmd}`);
      reply({ ok: true, ...(await run(command)) });
    } catch (error) {
      reply({ ok: false, error: String(error.message || error).split("\n")[0] });
    }
  }
}

function reply(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

async function cleanUp() {
  if (foreign) foreign.close();
  if (context) await context.close().catch(() => {});
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}

main()
  .catch((error) => {
    console.error(`drive.js: ${error.message || error}`);
    reply({ ok: false, error: String(error.message || error).split("\n")[0] });
    process.exitCode = 1;
  })
  // Stdin may still be open: exit rather than wait for it to close.
  .finally(() => cleanUp().finally(() => process.exit()));
