// Writes the wrk Lua script for one benchmark scenario, with signatures made
// by the svix npm package (the same signer Clerk's infrastructure uses).
//
//   node make-wrk-script.js verified  SECRET SIGNING_SECRET OUT.lua
//   node make-wrk-script.js rejected  SECRET OTHER_SECRET   OUT.lua
//   node make-wrk-script.js deleted   SECRET SIGNING_SECRET OUT.lua COUNT PREFIX
//
// verified/rejected: one request replayed (timestamp = now, valid for 5 min):
// a Clerk event type that needs no database work, so only verification and
// parsing are measured; "rejected" signs with another secret (401).
// deleted: COUNT distinct user.deleted deliveries (msg_PREFIX_i for
// user_PREFIX_i), spread over wrk's threads; each is processed once.
"use strict";

const fs = require("fs");
const { Webhook } = require("svix");

const [mode, , signingSecret, out, countArg, prefix] = process.argv.slice(2);
const signer = new Webhook(signingSecret);
const now = new Date();
const ts = Math.floor(now.getTime() / 1000);
const lua = (s) => JSON.stringify(s); // JSON string literals are valid Lua strings here (ASCII only)

if (mode === "verified" || mode === "rejected") {
  const body = JSON.stringify({
    data: { id: "sess_2bench", object: "session", status: "active", user_id: "user_2bench" },
    object: "event",
    type: "session.created",
  });
  const id = "msg_bench_fixed";
  const sig = signer.sign(id, now, body);
  fs.writeFileSync(
    out,
    `wrk.method = "POST"
wrk.body = ${lua(body)}
wrk.headers["content-type"] = "application/json"
wrk.headers["svix-id"] = ${lua(id)}
wrk.headers["svix-timestamp"] = "${ts}"
wrk.headers["svix-signature"] = ${lua(sig)}
`,
  );
} else if (mode === "deleted") {
  const count = Number(countArg);
  const lines = [];
  for (let i = 1; i <= count; i++) {
    const body = `{"data":{"deleted":true,"id":"user_${prefix}_${i}","object":"user"},"object":"event","type":"user.deleted"}`;
    lines.push(signer.sign(`msg_${prefix}_${i}`, now, body));
  }
  // LuaJIT caps the constants of one chunk, so the signatures live in a file read at start.
  fs.writeFileSync(`${out}.sigs`, lines.join("\n") + "\n");
  fs.writeFileSync(
    out,
    `local count = ${count}
local counter = 0
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
local next_tid = 0
local sigs = {}
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end
function init(args)
  for line in io.lines(${lua(out + ".sigs")}) do
    sigs[#sigs + 1] = line
  end
end
function request()
  local i = tid + 1 + counter * nthreads
  counter = counter + 1
  if i > count then
    wrk.thread:stop()
    i = count
  end
  local body = '{"data":{"deleted":true,"id":"user_${prefix}_' .. i .. '","object":"user"},"object":"event","type":"user.deleted"}'
  local headers = {
    ["content-type"] = "application/json",
    ["svix-id"] = "msg_${prefix}_" .. i,
    ["svix-timestamp"] = "${ts}",
    ["svix-signature"] = sigs[i],
  }
  return wrk.format("POST", nil, headers, body)
end
`,
  );
} else {
  console.error("usage: make-wrk-script.js verified|rejected|deleted SECRET SIGNING_SECRET OUT [COUNT PREFIX]");
  process.exit(2);
}
