// A consumer's own tests: the official npm client (humanloop@0.5.36, unmodified) against humanloop-mock,
// with answers scripted, faults injected and the journal read through /__admin.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Humanloop } from "humanloop";

import { MockAdmin, startOrFindMock } from "../lib/mock.mjs";

const QUESTION = [{ role: "user", content: "What is the capital of France?" }];
let mock;
let keys = 0;

before(async () => { mock = await startOrFindMock(); });
after(async () => { await mock.stop(); });

// One tenant per test: its own key, so its scripts, faults and journal are its own; reset when done.
function tenant(t) {
  keys += 1;
  const apiKey = `node-consumer-${process.pid}-${keys}`;
  const admin = new MockAdmin(mock.url, apiKey);
  t.after(() => admin.reset());
  return { admin, client: new Humanloop({ apiKey, basePath: mock.url }) };
}

test("a scripted answer reaches the npm client, and the journal shows what it sent", async (t) => {
  const { admin, client } = tenant(t);
  const script = await admin.script({ name: "capital", match: { message: "capital" }, answer: { output: "Paris." } });

  const reply = await client.chatExperiment({ experiment_id: "exp_demo", messages: QUESTION });

  assert.equal(reply.status, 200);
  assert.equal(reply.data.data[0].output, "Paris.");
  const journal = await admin.requests({ chat: true });
  assert.equal(journal.total, 1);
  const [sent] = journal.requests;
  assert.equal(sent.path, "/v4/chat-experiment");
  assert.deepEqual(sent.body.messages, QUESTION);
  assert.deepEqual(sent.body.provider_api_keys, {});  // what this client always sends
  assert.equal(sent.headers["x-api-key"], "[redacted]");
  assert.equal(sent.samples[0].script, "capital");
  assert.equal(sent.samples[0].model_config_id, reply.data.data[0].model_config_id);
  const [rule] = await admin.scripts();
  assert.deepEqual([rule.id, rule.used, rule.times], [script.id, 1, 1]);
  assert.deepEqual(await admin.unused(), []);
});

test("an injected 429 reaches the client as an error; the next call is answered", async (t) => {
  const { admin, client } = tenant(t);
  await admin.fault({ name: "rate-limited", match: { call: 1 }, status: 429, retry_after: 2 });

  await assert.rejects(
    client.chatExperiment({ experiment_id: "exp_demo", messages: QUESTION }),
    (error) => error.status === 429,
  );
  const reply = await client.chatExperiment({ experiment_id: "exp_demo", messages: QUESTION });

  assert.equal(reply.status, 200);
  assert.equal((await admin.requests()).total, 2);
  const refused = await admin.requests({ status: 429 });
  assert.equal(refused.total, 1);
  assert.deepEqual(refused.requests[0].faults, ["rate-limited"]);
  assert.equal(refused.requests[0].call, 1);
  assert.deepEqual((await admin.faults()).map((f) => f.used), [1]);
});

test("a scripted answer streams through the npm client in the scripted chunks", async (t) => {
  const { admin, client } = tenant(t);
  await admin.script({ match: { message: "capital" }, answer: { output: "Paris, France.", chunks: ["Paris", ", France", "."] } });

  const response = await client.chatExperimentStream({ experiment_id: "exp_demo", messages: QUESTION, stream: true });
  const decoder = new TextDecoder();
  const outputs = [];
  for (const reader = response.data.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    outputs.push(JSON.parse(decoder.decode(value)).output);
  }

  assert.deepEqual(outputs, ["Paris", ", France", "."]);
  const [streamed] = (await admin.requests({ chat: true })).requests;
  assert.equal(streamed.stream_events.length, outputs.length);
  assert.deepEqual(streamed.stream_events.map((event) => JSON.parse(event).data[0].output), outputs);
});

test("the journal filters, and a reset puts everything back", async (t) => {
  const { admin, client } = tenant(t);
  await admin.script({ match: { message: "weather" }, answer: { output: "Sunny." }, times: null });
  for (const content of ["weather today?", "weather tomorrow?", "something else"]) {
    await client.chatExperiment({ experiment_id: "exp_demo", messages: [{ role: "user", content }] });
  }

  assert.equal((await admin.requests({ message: "weather" })).total, 2);
  assert.equal((await admin.requests({ experiment_id: "exp_demo", limit: 1 })).requests.length, 1);
  const other = new MockAdmin(mock.url, `${admin.apiKey}-other`);
  assert.equal((await other.requests()).total, 0);  // another key's world saw none of it

  await admin.reset();
  assert.equal((await admin.requests()).total, 0);
  assert.deepEqual(await admin.scripts(), []);
  const reply = await client.chatExperiment({ experiment_id: "exp_demo", messages: [{ role: "user", content: "weather?" }] });
  assert.notEqual(reply.data.data[0].output, "Sunny.");
});

test("a mistyped script is refused with the config file's words", async (t) => {
  const { admin } = tenant(t);
  const refused = await admin.call("POST", "scripts", { match: { mesage: "capital" }, answer: { output: "x" } });

  assert.equal(refused.status, 422);
  assert.ok(refused.body.detail.some((item) => item.msg.includes("mesage")), JSON.stringify(refused.body));
  assert.deepEqual(await admin.scripts(), []);
});
