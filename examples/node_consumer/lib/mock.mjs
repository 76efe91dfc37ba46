// Reaching humanloop-mock from Node: where it runs, and its /__admin API (plain HTTP and JSON, so any
// language can do the same with its own HTTP client).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const BANNER_URL = /at (http:\/\/127\.0\.0\.1:\d+\/v4)/;

// The mock's base URL (what the SDK takes as `basePath`): HUMANLOOP_MOCK_URL if set, else a server of
// our own, `humanloop-mock serve --isolate-keys --port 0` (HUMANLOOP_MOCK_COMMAND names another binary).
export async function startOrFindMock() {
  if (process.env.HUMANLOOP_MOCK_URL) {
    return { url: process.env.HUMANLOOP_MOCK_URL.replace(/\/$/, ""), stop: async () => {} };
  }
  const command = process.env.HUMANLOOP_MOCK_COMMAND || "humanloop-mock";
  const child = spawn(command, ["serve", "--isolate-keys", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise((resolve, reject) => {
    child.once("error", (error) => reject(["ENOENT", "EACCES"].includes(error.code) ? notFound(command) : error));
    child.once("exit", (code) => reject(new Error(`${command} exited (${code}) before it printed its URL`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const found = BANNER_URL.exec(line);
      if (found) resolve(found[1]);
    });
  });
  return { url, stop: async () => { child.kill(); } };
}

// What to do when the server's command is not there (spawn's own error says only `spawn ... ENOENT`).
function notFound(command) {
  const which = process.env.HUMANLOOP_MOCK_COMMAND
    ? `HUMANLOOP_MOCK_COMMAND names \`${command}\`, which does not exist or cannot be run`
    : "`humanloop-mock` is not on PATH";
  return new Error(`Cannot start humanloop-mock: ${which}. Either install it (from a checkout: ` +
    "`pip install /path/to/humanloop-mock`, then put the environment's bin folder on PATH, e.g. `source .venv/bin/activate`), " +
    "or set HUMANLOOP_MOCK_COMMAND to the full path of its `humanloop-mock` command, " +
    "or start a server yourself (`humanloop-mock serve --isolate-keys --port 8000`) and set " +
    "HUMANLOOP_MOCK_URL=http://127.0.0.1:8000/v4.");
}

// The /__admin API of one tenant: with `serve --isolate-keys`, everything here acts on the world of
// `apiKey` only, so tests (and CI jobs) that use different keys never see each other.
export class MockAdmin {
  constructor(baseUrl, apiKey) {
    this.root = new URL("/__admin/", baseUrl);
    this.apiKey = apiKey;
  }

  async call(method, path, body) {
    const headers = { "X-API-KEY": this.apiKey };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(new URL(path, this.root), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  async expect(status, method, path, body) {
    const answer = await this.call(method, path, body);
    if (answer.status !== status) {
      throw new Error(`${method} ${path}: expected ${status}, got ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }

  script(spec) { return this.expect(201, "POST", "scripts", spec); }
  fault(spec) { return this.expect(201, "POST", "faults", spec); }
  scripts() { return this.expect(200, "GET", "scripts"); }
  faults() { return this.expect(200, "GET", "faults"); }
  unused() { return this.expect(200, "GET", "unused"); }
  reset() { return this.expect(200, "POST", "reset"); }

  // `{total, requests}`, oldest first; filters as in GET /__admin/requests (experiment_id, path, status,
  // since, limit, chat, message, ...).
  requests(filters = {}) {
    const query = new URLSearchParams(Object.entries(filters).map(([k, v]) => [k, String(v)]));
    return this.expect(200, "GET", `requests?${query}`);
  }
}
