// The site and the console driven in headless Chromium (Debian's), as a customer and an operator
// use them. Started by the e2e test `site_browser` against a running network; every check
// throws, so any failure exits non-zero with the step that failed.
//
// Environment: MAIN (main's URL), EDGE (the edge the browser is sent to), ADMIN_TOKEN, ITEM (an
// item with a poster and a clip), SHOTS (where screenshots go), CHROMIUM (default
// /usr/bin/chromium).

import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const MAIN = env("MAIN");
const EDGE = env("EDGE");
const ADMIN_TOKEN = env("ADMIN_TOKEN");
const ITEM = env("ITEM");
const SHOTS = env("SHOTS");
mkdirSync(SHOTS, { recursive: true });

const OK_CARD = "4242 4242 4242 4242";
const DECLINED_CARD = "4000 0000 0000 0002";
const EMAIL = `viewer-${Date.now()}@example.com`;

let step = "starting";
const check = (ok, what) => {
  if (!ok) throw new Error(`${step}: ${what}`);
};
const log = (line) => console.log(`[site] ${line}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});

/// Pages of a context report Content-Security-Policy violations and script errors here.
const problems = [];
function watch(page) {
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) {
      problems.push(`${page.url()}: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
  return page;
}

/// axe-core's WCAG 2.1 A and AA rules on the page as it is; any violation fails.
async function accessible(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }),
  );
  const found = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
  check(found.length === 0, `accessibility of ${name}:\n  ${found.join("\n  ")}`);
  log(`${name}: no axe violations (${result.passes.length} rules passed)`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/// Plays the page's `<video>` until a fifth of a second has played; the URL it played.
async function plays(page, selector) {
  return page.evaluate(async (selector) => {
    const v = document.querySelector(selector);
    v.muted = true;
    await v.play();
    const started = Date.now();
    while (v.currentTime < 0.2) {
      if (Date.now() - started > 15000) throw new Error(`${selector} did not play (readyState ${v.readyState}, error ${v.error && v.error.message})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    v.pause();
    return { src: v.currentSrc, width: v.videoWidth };
  }, selector);
}

try {
  // ---- A customer --------------------------------------------------------------------------
  const customer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await customer.grantPermissions(["clipboard-read", "clipboard-write"], { origin: MAIN });
  const page = watch(await customer.newPage());

  step = "home";
  await page.goto(MAIN + "/");
  check((await page.title()).includes("Home"), "the home page's title");
  check(await page.getByRole("heading", { name: "Featured" }).isVisible(), "promotions shown");
  await accessible(page, "home");
  await shot(page, "home");

  step = "register";
  await page.getByRole("link", { name: "Register" }).click();
  await page.getByLabel("Email", { exact: true }).fill(EMAIL);
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery");
  await accessible(page, "register");
  await page.getByRole("button", { name: "Create my account" }).click();
  await page.waitForURL(MAIN + "/rentals");
  check(await page.getByText(EMAIL).isVisible(), "logged in after registering");

  step = "search";
  await page.getByLabel("Search titles").fill("buck");
  await page.getByLabel("Search titles").press("Enter");
  await page.waitForURL(/\/search\?q=buck/);
  check(await page.getByText("1 found for").isVisible(), "one match for 'buck'");
  await accessible(page, "search");
  await page.getByRole("link", { name: /Big Buck Bunny/ }).first().click();
  await page.waitForURL(MAIN + "/items/" + ITEM);

  step = "item page";
  const poster = await page.evaluate(() => {
    const img = document.querySelector("img.poster");
    return { src: img.currentSrc, width: img.naturalWidth, complete: img.complete };
  });
  check(poster.src.startsWith(EDGE + "/v1/public/"), `the poster comes from the edge (${poster.src})`);
  check(poster.complete && poster.width > 0, "the poster is shown");
  const trailer = await plays(page, "#trailer");
  check(trailer.src.startsWith(EDGE + "/v1/public/"), `the trailer comes from the edge (${trailer.src})`);
  log(`item page: poster and trailer played from ${EDGE}`);
  await accessible(page, "item");
  await shot(page, "item");

  step = "rent with a declined card";
  await page.getByLabel("Card number").fill(DECLINED_CARD);
  await page.getByRole("button", { name: /^Rent for/ }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  check(/declined/i.test(await alert.innerText()), "the decline is explained");
  await accessible(page, "item with a declined card");

  step = "rent";
  await page.getByLabel("Card number").fill(OK_CARD);
  await page.getByRole("button", { name: /^Rent for/ }).click();
  await page.waitForURL(/\/rentals\/rent-/);
  const rentalUrl = page.url();
  check((await page.locator("#uses").innerText()) === "3 of 3", "three downloads left");
  check((await page.locator("#licence-state").innerText()) === "not bound", "licence not bound");

  step = "copy the link and download with curl";
  await page.getByRole("button", { name: "Copy link" }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const shown = await page.locator("#download-url").inputValue();
  check(copied === shown, "the copied link is the one shown");
  check(copied.startsWith(EDGE + "/"), `the download goes to the edge (${copied})`);
  await accessible(page, "rental");
  await shot(page, "rental");
  const out = join(mkdtempSync(join(tmpdir(), "site-download-")), "download.sealed");
  execFileSync("curl", ["-sS", "-f", "-C", "-", "-o", out, copied], { timeout: 120000 });
  const object = await (await fetch(`${MAIN}/v1/catalog/${ITEM}`)).json();
  check(statSync(out).size === object.object_len, `curl fetched ${statSync(out).size} of ${object.object_len} bytes`);
  log(`curl fetched the sealed object, ${object.object_len} bytes`);

  step = "my rentals";
  await page.getByRole("link", { name: "My rentals", exact: true }).click();
  const uses = await page.locator("td.uses").first().innerText();
  check(uses === "2 of 3", `one use spent (${uses})`);
  await accessible(page, "my rentals");
  await shot(page, "rentals");

  step = "a group";
  await page.getByRole("link", { name: "Groups" }).click();
  await accessible(page, "groups");
  await page.getByLabel("Name").fill("Family");
  await page.getByLabel("Card the group's rentals are charged to").fill(OK_CARD);
  await page.getByRole("button", { name: "Create the group" }).click();
  await page.waitForURL(/\/groups\/grp-|\/groups\/[a-z0-9-]+$/);
  await page.getByLabel("Their email").fill("kid@example.com");
  await page.getByLabel("Monthly cap in dollars (empty: none)").last().fill("10");
  await page.getByRole("button", { name: "Invite" }).click();
  check((await page.locator("#invitation-code").innerText()).length > 8, "the invitation code is shown");
  await accessible(page, "group");

  step = "a form without its token";
  const forged = await page.evaluate(async () => {
    const r = await fetch("/logout", { method: "POST", body: new URLSearchParams({ x: "1" }) });
    return r.status;
  });
  check(forged === 403, `a post without the form token is refused (${forged})`);
  check((await page.locator(".who").innerText()) === EMAIL, "and the session stays");

  step = "phone width";
  const phone = watch(await customer.newPage());
  await phone.setViewportSize({ width: 390, height: 844 });
  for (const path of ["/", "/items/" + ITEM, "/rentals"]) {
    await phone.goto(MAIN + path);
    const fits = await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    check(fits, `${path} fits a phone's width`);
  }
  await phone.goto(MAIN + "/items/" + ITEM);
  await shot(phone, "item-phone");

  // ---- The operator ------------------------------------------------------------------------
  const operator = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const op = watch(await operator.newPage());

  step = "console login";
  await op.goto(MAIN + "/admin");
  await op.waitForURL(MAIN + "/admin/login");
  await op.getByLabel("Admin token").fill("not the token");
  await op.getByRole("button", { name: "Open the console" }).click();
  check(await op.getByRole("alert").isVisible(), "a wrong token is refused");
  await op.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await op.getByRole("button", { name: "Open the console" }).click();
  await op.waitForURL(MAIN + "/admin");
  check(await op.locator("#edges").getByText("edge-eu-1").isVisible(), "the edges are listed");
  // The customer's traffic reaches the charts with the edge's next heartbeat (every second here).
  for (let i = 0; i < 20 && (await op.locator("#throughput polyline").count()) === 0; i++) {
    await op.waitForTimeout(500);
    await op.reload();
  }
  check((await op.locator("#throughput polyline").count()) === 1, "the throughput chart shows the traffic");
  check((await op.locator("#hit-ratio polyline").count()) === 1, "the hit-ratio chart shows the traffic");
  const replication = async () => (await op.locator("#parents td.replication").allInnerTexts()).join(" | ");
  check((await replication()).split("in sync").length === 4, `every parent in sync: ${await replication()}`);
  await accessible(op, "console network");
  await shot(op, "console-network");

  step = "record a trailer";
  // A real video (VP8 in WebM), recorded from a canvas by the browser itself.
  const webm = await op.evaluate(async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 180;
    const ctx = canvas.getContext("2d");
    const stream = canvas.captureStream(25);
    const recorder = new MediaRecorder(stream, { mimeType: "video/webm;codecs=vp8" });
    const parts = [];
    recorder.ondataavailable = (e) => parts.push(e.data);
    const done = new Promise((r) => (recorder.onstop = r));
    recorder.start(100);
    const started = performance.now();
    while (performance.now() - started < 1500) {
      const t = (performance.now() - started) / 1500;
      ctx.fillStyle = `hsl(${Math.round(t * 360)}, 60%, 40%)`;
      ctx.fillRect(0, 0, 320, 180);
      ctx.fillStyle = "#fff";
      ctx.font = "32px sans-serif";
      ctx.fillText("Trailer", 20 + t * 150, 100);
      await new Promise((r) => setTimeout(r, 40));
    }
    recorder.stop();
    await done;
    const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  });
  const trailerBytes = Buffer.from(webm, "base64");
  log(`recorded a ${trailerBytes.length}-byte WebM trailer`);

  step = "ingest the trailer from the console";
  async function ingest(fields, file) {
    await op.goto(MAIN + "/admin/ingest");
    await op.locator("#file").setInputFiles(file);
    for (const [label, value] of Object.entries(fields)) {
      if (value === true) await op.getByLabel(label).check();
      else await op.getByLabel(label, { exact: true }).fill(value);
    }
    await op.getByRole("button", { name: "Upload and ingest" }).click();
    await op.locator("#ingest-status").getByText(/Ingested|failed/).waitFor({ timeout: 60000 });
    const status = await op.locator("#ingest-status").innerText();
    check(status.startsWith("Ingested"), `ingest answered: ${status}`);
    check((await op.locator("#ingest-progress").getAttribute("value")) === "100", "the progress bar reached 100");
  }
  await ingest(
    {
      "Id (lower-case letters, digits, -)": "console-trailer",
      Title: "Console trailer",
      "A public object (a poster or trailer, served without a token)": true,
      "Media type of a public object (image/png, video/mp4, …)": "video/webm",
    },
    { name: "trailer.webm", mimeType: "video/webm", buffer: trailerBytes },
  );
  await accessible(op, "console ingest");

  step = "ingest an item from the console";
  const film = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < film.length; i++) film[i] = (i * 31 + 7) & 0xff;
  await ingest(
    {
      "Id (lower-case letters, digits, -)": "console-film",
      Title: "Console Film",
      "Genres (comma-separated)": "documentary",
      "Trailer (id of a public object)": "console-trailer",
      Description: "Ingested from the operator's console.",
    },
    { name: "film.bin", mimeType: "application/octet-stream", buffer: film },
  );
  await shot(op, "console-ingest");

  step = "replicas behind the primary";
  await op.goto(MAIN + "/admin");
  const behind = await replication();
  check(behind.split("behind by").length === 3 && /2 of the \d+ newest missing/.test(behind), `the replicas lack the two new objects: ${behind}`);
  await shot(op, "console-network");

  step = "the console's item appears on the home page";
  await page.goto(MAIN + "/");
  await page.getByRole("link", { name: /Console Film/ }).first().click();
  await page.waitForURL(MAIN + "/items/console-film");
  const played = await plays(page, "#trailer");
  check(played.src.startsWith(EDGE + "/v1/public/console-trailer"), `the new trailer comes from the edge (${played.src})`);
  check(played.width === 320, `the trailer is a 320-pixel video (${played.width})`);
  log("the console's item is on the home page and its trailer plays from the edge");

  step = "catalog and licences in the console";
  await op.goto(MAIN + "/admin/catalog");
  check(await op.getByRole("link", { name: "Console Film" }).isVisible(), "the catalog lists the new item");
  await accessible(op, "console catalog");
  await shot(op, "console-catalog");
  await op.goto(MAIN + "/admin/licences");
  await op.getByLabel("Customer's email").fill(EMAIL);
  await op.getByRole("button", { name: "Look up" }).click();
  await op.getByRole("button", { name: "Revoke licence" }).click();
  await op.waitForURL(/\/admin\/licences\?email=/);
  check(await op.locator("#rentals").getByText("revoked").isVisible(), "the licence shows revoked");
  await accessible(op, "console licences");
  await shot(op, "console-licences");
  await page.goto(rentalUrl);
  check((await page.locator("#licence-state").innerText()) === "revoked", "the customer sees the revocation");

  check(problems.length === 0, `no CSP violations or script errors:\n  ${problems.join("\n  ")}`);
  log("all steps passed");
} catch (e) {
  console.error(`[site] FAILED at ${step}: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
