// The official npm client (humanloop@0.5.36) against answers served by tests/checker/client_evidence.py.
// Reads a JSON list of calls from the file named on the command line, makes each one, and prints one JSON
// list of outcomes: what the caller got (samples, by index), the error it raised, or that it hung.
import { readFileSync } from "node:fs";

import { Humanloop } from "humanloop";

const MESSAGES = [{ role: "user", content: "hi" }];

function hung(ms) {
  return new Promise((resolve) => setTimeout(() => resolve({ result: "hung" }), ms));
}

function collect(samples, item) {
  if (item === null || typeof item !== "object") return;
  const key = JSON.stringify(item.index === undefined ? null : item.index);
  const piece = item.output === undefined ? null : item.output;
  samples[key] = key in samples && typeof samples[key] === "string" && typeof piece === "string"
    ? samples[key] + piece : (key in samples ? samples[key] : piece);
}

async function call(spec) {
  const client = new Humanloop({ apiKey: spec.key, basePath: spec.url });
  const samples = {};
  if (spec.mode === "json") {
    const reply = await client.chatExperiment({ experiment_id: "exp_demo", messages: MESSAGES, num_samples: 2 });
    for (const item of (reply.data && Array.isArray(reply.data.data) ? reply.data.data : [])) collect(samples, item);
    return { result: "returned", samples };
  }
  if (spec.mode === "stream") {
    const reply = await client.chatExperimentStream({ experiment_id: "exp_demo", messages: MESSAGES, num_samples: 2,
                                                      stream: true });
    const decoder = new TextDecoder();
    for (const reader = reply.data.getReader(); ;) {
      const { done, value } = await reader.read();
      if (done) break;
      collect(samples, JSON.parse(decoder.decode(value)));
    }
    return { result: "returned", samples };
  }
  if (spec.mode === "delete") {
    await client.experiments.delete({ experimentId: "exp_x" });
    return { result: "returned", samples };
  }
  await client.experiments.sample({ experimentId: "exp_x" });
  return { result: "returned", samples };
}

const specs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const outcomes = [];
for (const spec of specs) {
  let outcome;
  try {
    outcome = await Promise.race([call(spec), hung(spec.timeout_ms)]);
  } catch (error) {
    const status = error && error.response ? error.response.status : (error && error.status);
    outcome = { result: "raised", error: `${error && error.name}: ${String(error && error.message).slice(0, 200)}`,
                api_error: typeof status === "number", status: typeof status === "number" ? status : null };
  }
  outcomes.push({ id: spec.id, client: `npm-${spec.mode}`, ...outcome });
}
process.stdout.write(JSON.stringify(outcomes));
process.exit(0);
